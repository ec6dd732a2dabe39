"""Every ArviZ call of the project, so that moving to ArviZ 1.x (DataTree) is one module's change.

ArviZ 0.23 (the last release for Python 3.11) works on `InferenceData`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ announces its 1.x refactor on import
    import arviz as az

InferenceData = az.InferenceData


def from_numpyro(mcmc: Any, coords: dict[str, list[Any]], dims: dict[str, list[str]]) -> InferenceData:
    # Only pass dims for variables the posterior has, or ArviZ rejects the mapping.
    samples = mcmc.get_samples(group_by_chain=True)
    dims = {name: dim for name, dim in dims.items() if name in samples or name == "obs"}
    coords = {name: values for name, values in coords.items() if any(name in d for d in dims.values())}
    return az.from_numpyro(mcmc, coords=coords, dims=dims, log_likelihood=True)


def save(idata: InferenceData, path: Path, attrs: dict[str, str]) -> None:
    """Write NetCDF atomically (a half-written file never replaces a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    idata.posterior.attrs.update(attrs)
    tmp = path.with_suffix(".nc.tmp")
    idata.to_netcdf(str(tmp))
    tmp.replace(path)


def load(path: Path) -> InferenceData:
    idata = az.from_netcdf(str(path))
    idata.load()  # read into memory and release the file handle, so the file can be replaced later
    return idata


def attrs(idata: InferenceData) -> dict[str, Any]:
    return dict(idata.posterior.attrs)


def posterior_variables(idata: InferenceData) -> list[str]:
    return list(idata.posterior.data_vars)


def varying_variables(idata: InferenceData, var_names: list[str] | None = None) -> list[str]:
    """Posterior variables that vary across draws: a constant site (a dummy-coded reference level)
    has an undefined r_hat and ESS and says nothing about convergence."""
    names = var_names or posterior_variables(idata)
    out = []
    for name in names:
        values = idata.posterior[name].values
        if np.nanstd(values.reshape(values.shape[0] * values.shape[1], -1), axis=0).max() > 0:
            out.append(name)
    return out


def summary(idata: InferenceData, var_names: list[str] | None = None, round_to: int | None = None) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.summary(idata, var_names=var_names, round_to=round_to)


def max_rhat(idata: InferenceData, var_names: list[str]) -> float:
    values = az.rhat(idata, var_names=var_names)
    return float(max(np.nanmax(values[v].values) for v in values.data_vars))


def min_ess(idata: InferenceData, var_names: list[str], method: str) -> float:
    values = az.ess(idata, var_names=var_names, method=method)
    return float(min(np.nanmin(values[v].values) for v in values.data_vars))


def divergences(idata: InferenceData) -> int:
    return int(idata.sample_stats["diverging"].values.sum())


def bfmi(idata: InferenceData) -> np.ndarray:
    return np.asarray(az.bfmi(idata))


def plot_forest(idata_by_model: dict[str, InferenceData], var_names: list[str], **kwargs: Any) -> Any:
    """One forest plot with every model's intervals for `var_names`; returns the Figure."""
    axes = az.plot_forest(
        list(idata_by_model.values()),
        model_names=list(idata_by_model),
        var_names=var_names,
        combined=kwargs.pop("combined", True),
        hdi_prob=kwargs.pop("hdi_prob", 0.94),
        **kwargs,
    )
    ax = np.ravel(axes)[0]
    legend = ax.get_legend()
    if legend is not None:
        # ArviZ puts the model legend inside the axes, over the lowest rows; move it below them.
        handles, labels = legend.legend_handles, [text.get_text() for text in legend.get_texts()]
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(len(labels), 2), frameon=False)
    return ax.figure
