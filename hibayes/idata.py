"""Every ArviZ call of the project, so that moving to ArviZ 1.x (DataTree) is one module's change.

ArviZ 0.23 (the last release for Python 3.11) works on `InferenceData`. Callers get plain NumPy,
pandas and matplotlib objects back (and `InformationCriterion` records), never ArviZ types, except
`InferenceData` itself and the `raw` ELPD object kept for HiBayES's `diagnostics["loo"]`.

Plotting functions return a matplotlib Figure that pyplot has already forgotten (closed), so long
runs do not accumulate open figures; a closed Figure still saves with `fig.savefig`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ announces its 1.x refactor on import
    import arviz as az

InferenceData = az.InferenceData
log = logging.getLogger("hibayes")

SAMPLE_DIMS = ("chain", "draw")


# --- reading and writing ---------------------------------------------------------------------


def from_numpyro(mcmc: Any, coords: dict[str, list[Any]], dims: dict[str, list[str]]) -> InferenceData:
    # Only pass dims for variables the posterior has, or ArviZ rejects the mapping.
    samples = mcmc.get_samples(group_by_chain=True)
    dims = {name: dim for name, dim in dims.items() if name in samples or name == "obs"}
    coords = {name: values for name, values in coords.items() if any(name in d for d in dims.values())}
    return az.from_numpyro(mcmc, coords=coords, dims=dims, log_likelihood=True)


def expand_rows(idata: InferenceData, row_sites: Mapping[str, int], inverse: np.ndarray) -> InferenceData:
    """Undo a fit on distinct rows: each row-shaped variable (`row_sites`: name -> axis of rows,
    sample dims not counted) gets one entry per original row, `inverse[i]` being row i's distinct
    row. The row dims get fresh 0..n-1 coordinates."""
    for group in ("posterior", "log_likelihood", "observed_data", "constant_data"):
        if not has_group(idata, group):
            continue
        dataset = getattr(idata, group)
        offset = len([d for d in SAMPLE_DIMS if d in dataset.dims])
        row_dims = {
            dataset[name].dims[axis + offset] for name, axis in row_sites.items() if name in dataset.data_vars
        }
        if row_dims:
            expanded = dataset.isel({dim: inverse for dim in row_dims})
            setattr(idata, group, expanded.assign_coords({dim: np.arange(len(inverse)) for dim in row_dims}))
    return idata


def replace_log_likelihood(idata: InferenceData, name: str, values: np.ndarray, dim: str) -> InferenceData:
    """Replace the log_likelihood group with one variable of (chain, draw, `dim`) values."""
    import xarray as xr

    old = idata.log_likelihood
    coords = {"chain": old["chain"].values, "draw": old["draw"].values, dim: np.arange(values.shape[-1])}
    idata.log_likelihood = xr.Dataset({name: (("chain", "draw", dim), values)}, coords=coords, attrs=old.attrs)
    return idata


def from_draws(
    groups: Mapping[str, Mapping[str, Any]], coords: Mapping[str, list[Any]], dims: Mapping[str, list[str]]
) -> InferenceData:
    """InferenceData from arrays whose first axis is the draw (NumPyro `Predictive` output): each
    group becomes one chain of those draws. Dims and coords are kept for the variables present."""
    data = {group: {name: np.asarray(v)[None, ...] for name, v in values.items()} for group, values in groups.items()}
    present = {name for values in data.values() for name in values}
    dims = {name: list(dim) for name, dim in dims.items() if name in present}
    coords = {name: list(values) for name, values in coords.items() if any(name in d for d in dims.values())}
    return az.from_dict(**data, coords=coords, dims=dims)


def extend(idata: InferenceData | None, other: InferenceData, replace: bool = True) -> InferenceData:
    """Add `other`'s groups to `idata` in place (or return `other` when there is no `idata`).
    `replace=True` lets `other` win for groups both have (a recomputed predictive group);
    `replace=False` only adds the missing ones (pre-fit prior groups onto a new fit)."""
    if idata is None:
        return other
    idata.extend(other, join="right" if replace else "left")
    return idata


def save(idata: InferenceData, path: Path, attrs: dict[str, str]) -> None:
    """Write NetCDF atomically (a half-written file never replaces a good one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    idata.posterior.attrs.update(attrs)
    tmp = path.with_suffix(".nc.tmp")
    idata.to_netcdf(str(tmp))
    tmp.replace(path)


class UnreadableFitError(OSError):
    """A stored fit that cannot be read (a truncated or otherwise corrupt NetCDF file); the
    message names the file and what the reader said."""

    def __init__(self, path: Path | str, reason: BaseException | str):
        self.path = Path(path)
        self.reason = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
        super().__init__(f"the stored fit {self.path} cannot be read (corrupt or truncated NetCDF: {self.reason})")

    def __str__(self) -> str:
        return str(self.args[0])


def load(path: Path) -> InferenceData:
    """A stored fit, read into memory. Raises UnreadableFitError naming the file when it is not
    a readable NetCDF fit (FileNotFoundError when it is missing)."""
    if not Path(path).exists():
        raise FileNotFoundError(f"no stored fit at {path}")
    try:
        idata = az.from_netcdf(str(path))
        idata.load()  # read into memory and release the file handle, so the file can be replaced later
    except Exception as err:
        raise UnreadableFitError(path, err) from err
    return idata


def attrs(idata: InferenceData) -> dict[str, Any]:
    return dict(idata.posterior.attrs)


def stored_attrs(path: Path) -> dict[str, Any]:
    """The posterior attributes of a stored fit, without reading its draws."""
    import xarray as xr

    if not Path(path).exists():
        raise FileNotFoundError(f"no stored fit at {path}")
    try:
        with xr.open_dataset(path, group="posterior", engine="h5netcdf") as posterior:
            return dict(posterior.attrs)
    except Exception as err:
        raise UnreadableFitError(path, err) from err


# --- groups and draws ------------------------------------------------------------------------


def has_group(idata: InferenceData | None, group: str) -> bool:
    return idata is not None and group in idata.groups()


def group_variables(idata: InferenceData | None, group: str) -> list[str]:
    return list(idata[group].data_vars) if has_group(idata, group) else []


def posterior_variables(idata: InferenceData) -> list[str]:
    return group_variables(idata, "posterior")


def draw_shape(idata: InferenceData, group: str) -> tuple[int, int]:
    """(chains, draws) of a group."""
    sizes = idata[group].sizes
    return int(sizes["chain"]), int(sizes["draw"])


def values(idata: InferenceData, group: str, name: str) -> np.ndarray:
    """A variable's values, (chain, draw, ...) for sampled groups."""
    return np.asarray(idata[group][name].values)


def flat_draws(idata: InferenceData, group: str = "posterior") -> dict[str, np.ndarray]:
    """Every variable of a group with chains and draws merged into the first axis, the layout
    NumPyro's `Predictive(posterior_samples=...)` expects."""
    out = {}
    for name, da in idata[group].data_vars.items():
        array = da.transpose(*SAMPLE_DIMS, ...).values
        out[name] = array.reshape(-1, *array.shape[2:])
    return out


def varying_elements(idata: InferenceData, names: list[str]) -> dict[str, np.ndarray]:
    """Each element (`name[coord, ...]`) of the variables as (chain, draw) draws, without the
    constant ones (a dummy-coded reference level), which a density plot cannot draw."""
    out = {}
    for name in names:
        da = idata.posterior[name].transpose(*SAMPLE_DIMS, ...)
        element_dims = [d for d in da.dims if d not in SAMPLE_DIMS]
        flat = da.values.reshape(da.sizes["chain"], da.sizes["draw"], -1)
        for k, label in enumerate(_element_labels(name, da, element_dims)):
            if flat[:, :, k].max() > flat[:, :, k].min():
                out[label] = flat[:, :, k]
    return out


# --- diagnostics -----------------------------------------------------------------------------


def summary(idata: InferenceData, var_names: list[str] | None = None, round_to: int | None = None) -> pd.DataFrame:
    """`az.summary`, unrounded unless `round_to` says otherwise. ArviZ's own default rounds r_hat
    to 2 decimals, which turns 1.006 into 1.01 and 1.004 into 1.0 right at the usual threshold."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant sites divide by zero in r_hat
        return az.summary(idata, var_names=var_names, round_to="none" if round_to is None else round_to)


def convergence_table(idata: InferenceData) -> pd.DataFrame:
    """One row per posterior element (`name` or `name[coord, ...]`): rank-normalised split r_hat,
    bulk and tail ESS, and `constant`: every draw of every chain holds the same value (a
    dummy-coded reference level, a fixed deterministic site), for which r_hat is undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant elements divide by zero
        rhat = az.rhat(idata)
        bulk = az.ess(idata, method="bulk")
        tail = az.ess(idata, method="tail")
    frames = []
    for name, da in idata.posterior.data_vars.items():
        da = da.transpose(*SAMPLE_DIMS, ...)
        element_dims = [d for d in da.dims if d not in SAMPLE_DIMS]
        flat = da.values.reshape(da.sizes["chain"] * da.sizes["draw"], -1)
        frames.append(
            pd.DataFrame(
                {
                    "parameter": _element_labels(name, da, element_dims),
                    "variable": name,
                    "r_hat": np.ravel(rhat[name].transpose(*element_dims).values),
                    "ess_bulk": np.ravel(bulk[name].transpose(*element_dims).values),
                    "ess_tail": np.ravel(tail[name].transpose(*element_dims).values),
                    "constant": flat.max(axis=0) == flat.min(axis=0),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _element_labels(name: str, da: Any, element_dims: list[str]) -> list[str]:
    if not element_dims:
        return [name]
    combos = itertools.product(*(da.coords[d].values.tolist() for d in element_dims))
    return [f"{name}[{', '.join(map(str, combo))}]" for combo in combos]


def divergences(idata: InferenceData) -> int:
    return int(idata.sample_stats["diverging"].values.sum())


def has_energy(idata: InferenceData) -> bool:
    # NumPyro's `energy` extra field is the Hamiltonian BFMI needs. ArviZ renames NumPyro's
    # `potential_energy` to `lp`, which is why HiBayES's test for "potential_energy" never passed.
    return has_group(idata, "sample_stats") and "energy" in idata.sample_stats


def bfmi(idata: InferenceData) -> np.ndarray:
    """Energy Bayesian fraction of missing information, one value per chain."""
    return np.asarray(az.bfmi(idata), dtype=float)


@dataclass(frozen=True)
class InformationCriterion:
    """PSIS-LOO or WAIC of one fit. `elpd`, `se` and `p` are on `scale`; `pointwise` holds each
    observation's contribution; `pareto_k` is LOO's per-observation reliability (None for WAIC).
    `raw` is ArviZ's ELPDData, kept for `compare` and for HiBayES's `diagnostics["loo"]`."""

    kind: str
    elpd: float
    se: float
    p: float
    pointwise: np.ndarray
    pareto_k: np.ndarray | None
    scale: str
    warning: bool
    raw: Any


def has_log_likelihood(idata: InferenceData | None) -> bool:
    return bool(group_variables(idata, "log_likelihood"))


def information_criterion(idata: InferenceData, kind: str = "loo", scale: str = "log") -> InformationCriterion:
    if kind not in ("loo", "waic"):
        raise ValueError(f"information criterion '{kind}' is not 'loo' or 'waic'")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # high Pareto k / p_waic warnings: the checkers report them
        result = (az.loo if kind == "loo" else az.waic)(idata, pointwise=True, scale=scale)
    return InformationCriterion(
        kind=kind,
        elpd=float(result[f"elpd_{kind}"]),
        se=float(result["se"]),
        p=float(result[f"p_{kind}"]),
        pointwise=np.ravel(np.asarray(result[f"{kind}_i"])),
        pareto_k=np.ravel(np.asarray(result["pareto_k"])) if kind == "loo" else None,
        scale=scale,
        warning=bool(result["warning"]),
        raw=result,
    )


def compare(criteria: Mapping[str, InformationCriterion], method: str = "stacking") -> pd.DataFrame:
    """`az.compare` of precomputed criteria (all of one kind and scale), ranked best first:
    rank, elpd_{kind}, p_{kind}, elpd_diff, weight, se, dse, warning, scale; indexed by model."""
    kinds = {c.kind for c in criteria.values()}
    scales = {c.scale for c in criteria.values()}
    if len(kinds) != 1 or len(scales) != 1:
        raise ValueError(f"cannot compare mixed criteria {sorted(kinds)} on scales {sorted(scales)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.compare(
            {name: c.raw for name, c in criteria.items()}, ic=kinds.pop(), method=method, scale=scales.pop()
        )


# --- plots ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _plotting() -> Iterator[None]:
    """ArviZ 0.23 calls matplotlib APIs that newer matplotlib deprecates, once per artist; and a
    predictive draw whose values are all equal (every proportion 0 or 1 under a wide prior) has no
    density, which ArviZ warns about once per such draw while drawing the rest."""
    from matplotlib import MatplotlibDeprecationWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
        warnings.filterwarnings("ignore", "Your data appears to have a single value", UserWarning)
        yield


def _figure_of(axes: Any) -> Any:
    import matplotlib.pyplot as plt

    fig = np.ravel(axes)[0].figure
    plt.close(fig)
    return fig


def _laid_out(fig: Any, title: str | None = None) -> Any:
    """`fig` under matplotlib's constrained layout, with `title` above all its panels. ArviZ's
    figures have no layout engine: its trace plot sets each panel's title just above the panel,
    over the tick labels of the panel above, and a figure title would sit on the panels' own."""
    fig.set_layout_engine("constrained")
    if title:
        fig.suptitle(title)
    return fig


def plot_ppc(
    predicted: np.ndarray,
    observed: np.ndarray | None,
    name: str,
    group: str,
    kind: str = "kde",
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Any:
    """Predictive draws (chain, draw, ...) of one variable against the observed values (drawn
    unless None): `az.plot_ppc` for kind kde / cumulative / scatter, overlaid histograms for
    "hist". `group` is "prior" or "posterior". A KDE that cannot be drawn (a degenerate range)
    falls back to histograms, as HiBayES did."""
    import matplotlib.pyplot as plt

    if kind == "hist":
        return _hist_overlay(predicted, observed, name, figsize, **kwargs)
    shown = observed if observed is not None else np.full(predicted.shape[2:], np.nan)
    data = az.from_dict(**{f"{group}_predictive": {name: predicted}}, observed_data={name: shown})
    # Drawing every predictive draw as its own line makes a 1000-draw plot take seconds.
    kwargs.setdefault("num_pp_samples", min(100, predicted.shape[0] * predicted.shape[1]))
    fig, ax = plt.subplots(figsize=figsize)
    try:
        with _plotting():
            az.plot_ppc(data, kind=kind, group=group, var_names=[name], observed=observed is not None, ax=ax, **kwargs)
    except ValueError as err:
        plt.close(fig)
        log.warning("%s predictive plot of '%s' failed (%s); drawing histograms instead", group, name, err)
        return _hist_overlay(predicted, observed, name, figsize)
    ax.set_title(f"{group.capitalize()} predictive: {name}")
    plt.close(fig)
    return fig


def _hist_overlay(
    predicted: np.ndarray, observed: np.ndarray | None, name: str, figsize: tuple[float, float] | None, **kwargs: Any
) -> Any:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    options = {"bins": 30, "density": True, "alpha": 0.6, **kwargs}
    pooled = np.ravel(predicted).astype(float)
    ax.hist(pooled[np.isfinite(pooled)], label="predicted", **options)
    if observed is not None:
        ax.hist(np.ravel(observed).astype(float), label="observed", **{**options, "alpha": 0.5})
    ax.set_xlabel(name)
    ax.set_ylabel("density")
    ax.legend()
    plt.close(fig)
    return fig


def plot_prior(idata: InferenceData, name: str, figsize: tuple[float, float] | None = None) -> Any:
    """A latent variable's prior draws (one panel per element)."""
    with _plotting():
        return _figure_of(az.plot_posterior(idata, group="prior", var_names=[name], figsize=figsize))


def plot_forest(
    idata: InferenceData,
    var_names: list[str],
    figsize: tuple[float, float] | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    title: str | None = None,
    xlabel: str | None = None,
    **kwargs: Any,
) -> Any:
    """`az.plot_forest` with `title` above it and `xlabel` (the scale of its values: ArviZ labels
    no axis) under the intervals; with `figsize=None` ArviZ sizes the figure by its number of rows."""
    with _plotting():
        fig = _figure_of(az.plot_forest(idata, var_names=var_names, figsize=figsize, transform=transform, **kwargs))
    if xlabel:
        fig.axes[0].set_xlabel(xlabel)
    return _laid_out(fig, title)


def plot_trace(
    idata: InferenceData,
    var_names: list[str],
    figsize: tuple[float, float] | None = None,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    title: str | None = None,
    **kwargs: Any,
) -> Any:
    """`az.plot_trace` with `title` above it, laid out so that each panel's title clears the tick
    labels of the panel above; with `figsize=None` ArviZ sizes the figure by its number of rows."""
    with _plotting():
        fig = _figure_of(az.plot_trace(idata, var_names=var_names, figsize=figsize, transform=transform, **kwargs))
    return _laid_out(fig, title)


def plot_pair(
    elements: dict[str, np.ndarray], figsize: tuple[float, float] | None = None, title: str | None = None, **kwargs: Any
) -> Any:
    """`az.plot_pair` (KDE unless `kind` says otherwise) of (chain, draw) draws by label, as
    `varying_elements` gives them; about 2 inches per variable (at most 16), with 9-point labels,
    unless `figsize` says otherwise: ArviZ's own size for six variables is 37 x 28 inches, slow to
    draw and to read."""
    kwargs.setdefault("kind", "kde")
    if figsize is None:
        side = min(16.0, max(4.0, 2.0 * (len(elements) - 1)))
        figsize = (side, side)
        kwargs.setdefault("textsize", 9)
    with _plotting():
        fig = _figure_of(az.plot_pair(az.from_dict(posterior=elements), figsize=figsize, **kwargs))
    return _laid_out(fig, title)


def plot_compare(
    table: pd.DataFrame, figsize: tuple[float, float] | None = None, headline: str | None = None, **kwargs: Any
) -> Any:
    """`az.plot_compare` of a `compare` table (a `model` column or the names to show as index),
    about half an inch per model unless `figsize` says otherwise; `headline` (the verdict) goes
    under ArviZ's title, both above the whole figure."""
    if "model" in table.columns:
        table = table.set_index("model")
    if figsize is None:
        figsize = (7.0, 1.5 + 0.45 * len(table))
    with _plotting():
        fig = _figure_of(az.plot_compare(table, figsize=figsize, **kwargs))
    if headline:
        # Over the whole figure, not only the axes beside the model names, so the line fits.
        ax = fig.axes[0]
        fig.suptitle("\n".join(filter(None, (ax.get_title(), headline))), fontsize=ax.title.get_fontsize())
        ax.set_title("")
    return _laid_out(fig)
