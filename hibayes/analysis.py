"""The analysis stages as plain functions over `AnalysisState`, for Dagster assets, the CLI and
notebooks alike: process -> fit -> check -> communicate, with features and fits stored as files
(NumPy .npz + JSON, and NetCDF), never pickle."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hibayes import idata as idata_api
from hibayes.analysis_state import AnalysisState, ModelAnalysisState
from hibayes.check import CheckOutcome, run_checker
from hibayes.communicate import COMMUNICATORS
from hibayes.config import AnalysisConfig, ModelSpec, stable_hash
from hibayes.model import MODELS, fit_spec
from hibayes.process import run_processors

FIT_FORMAT_VERSION = "1"


def process_data(config: AnalysisConfig, data: pd.DataFrame, display: Any = None) -> AnalysisState:
    return run_processors(AnalysisState(data=data), config.processors, display)


@dataclass(frozen=True)
class StoredFeatures:
    features: dict[str, Any]
    coords: dict[str, list[Any]]
    dims: dict[str, list[str]]
    digest: str


def save_features(state: AnalysisState, folder: Path) -> StoredFeatures:
    """Write features (npz), coords/dims (JSON) and the processed table (parquet) to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in state.features.items()}
    np.savez(folder / "features.npz", **arrays)
    meta = {"coords": _jsonable(state.coords), "dims": state.dims}
    (folder / "coords_dims.json").write_text(json.dumps(meta, indent=1))
    state.processed_data.to_parquet(folder / "processed_data.parquet", index=False)
    return load_features(folder)


def load_features(folder: Path) -> StoredFeatures:
    with np.load(folder / "features.npz") as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads((folder / "coords_dims.json").read_text())
    digest = stable_hash({k: _array_digest(v) for k, v in sorted(arrays.items())} | {"meta": meta})
    features = {k: (int(v) if v.ndim == 0 and np.issubdtype(v.dtype, np.integer) else v) for k, v in arrays.items()}
    return StoredFeatures(features, meta["coords"], meta["dims"], digest)


def fit_input_hash(spec: ModelSpec, features: StoredFeatures) -> str:
    """What a fit depends on: the data, the model spec (priors, fit settings) and library versions."""
    import jax
    import numpyro

    return stable_hash(
        {
            "features": features.digest,
            "model": spec.digest(),
            "numpyro": numpyro.__version__,
            "jax": jax.__version__,
            "format": FIT_FORMAT_VERSION,
        }
    )


@dataclass
class FitOutcome:
    model_state: ModelAnalysisState
    path: Path
    input_hash: str
    reused: bool
    seconds: float
    chain_method: str


def fit_or_reuse(
    spec: ModelSpec, features: StoredFeatures, path: Path, chain_method: str = "parallel", force: bool = False
) -> FitOutcome:
    """Fit the model unless `path` already holds a fit of the same inputs (same hash)."""
    input_hash = fit_input_hash(spec, features)
    model_fn = MODELS.build(spec.name, spec.kwargs)
    state = ModelAnalysisState(spec.model_name, model_fn, spec, _as_jax(features.features), features.coords, features.dims)
    if not force and path.exists():
        stored = idata_api.load(path)
        if idata_api.attrs(stored).get("hibayes_input_hash") == input_hash:
            state.inference_data, state.is_fitted = stored, True
            return FitOutcome(state, path, input_hash, True, 0.0, idata_api.attrs(stored).get("hibayes_chain_method", ""))
    result = fit_spec(spec, state.features, features.coords, features.dims, chain_method)
    attrs = {
        "hibayes_input_hash": input_hash,
        "hibayes_model": spec.model_name,
        "hibayes_model_spec": json.dumps({"name": spec.name, "tag": spec.tag, "kwargs": spec.kwargs, "fit": spec.fit.__dict__}, default=str),
        "hibayes_chain_method": result.chain_method,
        "hibayes_fit_seconds": f"{result.seconds:.2f}",
    }
    idata_api.save(result.inference_data, path, attrs)
    state.inference_data, state.is_fitted = result.inference_data, True
    return FitOutcome(state, path, input_hash, False, result.seconds, result.chain_method)


def model_checks(config: AnalysisConfig, model_state: ModelAnalysisState, names: list[str] | None = None) -> list[CheckOutcome]:
    """Run the config's checkers (or just `names`, with the config's kwargs when it sets them)."""
    wanted = names or [name for name, _ in config.checkers]
    return [run_checker(name, config.checker_kwargs(name), model_state) for name in wanted]


def communicate(config: AnalysisConfig, state: AnalysisState, display: Any = None) -> dict[str, str]:
    results = {}
    for name, kwargs in config.communicators:
        try:
            state, status = COMMUNICATORS.build(name, kwargs)(state, display)
        except Exception as err:
            status = "error"
            state.add_log(f"communicator '{name}' failed: {type(err).__name__}: {err}", "communicate")
        results[name] = status
    return results


def _as_jax(features: dict[str, Any]) -> dict[str, Any]:
    import jax.numpy as jnp

    return {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in features.items()}


def _array_digest(array: np.ndarray) -> str:
    return f"{array.dtype}{array.shape}" + hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _jsonable(coords: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {k: [v.item() if hasattr(v, "item") else v for v in values] for k, values in coords.items()}
