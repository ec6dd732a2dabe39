"""Every ArviZ call of the project, so that moving to ArviZ 1.x (DataTree) is one module's change.

ArviZ 0.23 (the last release for Python 3.11) works on `InferenceData`. Callers get plain NumPy,
pandas and matplotlib objects back (and `InformationCriterion` records), never ArviZ types, except
`InferenceData` itself and the `raw` ELPD object kept for HiBayES's `diagnostics["loo"]`.

A fit's pointwise log-likelihood may be weighted (`TrialGroups`: each stored column stands for
several identical observations, the trials of a binomial row or identical rows fitted once):
`information_criterion` and `compare` give on it what ArviZ gives on the per-observation matrix.

Plotting functions return a matplotlib Figure that pyplot has already forgotten (closed), so long
runs do not accumulate open figures; a closed Figure still saves with `fig.savefig`.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hibayes import artifacts
from hibayes.artifacts import Location

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ announces its 1.x refactor on import
    import arviz as az
from arviz.stats.stats import ELPDData
from xarray.backends import BackendArray

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


ROW_GROUPS = ("posterior", "log_likelihood", "observed_data", "constant_data")


def expand_rows(
    idata: InferenceData, row_sites: Mapping[str, int], inverse: np.ndarray, groups: tuple[str, ...] = ROW_GROUPS
) -> InferenceData:
    """Undo a fit on distinct rows: each row-shaped variable (`row_sites`: name -> axis of rows,
    sample dims not counted) of `groups` gets one entry per original row, `inverse[i]` being row
    i's distinct row. The row dims get fresh 0..n-1 coordinates."""
    for group in groups:
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


TRIAL_GROUP_DIM = "trial_group"
TRIAL_CELL_DIM = "trial_cell"
_CELL_FIELDS = ("row", "outcome", "weight", "group")


@dataclass(frozen=True)
class TrialGroups:
    """Which observations each column of a weighted pointwise log-likelihood stands for.

    Every observation is one trial of one feature row: a binomial row of k successes in n has k
    success trials and n - k failure trials, a row fitted as one observation is one trial of its
    observed value. A *cell* is (feature row, outcome) with the number of its trials; the trials of
    a cell all have the same pointwise log-likelihood, and so do those of identical rows fitted once
    (`hibayes.model.aggregate`), so each cell belongs to one *group*: one stored column, whose
    weight is the number of trials in its cells. Cells are what two models' columns are aligned
    on (`compare`); groups are what is stored per draw.
    """

    cell_row: np.ndarray  # (cells,) the feature row of each cell
    cell_outcome: np.ndarray  # (cells,) 1 / 0 for binomial success / failure trials, else the observed value
    cell_weight: np.ndarray  # (cells,) trials in the cell
    cell_group: np.ndarray  # (cells,) the column the cell's trials are in

    @property
    def n_groups(self) -> int:
        return int(self.cell_group.max(initial=-1)) + 1

    @property
    def weights(self) -> np.ndarray:
        """Trials per column (int64)."""
        return np.bincount(self.cell_group, weights=self.cell_weight, minlength=self.n_groups).astype(np.int64)

    @property
    def group_row(self) -> np.ndarray:
        """A feature row each column stands for (its first cell's): the row's features identify it."""
        return self._first_cell_value(np.asarray(self.cell_row, dtype=np.int64))

    @property
    def group_outcome(self) -> np.ndarray:
        return self._first_cell_value(np.asarray(self.cell_outcome))

    def _first_cell_value(self, cell_values: np.ndarray) -> np.ndarray:
        """Per column, the value of its first cell (assigned in reverse, so the first one wins)."""
        values = np.empty(self.n_groups, dtype=cell_values.dtype)
        values[self.cell_group[::-1]] = cell_values[::-1]
        return values


def set_weighted_log_likelihood(idata: InferenceData, name: str, values: np.ndarray, groups: TrialGroups) -> InferenceData:
    """Store a weighted pointwise log-likelihood: `values` (chain, draw, group) as the
    log_likelihood group's only variable `name` over dim `trial_group`, and `groups` in
    constant_data (`trial_group_weight` over `trial_group`; `trial_cell_row`, `_outcome`,
    `_weight`, `_group` over `trial_cell`). `trial_groups` reads them back. ArviZ's own `az.loo` on
    such a fit would count each column once: use `information_criterion`."""
    import xarray as xr

    old = idata.log_likelihood
    coords = {"chain": old["chain"].values, "draw": old["draw"].values, TRIAL_GROUP_DIM: np.arange(values.shape[-1])}
    idata.log_likelihood = xr.Dataset(
        {name: (("chain", "draw", TRIAL_GROUP_DIM), values)}, coords=coords, attrs={**old.attrs, "weighted_by": "constant_data.trial_group_weight"}
    )
    layout = xr.Dataset(
        {
            "trial_group_weight": ((TRIAL_GROUP_DIM,), groups.weights),
            **{f"trial_cell_{field}": ((TRIAL_CELL_DIM,), np.asarray(getattr(groups, f"cell_{field}"))) for field in _CELL_FIELDS},
        },
        coords={TRIAL_GROUP_DIM: np.arange(values.shape[-1]), TRIAL_CELL_DIM: np.arange(len(groups.cell_group))},
    )
    if has_group(idata, "constant_data"):
        idata.constant_data = idata.constant_data.drop_vars(list(layout.data_vars), errors="ignore").merge(layout)
    else:
        idata.add_groups(constant_data=layout)
    return idata


def trial_groups(idata: InferenceData | None) -> TrialGroups | None:
    """The groups of a weighted pointwise log-likelihood (`set_weighted_log_likelihood`), or None
    when each log-likelihood entry is one observation."""
    if not has_group(idata, "constant_data") or "trial_cell_group" not in idata.constant_data:
        return None
    data = idata.constant_data
    return TrialGroups(*(np.asarray(data[f"trial_cell_{field}"].values) for field in _CELL_FIELDS))


def expanded_log_likelihood(idata: InferenceData) -> InferenceData:
    """A copy of `idata` whose log-likelihood has one entry per observation: what the weighted one
    stands for, in the cells' order (by feature row; a binomial row's successes, then its
    failures), the same for every fit of the same data. Only for small fits (checks, tests): it is
    (chains x draws x observations) floats."""
    groups = trial_groups(idata)
    if groups is None:
        return idata
    expanded = idata.copy()
    name = group_variables(idata, "log_likelihood")[0]
    values = np.repeat(_log_likelihood_values(idata, name)[..., groups.cell_group], groups.cell_weight, axis=-1)
    expanded.log_likelihood = idata.log_likelihood.drop_dims(TRIAL_GROUP_DIM).assign(
        {name: (("chain", "draw", "observation"), values)}
    )
    layout = [v for v in expanded.constant_data.data_vars if v.startswith(("trial_cell_", "trial_group_"))]
    remaining = expanded.constant_data.drop_vars(layout).drop_dims([TRIAL_GROUP_DIM, TRIAL_CELL_DIM], errors="ignore")
    if remaining.data_vars:
        expanded.constant_data = remaining
    else:
        del expanded.constant_data
    return expanded


def _log_likelihood_values(idata: InferenceData, name: str) -> np.ndarray:
    """(chain, draw, ...) pointwise log-likelihood values of variable `name`."""
    return np.asarray(idata.log_likelihood[name].transpose(*SAMPLE_DIMS, ...).values)


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


@dataclass(frozen=True)
class ValueCounts:
    """Predictive draws of a variable of identical rows held as counts
    (`hibayes.model.grouped_predictive`): in draw (c, s), `counts[c, s, j, k]` of the rows whose
    distinct row is j (`distinct_row[i]` for row i) took the value `values[k]`. Statistics that
    ignore the order of identical rows are those of the per-row draws."""

    values: np.ndarray  # (K,)
    counts: np.ndarray  # (chain, draw, distinct rows, K)
    distinct_row: np.ndarray  # (rows,)

    @property
    def n_rows(self) -> int:
        return len(self.distinct_row)

    def cell_values(self, divisor: np.ndarray | None = None) -> np.ndarray:
        """(distinct rows, K) values, each distinct row's divided by `divisor` (per row, e.g. its
        trials for proportions, the same for identical rows as it is one of their features)."""
        values = np.broadcast_to(self.values.astype(float), (self.counts.shape[2], len(self.values)))
        if divisor is None:
            return values
        per_distinct = np.empty(self.counts.shape[2])
        per_distinct[self.distinct_row] = np.broadcast_to(np.asarray(divisor, dtype=float), (self.n_rows,))
        return values / per_distinct[:, None]

    def draw_means(self, divisor: np.ndarray | None = None) -> np.ndarray:
        """(chain, draw): each draw's mean over every row."""
        return np.einsum("csjk,jk->cs", self.counts, self.cell_values(divisor)) / self.n_rows

    def quantiles(self, q: np.ndarray, divisor: np.ndarray | None = None) -> np.ndarray:
        """NumPy's (linear) quantiles of every draw's values pooled, from the counts."""
        values = self.cell_values(divisor).ravel()
        weights = self.counts.reshape(-1, values.size).sum(axis=0)
        order = np.argsort(values, kind="stable")
        values, cumulative = values[order], np.cumsum(weights[order])
        position = (cumulative[-1] - 1) * np.asarray(q, dtype=float)
        below = np.floor(position).astype(np.int64)
        low = values[np.searchsorted(cumulative, below, side="right")]
        high = values[np.searchsorted(cumulative, np.minimum(below + 1, cumulative[-1] - 1), side="right")]
        return low + (position - below) * (high - low)


def from_value_counts(
    group: str, name: str, counts: ValueCounts, seed: int, coords: Mapping[str, list[Any]], dims: Mapping[str, list[str]]
) -> InferenceData:
    """A predictive `group` holding `name`'s draws as counts: `{name}_value_counts` (chain, draw,
    `{name}_distinct_row`, `{name}_value`), the row map `{name}_row_to_distinct` (rows), and `name`
    itself, one value per row as HiBayES users read it, computed from the counts only for the draws
    read, when read (see `_PerRowDraws`), and never stored."""
    import xarray as xr

    chains, draws = counts.counts.shape[:2]
    row_dim = list(dims.get(name, [f"{name}_dim_0"]))[0]
    compact = xr.Dataset(
        {
            f"{name}_value_counts": (
                ("chain", "draw", f"{name}_distinct_row", f"{name}_value"), counts.counts, {PER_ROW_SEED: seed}
            ),
            f"{name}_row_to_distinct": ((row_dim,), counts.distinct_row),
        },
        coords={
            "chain": np.arange(chains), "draw": np.arange(draws), f"{name}_value": counts.values,
            row_dim: coords.get(row_dim, np.arange(counts.n_rows)),
        },
    )
    return az.InferenceData(**{group: _with_per_row_draws(compact, name)})


PER_ROW_SEED = "per_row_seed"


def _with_per_row_draws(dataset: Any, name: str) -> Any:
    """`dataset` (a predictive group holding `name` as counts) with the lazy per-row `name`."""
    import xarray as xr
    from xarray.core import indexing

    counts = dataset[f"{name}_value_counts"]
    row_dim = dataset[f"{name}_row_to_distinct"].dims[0]
    counted = ValueCounts(
        np.asarray(counts[f"{name}_value"].values),
        np.asarray(counts.transpose(*SAMPLE_DIMS, ...).values),
        np.asarray(dataset[f"{name}_row_to_distinct"].values),
    )
    lazy = indexing.LazilyIndexedArray(_PerRowDraws(counted, int(counts.attrs[PER_ROW_SEED])))
    return dataset.assign({name: xr.Variable(("chain", "draw", row_dim), lazy)})


MAX_SHUFFLED_RUNS = 1024


class _PerRowDraws(BackendArray):
    """The per-row draws that counts stand for, as an xarray backend array: reading draws (c, s)
    lays their counts out over the rows of each distinct row in a random order, seeded by
    (seed, c, s), so the same draw always reads the same. With the counts drawn as Multinomials,
    these are exactly per-row predictive draws (`hibayes.model.grouped_predictive`); only what is
    read is ever (draws x rows)."""

    def __init__(self, counts: ValueCounts, seed: int):
        self.counts, self.seed = counts, seed
        self.shape = (*counts.counts.shape[:2], counts.n_rows)
        self.dtype = np.dtype(counts.values.dtype)
        n_distinct = counts.counts.shape[2]
        self._cell_values = np.tile(counts.values, n_distinct)
        # The rows by distinct row, and where each distinct row's run of them ends.
        self._rows_by_distinct = np.argsort(counts.distinct_row, kind="stable")
        self._run_ends = np.cumsum(np.bincount(counts.distinct_row, minlength=n_distinct))

    def __getitem__(self, key: Any) -> np.ndarray:
        from xarray.core import indexing

        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._read)

    def _read(self, key: tuple[Any, ...]) -> np.ndarray:
        chains, draws = (np.atleast_1d(np.arange(n)[k]) for n, k in zip(self.shape[:2], key[:2]))
        block = np.empty((len(chains), len(draws), self.shape[2]), dtype=self.dtype)
        for a, chain in enumerate(chains):
            for b, draw in enumerate(draws):
                block[a, b] = self._draw(int(chain), int(draw))
        block = block[:, :, key[2]]
        dropped = tuple(axis for axis, k in enumerate(key[:2]) if isinstance(k, (int, np.integer)))
        return block.squeeze(axis=dropped) if dropped else block

    def _draw(self, chain: int, draw: int) -> np.ndarray:
        rng = np.random.default_rng((self.seed, chain, draw))
        # Values by distinct row, then value: the layout of `_rows_by_distinct`, once each run of
        # them is shuffled. Few long runs (the case worth grouping) shuffle one by one; many short
        # ones in one sort on random keys.
        laid_out = np.repeat(self._cell_values, self.counts.counts[chain, draw].ravel())
        if len(self._run_ends) <= MAX_SHUFFLED_RUNS:
            for start, end in zip(np.concatenate([[0], self._run_ends[:-1]]), self._run_ends):
                rng.shuffle(laid_out[start:end])
        else:
            runs = np.repeat(np.arange(len(self._run_ends)), np.diff(self._run_ends, prepend=0))
            laid_out = laid_out[np.argsort(runs + rng.random(len(runs)), kind="stable")]
        out = np.empty(len(laid_out), dtype=self.dtype)
        out[self._rows_by_distinct] = laid_out
        return out


def _counted_names(dataset: Any) -> list[str]:
    return [v[: -len("_value_counts")] for v in dataset.data_vars if v.endswith("_value_counts") and f"{v[: -len('_value_counts')]}_row_to_distinct" in dataset]


def value_counts(idata: InferenceData | None, group: str, name: str) -> ValueCounts | None:
    """`name`'s predictive draws as counts (`from_value_counts`), or None when they are per row."""
    if not has_group(idata, group) or f"{name}_value_counts" not in idata[group]:
        return None
    data = idata[group]
    counts = data[f"{name}_value_counts"].transpose(*SAMPLE_DIMS, ...)
    return ValueCounts(np.asarray(counts[f"{name}_value"].values), np.asarray(counts.values), np.asarray(data[f"{name}_row_to_distinct"].values))


def extend(idata: InferenceData | None, other: InferenceData, replace: bool = True) -> InferenceData:
    """Add `other`'s groups to `idata` in place (or return `other` when there is no `idata`).
    `replace=True` lets `other` win for groups both have (a recomputed predictive group);
    `replace=False` only adds the missing ones (pre-fit prior groups onto a new fit)."""
    if idata is None:
        return other
    idata.extend(other, join="right" if replace else "left")
    return idata


def save(idata: InferenceData, path: Location, attrs: dict[str, str]) -> None:
    """Write NetCDF to a local path or an fsspec URL (`hibayes.artifacts`), whole or not at all: a
    half-written file never replaces a good one."""
    idata.posterior.attrs.update(attrs)
    # Per-row draws held as counts are written as the counts (`from_value_counts`), not expanded.
    counted = {group: getattr(idata, group) for group in idata.groups() if _counted_names(getattr(idata, group))}
    try:
        for group, dataset in counted.items():
            setattr(idata, group, dataset.drop_vars(_counted_names(dataset)))
        _uncompressed(idata)
        with artifacts.writing(path) as local:
            idata.to_netcdf(str(local), compress=False)
    finally:
        for group, dataset in counted.items():
            setattr(idata, group, dataset)
    _WRITTEN[str(path)] = (artifacts.signature(path), idata)
    _WRITTEN.move_to_end(str(path))
    while len(_WRITTEN) > WRITTEN_KEPT:
        _WRITTEN.popitem(last=False)


# The fits this process wrote last, by file, with the file's signature when written: the comparison
# and report stages after a fit load back what it has just written (hundreds of MB at corpus scale,
# seconds to read), so `load` hands them the object written while the file is unchanged.
WRITTEN_KEPT = 4
_WRITTEN: OrderedDict[str, tuple[str | None, InferenceData]] = OrderedDict()


def _written(path: Location) -> InferenceData | None:
    """The fit this process wrote at `path`, while the file is unchanged since."""
    written = _WRITTEN.get(str(path))
    if written is None or written[0] is None or written[0] != artifacts.signature(path):
        return None
    return written[1]


def _uncompressed(idata: InferenceData) -> None:
    """Drop the zlib settings a fit read back from a file carries, so it is written uncompressed too.
    Draws and log-likelihoods are random floats, which zlib shrinks by about a tenth at the cost of
    most of the time of a write (a 320 MB log-likelihood: 12.5 s compressed, 1.5 s not) and of a
    read (3.3 s, 1.3 s)."""
    for group in idata.groups():
        for variable in getattr(idata, group).variables.values():
            variable.encoding = {key: value for key, value in variable.encoding.items() if key == "dtype"}


class UnreadableFitError(OSError):
    """A stored fit that cannot be read (a truncated or otherwise corrupt NetCDF file); the
    message names the file and what the reader said."""

    def __init__(self, path: Location, reason: BaseException | str):
        self.path = path
        self.reason = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
        super().__init__(f"the stored fit {self.path} cannot be read (corrupt or truncated NetCDF: {self.reason})")

    def __str__(self) -> str:
        return str(self.args[0])


def load(path: Location) -> InferenceData:
    """A stored fit (a local path or an fsspec URL), read into memory, or the object this process
    wrote there last while the file is as it was written (`_WRITTEN`). Raises UnreadableFitError
    naming the file when it is not a readable NetCDF fit (FileNotFoundError when it is missing)."""
    if not artifacts.exists(path):
        raise FileNotFoundError(f"no stored fit at {path}")
    written = _written(path)
    if written is not None:
        return written
    with artifacts.reading(path) as local:
        try:
            # Read into memory and each file handle closed: the file may be replaced later, and a
            # download is removed when this block ends.
            with az.rc_context({"data.load": "eager"}):
                idata = az.from_netcdf(str(local))
            for group in idata.groups():
                for name in _counted_names(getattr(idata, group)):
                    setattr(idata, group, _with_per_row_draws(getattr(idata, group), name))
        except Exception as err:
            raise UnreadableFitError(path, err) from err
    return idata


def attrs(idata: InferenceData) -> dict[str, Any]:
    return dict(idata.posterior.attrs)


def stored_attrs(path: Location) -> dict[str, Any]:
    """The posterior attributes of a stored fit, without reading its draws (an object is downloaded)."""
    import xarray as xr

    if not artifacts.exists(path):
        raise FileNotFoundError(f"no stored fit at {path}")
    written = _written(path)
    if written is not None:
        return dict(written.posterior.attrs)
    with artifacts.reading(path) as local:
        try:
            with xr.open_dataset(local, group="posterior", engine="h5netcdf") as posterior:
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
    if var_names is None and round_to is None:  # the whole table, once per fit (filtered by callers)
        return _once_per_fit(idata, ("summary",), lambda: _summary(idata, None, None)).copy()
    return _summary(idata, var_names, round_to)


def _summary(idata: InferenceData, var_names: list[str] | None, round_to: int | None) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant sites divide by zero in r_hat
        return az.summary(idata, var_names=var_names, round_to="none" if round_to is None else round_to)


def convergence_table(idata: InferenceData) -> pd.DataFrame:
    """One row per posterior element (`name` or `name[coord, ...]`): rank-normalised split r_hat,
    bulk and tail ESS, and `constant`: every draw of every chain holds the same value (a
    dummy-coded reference level, a fixed deterministic site), for which r_hat is undefined.
    Computed once per fit."""
    return _once_per_fit(idata, ("convergence",), lambda: _convergence_table(idata)).copy()


def _convergence_table(idata: InferenceData) -> pd.DataFrame:
    frames = []
    for name, da in idata.posterior.data_vars.items():
        da = da.transpose(*SAMPLE_DIMS, ...)
        element_dims = [d for d in da.dims if d not in SAMPLE_DIMS]
        flat = da.values.reshape(da.sizes["chain"] * da.sizes["draw"], -1)
        frames.append(
            pd.DataFrame(
                {"parameter": _element_labels(name, da, element_dims), "variable": name, "constant": flat.max(axis=0) == flat.min(axis=0)}
            )
        )
    table = pd.concat(frames, ignore_index=True)
    # The summary's diagnostics (the same ArviZ functions, elements in the same order), which the
    # report's summary table shows too: computed once for both. Matched by label if the summary
    # left an element out (NaN there).
    diagnostics = summary(idata)[["r_hat", "ess_bulk", "ess_tail"]]
    if len(diagnostics) != len(table):
        diagnostics = diagnostics.reindex(table["parameter"])
    return pd.concat([table[["parameter", "variable"]], diagnostics.reset_index(drop=True), table[["constant"]]], axis=1)


def _element_labels(name: str, da: Any, element_dims: list[str]) -> list[str]:
    if not element_dims:
        return [name]
    combos = itertools.product(*(da.coords[d].values.tolist() for d in element_dims))
    return [f"{name}[{', '.join(map(str, combo))}]" for combo in combos]


def max_r_hat(draws: Mapping[str, Any]) -> float:
    """The largest rank-normalised split R-hat over every element of `draws` (site -> (chain,
    draw, ...) arrays), constant elements left out; 1.0 when none varies."""
    dataset = az.convert_to_dataset({name: np.asarray(value) for name, value in draws.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant elements divide by zero
        values = np.concatenate([np.asarray(da.values, dtype=float).ravel() for da in az.rhat(dataset).data_vars.values()] or [np.ones(1)])
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else 1.0


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
    log-likelihood column's contribution; `pareto_k` is LOO's per-column reliability (None for
    WAIC). With a weighted log-likelihood (`groups` set), column j stands for `weights[j]`
    observations with that same contribution and Pareto k: `n_observations` is their total, and
    `expanded()` gives the per-observation arrays. `raw` is ArviZ's ELPDData (for a weighted fit,
    one whose totals and `n_data_points` are the weighted ones and whose `loo_i`/`waic_i` and
    `pareto_k` are per column), kept for `compare` and HiBayES's `diagnostics["loo"]`."""

    kind: str
    elpd: float
    se: float
    p: float
    pointwise: np.ndarray
    pareto_k: np.ndarray | None
    scale: str
    warning: bool
    raw: Any
    groups: TrialGroups | None = None

    @property
    def weights(self) -> np.ndarray:
        """Observations per pointwise entry (all 1 unless the log-likelihood is weighted)."""
        return self.groups.weights if self.groups is not None else np.ones(self.pointwise.size, dtype=np.int64)

    @property
    def n_observations(self) -> int:
        return int(self.weights.sum())

    def expanded(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(pointwise, pareto_k) with one entry per observation, in `expanded_log_likelihood`'s
        order. Observation-sized: for small fits."""
        if self.groups is None:
            return self.pointwise, self.pareto_k
        columns, weights = self.groups.cell_group, self.groups.cell_weight
        pareto_k = None if self.pareto_k is None else np.repeat(self.pareto_k[columns], weights)
        return np.repeat(self.pointwise[columns], weights), pareto_k


def has_log_likelihood(idata: InferenceData | None) -> bool:
    return bool(group_variables(idata, "log_likelihood"))


_SCALE_VALUES = {"log": 1.0, "negative_log": -1.0, "deviance": -2.0}


def information_criterion(idata: InferenceData, kind: str = "loo", scale: str = "log") -> InformationCriterion:
    """`az.loo` (PSIS-LOO: Vehtari, Gelman & Gabry 2017, "Practical Bayesian model evaluation using
    leave-one-out cross-validation and WAIC", Stat Comput 27) or `az.waic` (Watanabe 2010, "Asymptotic
    equivalence of Bayes cross validation and widely applicable information criterion in singular
    learning theory", JMLR 11) of a fit.

    A weighted log-likelihood (`set_weighted_log_likelihood`) gives exactly what ArviZ gives on the
    per-observation matrix it stands for, without building that matrix: ArviZ runs on the distinct
    columns (its PSIS, `az.psislw`, smooths each column on its own, with r_eff from the posterior
    alone, so a column's loo_i and Pareto k are those of each of its observations), and with the
    columns' weights w_j (N = sum w_j observations, scale factor c: 1 log, -1 negative_log, -2 deviance)
        elpd = sum_j w_j elpd_j,   se = sqrt(N * var_w(elpd_j)),   var_w(x) = sum_j w_j (x_j - elpd/N)^2 / N,
        p_loo = sum_j w_j lppd_j - elpd / c,   p_waic = sum_j w_j Var_s(log p(y_j | theta_s)),
    with lppd_j = log mean_s p(y_j | theta_s); the warning flags (some Pareto k above ArviZ's
    good_k; some posterior variance of the log density above 0.4) are ArviZ's on the columns, which
    hold every observation's value.
    """
    if kind not in ("loo", "waic"):
        raise ValueError(f"information criterion '{kind}' is not 'loo' or 'waic'")
    if scale not in _SCALE_VALUES:
        raise ValueError(f"information criterion scale '{scale}' is not one of {sorted(_SCALE_VALUES)}")
    return _once_per_fit(idata, ("ic", kind, scale), lambda: _information_criterion(idata, kind, scale))


# What was computed of the last few fits in this process, by the fit's identity: one fit's LOO or
# summary (seconds for thousands of columns or parameters) is computed once, though the checkers see
# the fitted object and the comparison and report stages the same fit loaded back from its file.
OF_FITS_KEPT = 24
_OF_FITS: OrderedDict[tuple, Any] = OrderedDict()


def _once_per_fit(idata: InferenceData, what: tuple, compute: Callable[[], Any]) -> Any:
    """`compute()`, or what it gave for the same fit (`_fit_identity`) before; a fit without an
    identity is never remembered."""
    identity = _fit_identity(idata)
    if identity is None:
        return compute()
    key = (*identity, *what)
    if key in _OF_FITS:
        _OF_FITS.move_to_end(key)
        return _OF_FITS[key]
    result = _OF_FITS[key] = compute()
    while len(_OF_FITS) > OF_FITS_KEPT:
        _OF_FITS.popitem(last=False)
    return result


def _fit_identity(idata: InferenceData) -> tuple | None:
    """What tells one stored fit from any other: its sampling time (ArviZ's `created_at`, to the
    microsecond, kept in the NetCDF file) and its inputs' hash, with its log-likelihood's shape;
    None for a fit without them (never cached)."""
    posterior = getattr(idata, "posterior", None)
    created = posterior.attrs.get("created_at") if posterior is not None else None
    names = group_variables(idata, "log_likelihood")
    if created is None or not names:
        return None
    shape = tuple(idata.log_likelihood[names[0]].shape)
    return (created, posterior.attrs.get("hibayes_input_hash"), tuple(names), shape)


def _information_criterion(idata: InferenceData, kind: str, scale: str) -> InformationCriterion:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # high Pareto k / p_waic warnings: the checkers report them
        result, column_terms = (_loo if kind == "loo" else _waic)(idata, scale)
    pointwise = np.ravel(np.asarray(result[f"{kind}_i"]))
    pareto_k = np.ravel(np.asarray(result["pareto_k"])) if kind == "loo" else None
    groups = trial_groups(idata)
    if groups is not None:
        result = _weighted_elpd(result, kind, column_terms, groups)
    return InformationCriterion(
        kind=kind,
        elpd=float(result[f"elpd_{kind}"]),
        se=float(result["se"]),
        p=float(result[f"p_{kind}"]),
        pointwise=pointwise,
        pareto_k=pareto_k,
        scale=scale,
        warning=bool(result["warning"]),
        raw=result,
        groups=groups,
    )


def _loo(idata: InferenceData, scale: str) -> tuple[Any, np.ndarray]:
    """`az.loo(idata, pointwise=True, scale=scale)`, the same figures in the same ELPDData, with the
    Pareto smoothing of every observation in blocks (`hibayes.psis`) instead of ArviZ's loop over
    observations, and each observation's lppd (log mean_s p(y_i | theta_s))."""
    from hibayes.psis import psis_loo

    variable, values, n_samples = _pointwise_input(idata)
    posterior = idata.posterior
    reff = 1.0
    if len(posterior.chain) > 1:
        ess = az.ess(posterior, method="mean")
        reff = np.hstack([ess[v].values.flatten() for v in ess.data_vars]).mean() / n_samples
    loo, lppd, pareto_shape = psis_loo(values, reff)
    loo_i = _SCALE_VALUES[scale] * loo
    elpd = loo_i.sum()
    good_k = min(1 - 1 / np.log10(n_samples), 0.7)
    return ELPDData(
        data=[
            elpd, (len(loo_i) * np.var(loo_i)) ** 0.5, lppd.sum() - elpd / _SCALE_VALUES[scale], n_samples, len(loo_i),
            bool(np.any(pareto_shape > good_k)), _per_point(variable, loo_i, "loo_i"),
            _per_point(variable, pareto_shape, "pareto_shape"), scale, good_k,
        ],
        index=["elpd_loo", "se", "p_loo", "n_samples", "n_data_points", "warning", "loo_i", "pareto_k", "scale", "good_k"],
    ), lppd


def _waic(idata: InferenceData, scale: str) -> tuple[Any, np.ndarray]:
    """`az.waic(idata, pointwise=True, scale=scale)`, the same figures in the same ELPDData, from
    blocks of observations, and each observation's posterior variance of its log density."""
    from hibayes.psis import waic_terms

    variable, values, n_samples = _pointwise_input(idata)
    lppd, variance = waic_terms(values)
    waic_i = _SCALE_VALUES[scale] * (lppd - variance)
    return ELPDData(
        data=[
            waic_i.sum(), (len(waic_i) * np.var(waic_i)) ** 0.5, variance.sum(), n_samples, len(waic_i),
            bool(np.any(variance > 0.4)), _per_point(variable, waic_i, "waic_i"), scale,
        ],
        index=["elpd_waic", "se", "p_waic", "n_samples", "n_data_points", "warning", "waic_i", "scale"],
    ), variance


def _pointwise_input(idata: InferenceData) -> tuple[Any, np.ndarray, int]:
    """The fit's one log-likelihood variable, its values as (draws, observations) and the number of
    draws. ValueError when there is not exactly one (as ArviZ's `loo` and `waic`)."""
    names = group_variables(idata, "log_likelihood")
    if len(names) != 1:
        raise ValueError(f"LOO and WAIC need one log-likelihood variable; the fit has {names or 'none'}")
    values = _log_likelihood_values(idata, names[0])
    n_samples = values.shape[0] * values.shape[1]
    return idata.log_likelihood[names[0]], values.reshape(n_samples, -1), n_samples


def _per_point(variable: Any, values: np.ndarray, name: str) -> Any:
    """Per-observation values as a DataArray of the log-likelihood variable's observation dims."""
    import xarray as xr

    dims = [dim for dim in variable.dims if dim not in SAMPLE_DIMS]
    coords = {dim: variable[dim] for dim in dims if dim in variable.coords}
    return xr.DataArray(values.reshape(tuple(variable.sizes[dim] for dim in dims)), dims=dims, coords=coords, name=name)


def _weighted_elpd(result: Any, kind: str, column_terms: np.ndarray, groups: TrialGroups) -> Any:
    """ArviZ's ELPDData of the distinct columns, its totals replaced by the weighted ones (see
    `information_criterion`); `column_terms`: each column's lppd (loo) or posterior variance of its
    log density (waic)."""
    weights = groups.weights
    pointwise = np.ravel(np.asarray(result[f"{kind}_i"]))
    elpd = float(np.dot(weights, pointwise))
    p = float(np.dot(weights, column_terms) - (elpd / _SCALE_VALUES[result["scale"]] if kind == "loo" else 0.0))
    weighted = result.copy()
    weighted[f"elpd_{kind}"] = elpd
    weighted["se"] = _weighted_se(pointwise, weights)
    weighted[f"p_{kind}"] = p
    weighted["n_data_points"] = int(weights.sum())
    return weighted


def _weighted_se(pointwise: np.ndarray, weights: np.ndarray) -> float:
    """sqrt(N * Var(x)) over the N observations that `pointwise` (each repeated `weights` times)
    stands for: ArviZ's standard error of a sum of pointwise values."""
    n = weights.sum()
    mean = np.dot(weights, pointwise) / n
    return float(np.sqrt(np.dot(weights, (pointwise - mean) ** 2)))


def compare(
    criteria: Mapping[str, InformationCriterion], method: str = "stacking", b_samples: int = 1000, alpha: float = 1.0, seed: Any = None
) -> pd.DataFrame:
    """`az.compare` of precomputed criteria (all of one kind and scale), ranked best first:
    rank, elpd_{kind}, p_{kind}, elpd_diff, weight, se, dse, warning, scale; indexed by model.

    When any criterion is weighted, the models' columns are aligned first on the common
    refinement of their groups (the cells, see `TrialGroups`: one aligned column per combination
    of the models' columns that shares cells), which needs every model to cover the same
    observations: the same cells with the same numbers of trials. A ValueError says so otherwise
    (e.g. a model whose binomial rows were kept whole next to one expanded per trial: they answer
    different questions). On the aligned columns a (weight w_j, N = sum w_j) the computation is
    ArviZ's on the per-observation values (Vehtari, Gelman & Gabry 2017; Yao et al. 2018 for the
    weights): elpd_diff = sum_j w_j d_j, dse = sqrt(N * var_w(d_j)) with d_j the pointwise
    difference to the top model, and
    - "stacking": ArviZ's objective, -sum_j w_j log(sum_k weight_k exp(elpd_jk)), with its
      gradient, start, bounds, constraint and optimiser (scipy's SLSQP); the objective equals
      ArviZ's on the expanded values, so the weights agree to the optimiser's tolerance
      (not to the last bit: the sums are ordered differently);
    - "pseudo-BMA": exactly ArviZ's (it uses the totals only);
    - "BB-pseudo-BMA": the Bayesian bootstrap over the N observations is drawn per column: the
      Dirichlet(alpha, ..., alpha) weights of a column's w_j observations sum to one component of
      a Dirichlet(alpha * w_j) draw, so this is the same distribution with other random numbers;
      the weights and bootstrap `se` agree with ArviZ's only up to Monte Carlo error.
    """
    kinds = {c.kind for c in criteria.values()}
    scales = {c.scale for c in criteria.values()}
    if len(kinds) != 1 or len(scales) != 1:
        raise ValueError(f"cannot compare mixed criteria {sorted(kinds)} on scales {sorted(scales)}")
    kind, scale = kinds.pop(), scales.pop()
    if all(c.groups is None for c in criteria.values()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return az.compare(
                {name: c.raw for name, c in criteria.items()}, ic=kind, method=method, scale=scale,
                b_samples=b_samples, alpha=alpha, seed=seed,
            )
    return _weighted_compare(criteria, kind, scale, method, b_samples, alpha, seed)


def _weighted_compare(
    criteria: Mapping[str, InformationCriterion], kind: str, scale: str, method: str, b_samples: int, alpha: float, seed: Any
) -> pd.DataFrame:
    from scipy.optimize import Bounds, LinearConstraint, minimize
    from scipy.stats import dirichlet

    if method.lower() not in ("stacking", "bb-pseudo-bma", "pseudo-bma"):
        raise ValueError(f"The method {method}, to compute weights, is not supported.")
    scale_value = _SCALE_VALUES[scale]
    ascending = scale != "log"
    names = sorted(criteria, key=lambda name: criteria[name].elpd, reverse=not ascending)
    weights, columns = _aligned_columns({name: criteria[name] for name in names})
    values = np.column_stack([criteria[name].pointwise[columns[name]] for name in names])  # (aligned, models)
    n_observations = weights.sum()
    n_models = len(names)
    ses = np.array([criteria[name].se for name in names])
    if method.lower() == "stacking":
        exp_values = np.exp(values / scale_value)

        def log_score(model_weights: np.ndarray) -> float:
            return -np.dot(weights, np.log(exp_values @ model_weights))

        def gradient(model_weights: np.ndarray) -> np.ndarray:
            return -(weights / (exp_values @ model_weights)) @ exp_values

        result = minimize(
            fun=log_score,
            x0=np.full(n_models, 1.0 / n_models),
            jac=gradient,
            bounds=Bounds(lb=np.zeros(n_models), ub=np.ones(n_models)),
            constraints=LinearConstraint(np.ones(n_models), lb=1.0, ub=1.0),
        )
        model_weights = result["x"]
    elif method.lower() == "bb-pseudo-bma":
        shares = dirichlet.rvs(alpha=alpha * weights, size=b_samples, random_state=seed)  # (b_samples, aligned)
        z_bs = shares @ (values * n_observations)
        u_weights = np.exp((z_bs - z_bs.max(axis=1, keepdims=True)) / scale_value)
        model_weights = (u_weights / u_weights.sum(axis=1, keepdims=True)).mean(axis=0)
        ses = z_bs.std(axis=0)
    else:
        elpds = np.array([criteria[name].elpd for name in names])
        z_rv = np.exp((elpds - elpds[0]) / scale_value)
        model_weights = z_rv / z_rv.sum()
    rows = []
    for idx, name in enumerate(names):
        diff = values[:, idx] - values[:, 0] if scale_value < 0 else values[:, 0] - values[:, idx]
        c = criteria[name]
        rows.append(
            {
                "rank": idx,
                f"elpd_{kind}": c.elpd,
                f"p_{kind}": c.p,
                "elpd_diff": float(np.dot(weights, diff)),
                "weight": float(model_weights[idx]),
                "se": float(ses[idx]),
                "dse": _weighted_se(diff, weights),
                "warning": bool(c.warning),
                "scale": scale,
            }
        )
    table = pd.DataFrame(rows, index=pd.Index(names))
    return table.astype({"rank": int, "warning": bool})


def _aligned_columns(criteria: Mapping[str, InformationCriterion]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(weight of each aligned column, each model's column for it): the common refinement of the
    models' columns. Raises ValueError when the models do not cover the same observations."""
    if all(c.groups is not None for c in criteria.values()):
        return _aligned_on_cells(criteria)
    return _aligned_on_observations(criteria)


def _aligned_on_cells(criteria: Mapping[str, InformationCriterion]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted criteria aligned on their cells, which must be the same (row, outcome, trials)."""
    layouts = {name: c.groups for name, c in criteria.items()}
    reference_name, reference = next(iter(layouts.items()))
    reference_order = np.lexsort((reference.cell_outcome, reference.cell_row))
    groups_per_cell = []
    for name, layout in layouts.items():
        order = np.lexsort((layout.cell_outcome, layout.cell_row))
        same_cells = len(order) == len(reference_order) and all(
            np.array_equal(getattr(layout, field)[order], getattr(reference, field)[reference_order])
            for field in ("cell_row", "cell_outcome", "cell_weight")
        )
        if not same_cells:
            raise _not_comparable(
                name, reference_name,
                f"{layout.cell_weight.sum()} trials in {len(order)} (row, outcome) cells vs "
                f"{reference.cell_weight.sum()} in {len(reference_order)}",
            )
        groups_per_cell.append(layout.cell_group[order])
    aligned, inverse = np.unique(np.column_stack(groups_per_cell), axis=0, return_inverse=True)
    weights = np.bincount(np.ravel(inverse), weights=reference.cell_weight[reference_order]).astype(np.int64)
    return weights, {name: aligned[:, k] for k, name in enumerate(layouts)}


def _aligned_on_observations(criteria: Mapping[str, InformationCriterion]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Criteria some of which are unweighted, aligned observation by observation: an unweighted
    one's entries in order, a weighted one's cells' trials in `expanded_log_likelihood`'s order
    (which is also that of the per-trial fits stored before weighting). Observation-sized index
    arrays (no draws): only met when an unweighted fit is compared with a weighted one."""
    per_observation = {
        name: np.arange(c.pointwise.size) if c.groups is None else np.repeat(c.groups.cell_group, c.groups.cell_weight)
        for name, c in criteria.items()
    }
    reference_name, reference = next(iter(per_observation.items()))
    for name, columns in per_observation.items():
        if len(columns) != len(reference):
            raise _not_comparable(name, reference_name, f"{len(columns)} observations vs {len(reference)}")
    aligned, inverse = np.unique(np.column_stack(list(per_observation.values())), axis=0, return_inverse=True)
    weights = np.bincount(np.ravel(inverse)).astype(np.int64)
    return weights, {name: aligned[:, k] for k, name in enumerate(per_observation)}


def _not_comparable(name: str, reference_name: str, detail: str) -> ValueError:
    return ValueError(
        f"cannot compare '{name}' with '{reference_name}': their pointwise log-likelihoods cover different "
        f"observations ({detail}): a model whose binomial rows are kept whole and one expanded per trial, "
        "or fits of different data, answer different questions"
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


def plot_ppc_counts(
    predicted: ValueCounts,
    observed: np.ndarray | None,
    name: str,
    group: str,
    kind: str = "kde",
    figsize: tuple[float, float] | None = None,
    divisor: np.ndarray | None = None,
    num_pp_samples: int = 100,
    **kwargs: Any,
) -> Any:
    """`plot_ppc` of draws held as counts: each shown draw's distribution over all rows, their
    mean, and the observed values (unless None), as ArviZ draws discrete data (a line per draw
    over the values; cumulative for kind "cumulative"). A draw's counts are its histogram, so the
    lines are those of the per-row draws. A variable of many values (proportions of varying
    trials) is binned into 30 bins. Other keyword arguments of `az.plot_ppc` do not apply."""
    import matplotlib.pyplot as plt

    cell_values = predicted.cell_values(divisor).ravel()
    pooled = np.unique(np.concatenate([cell_values, [] if observed is None else np.ravel(observed).astype(float)]))
    pooled = pooled[np.isfinite(pooled)]
    if pooled.size <= 60:
        centres, to_bin = pooled, lambda v: np.searchsorted(pooled, v)
    else:
        edges = np.linspace(pooled[0], pooled[-1], 31)
        centres, to_bin = (edges[:-1] + edges[1:]) / 2, lambda v: np.clip(np.digitize(v, edges) - 1, 0, 29)
    weights = predicted.counts.reshape(-1, cell_values.size)
    finite = np.isfinite(cell_values)
    one_hot = np.zeros((cell_values.size, centres.size))
    one_hot[np.flatnonzero(finite), to_bin(cell_values[finite])] = 1.0
    density = (weights @ one_hot) / predicted.n_rows  # (draws, bins)
    shown = np.random.default_rng(0).choice(len(density), size=min(num_pp_samples, len(density)), replace=False)
    curve = (lambda d: np.cumsum(d, axis=-1)) if kind == "cumulative" else (lambda d: d)
    fig, ax = plt.subplots(figsize=figsize)
    style = {"drawstyle": "steps-mid"} if pooled.size <= 60 else {}
    for k, draw in enumerate(shown):
        ax.plot(centres, curve(density[draw]), color="C0", alpha=0.2, label=f"{group.capitalize()} predictive" if k == 0 else None, **style)
    ax.plot(centres, curve(density.mean(axis=0)), color="C1", linestyle="--", label=f"{group.capitalize()} predictive mean", **style)
    if observed is not None:
        values = np.ravel(observed).astype(float)
        values = values[np.isfinite(values)]
        observed_density = np.bincount(to_bin(values), minlength=centres.size) / max(values.size, 1)
        ax.plot(centres, curve(observed_density), color="k", label=f"Observed {name}", **style)
    ax.set_xlabel(name)
    ax.legend()
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
