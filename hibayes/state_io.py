"""Saving an analysis state to a folder and loading it back, without pickle.

    out/
      data.parquet, processed_data.parquet      the data before and after the processors
      features/                                 features.npz, test_features.npz, coords_dims.json
                                                (hibayes.artifacts' format: the assets' features are the same files)
      models/<model_name>/                      inference_data.nc (NetCDF), model.json, checks.json
      plots/<name>.png   tables/<name>.csv      communicators' and checkers' outputs
      logs.json, display_stats.json

A model saved on its own (`ModelAnalysisState.save`) has the same files as under `models/`, plus
its own `features/`.

A model is stored by its spec (registry name, tag, kwargs, fit settings), not as code: loading
rebuilds the NumPyro callable from the registry, so custom models need their `path:` files
imported first (the CLI does this from the config).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hibayes import artifacts
from hibayes import idata as idata_api
from hibayes.analysis_state import AnalysisState, Coords, Dims, Features, ModelAnalysisState
from hibayes.config import FitConfig, ModelSpec, PlatformConfig

PLOT_DPI = 110


def save_state(state: AnalysisState, out: Path, plots: bool = True, incremental: bool = False) -> Path:
    """Write `state` to `out`. `incremental` (HiBayES's flag) keeps the data, processed data and
    features already written there: they do not change after processing."""
    out.mkdir(parents=True, exist_ok=True)
    if not (incremental and (out / "data.parquet").exists()):
        _write_frame(state.data, out / "data.parquet")
    if state.processed_data is not None and not (incremental and (out / "processed_data.parquet").exists()):
        _write_frame(state.processed_data, out / "processed_data.parquet")
    if not (incremental and (out / "features").exists()):
        _save_features(state.features, state.test_features, state.coords, state.dims, out / "features")
    for model in state.models:
        _save_model(model, out / "models" / model.model_name, plots)
    if plots:
        _save_figures(state.plots, out / "plots")
    for name, table in state.tables.items():
        (out / "tables").mkdir(exist_ok=True)
        table.to_csv(out / "tables" / f"{name}.csv", index=not isinstance(table.index, pd.RangeIndex))
    (out / "logs.json").write_text(json.dumps([{"stage": s, "entry": e} for s, e in state.logs], indent=1))
    if state.display_stats:
        (out / "display_stats.json").write_text(json.dumps(_jsonable(state.display_stats), indent=1))
    return out


def load_state(folder: Path) -> AnalysisState:
    if not (folder / "data.parquet").exists():
        raise FileNotFoundError(f"{folder} holds no saved analysis state (no data.parquet); run `hibayes load` first")
    state = AnalysisState(data=pd.read_parquet(folder / "data.parquet"))
    if (folder / "processed_data.parquet").exists():
        state.processed_data = pd.read_parquet(folder / "processed_data.parquet")
    state.features, state.test_features, state.coords, state.dims = _read_features(folder / "features")
    for model_dir in sorted((folder / "models").glob("*")) if (folder / "models").exists() else []:
        state.models.append(_load_model(model_dir, state.features, state.test_features, state.coords, state.dims))
    for table in sorted((folder / "tables").glob("*.csv")) if (folder / "tables").exists() else []:
        state.tables[table.stem] = pd.read_csv(table)
    if (folder / "logs.json").exists():
        state.logs = [(item["stage"], item["entry"]) for item in json.loads((folder / "logs.json").read_text())]
    if (folder / "display_stats.json").exists():
        state.display_stats = json.loads((folder / "display_stats.json").read_text())
    return state


def save_model_state(model: ModelAnalysisState, folder: Path, plots: bool = True, incremental: bool = False) -> Path:
    """One model on its own: its fit, checks and plots, and its features (`incremental` keeps
    features already written there)."""
    _save_model(model, folder, plots)
    if not (incremental and (folder / "features").exists()):
        _save_features(model.features, model.test_features, model.coords, model.dims, folder / "features")
    return folder


def load_model_state(folder: Path) -> ModelAnalysisState:
    if not (folder / "model.json").exists():
        raise FileNotFoundError(f"{folder} holds no saved model (no model.json)")
    return _load_model(folder, *_read_features(folder / "features"))


def _save_features(features: Features, test_features: Features, coords: Coords, dims: Dims, folder: Path) -> None:
    """In the artifact store's format (`hibayes.artifacts.write_features`), which the assets write too."""
    if features or test_features:
        artifacts.write_features(folder, features, test_features, coords, dims)


def _read_features(folder: Path) -> tuple[Features, Features, Coords, Dims]:
    """Features, test features, coords and dims saved by `_save_features` (all empty when none were)."""
    stored = artifacts.read_features(folder)
    if stored is None:
        return {}, {}, {}, {}
    features, test_features = artifacts.scalars_as_values(stored.features), artifacts.scalars_as_values(stored.test_features)
    return features, test_features, stored.coords, stored.dims


def _save_model(model: ModelAnalysisState, folder: Path, plots: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    spec = model.model_config
    (folder / "model.json").write_text(
        json.dumps(
            {
                "model_name": model.model_name,
                "is_fitted": model.is_fitted,
                "spec": _spec_dict(spec) if isinstance(spec, ModelSpec) else None,
                "platform": dataclasses.asdict(model.platform_config),
            },
            indent=1,
            default=str,
        )
    )
    if model.inference_data is not None:
        idata_api.save(model.inference_data, folder / "inference_data.nc", {"hibayes_model": model.model_name})
    checks = {name: _jsonable(getattr(outcome, "as_dict", lambda o=outcome: o)()) for name, outcome in model.checks.items()}
    diagnostics = {k: _jsonable(v) for k, v in model.diagnostics.items() if _is_plain(v)}
    (folder / "checks.json").write_text(json.dumps({"checks": checks, "diagnostics": diagnostics}, indent=1, default=str))
    if plots:
        _save_figures(model.plots, folder / "plots")


def _load_model(folder: Path, features: Features, test_features: Features, coords: Coords, dims: Dims) -> ModelAnalysisState:
    from hibayes.model import MODELS

    meta = json.loads((folder / "model.json").read_text())
    spec = _spec_from_dict(meta["spec"]) if meta.get("spec") else None
    model_fn = MODELS.build(spec.name, spec.kwargs) if spec else None
    loaded = ModelAnalysisState(meta["model_name"], model_fn, spec, features, coords, dims, test_features=test_features)
    if meta.get("platform"):
        loaded.platform_config = PlatformConfig(**meta["platform"])
    if (folder / "inference_data.nc").exists():
        loaded.inference_data = idata_api.load(folder / "inference_data.nc")
        loaded.is_fitted = bool(meta.get("is_fitted", True))
    if (folder / "checks.json").exists():
        saved = json.loads((folder / "checks.json").read_text())
        loaded.diagnostics.update(saved.get("diagnostics", {}))
        loaded.checks.update(saved.get("checks", {}))
    return loaded


def _spec_dict(spec: ModelSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "tag": spec.tag,
        "kwargs": spec.kwargs,
        "fit": spec.fit.__dict__,
        "main_effect_params": list(spec.main_effect_params),
        "link_function": spec.link_function,
    }


def _spec_from_dict(raw: dict[str, Any]) -> ModelSpec:
    return ModelSpec(
        name=raw["name"],
        tag=raw.get("tag", ""),
        kwargs=raw.get("kwargs", {}),
        fit=FitConfig(**raw.get("fit", {})),
        main_effect_params=tuple(raw.get("main_effect_params", ())),
        link_function=raw.get("link_function", "identity"),
    )


def _save_figures(figures: dict[str, Any], folder: Path) -> None:
    if not figures:
        return
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        fig.savefig(folder / f"{name}.png", dpi=PLOT_DPI, bbox_inches="tight")
        plt.close(fig)


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    frame = frame.copy()
    frame.attrs = {}  # attrs may hold non-serialisable reports; parquet keeps only the table
    frame.to_parquet(path, index=False)


def _is_plain(value: Any) -> bool:
    return isinstance(value, (int, float, str, bool, list, tuple, dict, np.ndarray, np.generic)) or value is None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)
