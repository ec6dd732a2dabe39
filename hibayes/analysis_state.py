"""The state an analysis carries from stage to stage, with HiBayES's names.

Custom processors, checkers and communicators read and assign these attributes and call these
methods by keyword (`state.add_plot(plot=fig, plot_name="...")`), so every name, parameter names
included, is HiBayES's (`src/hibayes/analysis_state.py` @16900a3): see HIBAYES_REFERENCE.md.

Where ours differs, on purpose:
- Figures are kept apart from data: checkers put theirs in `ModelAnalysisState.plots`,
  communicators in `AnalysisState.plots` and their tables in `AnalysisState.tables`; HiBayES's
  `communicate` is one mapping over both. Whoever saves the run decides the format and dpi.
- `diagnostics` holds values (numbers, arrays, tables), and `checks` each checker's `CheckOutcome`.
- `logs` is a list of (stage, entry) pairs in the order they were logged; `get_stage_logs(stage)`
  gives one stage's entries as HiBayES's dict did.
- `failures` lists what went wrong in this run (a component that raised or returned "error"),
  each naming the component, its file and line; the CLI exits non-zero when there are any.
- `save`/`load` write NetCDF, parquet, npz, JSON, PNG and CSV (`hibayes.state_io`), never pickle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from hibayes.config import PlatformConfig

if TYPE_CHECKING:
    from hibayes.idata import InformationCriterion

Features = dict[str, Any]
Coords = dict[str, list[Any]]
Dims = dict[str, list[str]]
T = TypeVar("T")

MAX_NAME_LENGTH = 100  # names become file names when saved

log = logging.getLogger("hibayes")


class UnknownModelError(KeyError, ValueError):
    """`get_model` of a name the state does not hold: a KeyError, and a ValueError as in HiBayES."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def _is_figure(value: Any) -> bool:
    # Duck-typed so that this module does not import matplotlib.
    return hasattr(value, "savefig") and hasattr(value, "axes")


def _short_name(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        log.warning(f"name longer than {MAX_NAME_LENGTH} characters, truncated: {name[:MAX_NAME_LENGTH]}")
    return name[:MAX_NAME_LENGTH]


def _unique_name(name: str, taken: Mapping[str, Any]) -> str:
    """HiBayES's naming: a name already used gets `_1`, `_2`, ... (e.g. `model_comparison_plot`
    listed twice keeps both figures)."""
    name = _short_name(name)
    if name not in taken:
        return name
    counter = 1
    while f"{name}_{counter}" in taken:
        counter += 1
    return f"{name}_{counter}"


def _without_obs(features: Features) -> dict[str, Any]:
    """The features a model samples its prior from: every one whose name lacks `obs`, and `obs: None`."""
    return {**{k: v for k, v in features.items() if "obs" not in k}, "obs": None}


def _unchanged(values: Any) -> Any:
    return values


def inverse_link(name: str) -> Callable[[Any], Any]:
    """The latent-to-response-scale transform of a `link_function` name, as in HiBayES (logit and
    sigmoid -> probability, probit -> normal CDF, cloglog -> 1-exp(-exp), identity -> itself)."""
    from hibayes.model.utils import cloglog_to_prob, logit_to_prob, probit_to_prob

    inverses = {"identity": _unchanged, "logit": logit_to_prob, "sigmoid": logit_to_prob, "probit": probit_to_prob, "cloglog": cloglog_to_prob}
    if name not in inverses:
        raise ValueError(f"unknown link_function '{name}'; known: {', '.join(inverses)}")
    return inverses[name]


@dataclass
class ModelAnalysisState:
    """One model of the analysis, its fit and its checks.

    Our code builds it positionally (`ModelAnalysisState(model_name, model, model_config, features,
    ...)`); HiBayES users by keyword (`ModelAnalysisState(model=..., model_config=..., features=...)`),
    and then `model_name` is derived as in HiBayES: the model's name followed directly by its tag.
    """

    model_name: str = ""
    model: Callable[..., Any] | None = None
    model_config: Any = None
    features: Features = field(default_factory=dict)
    coords: Coords = field(default_factory=dict)
    dims: Dims = field(default_factory=dict)
    inference_data: Any = None
    is_fitted: bool = False
    diagnostics: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    test_features: Features = field(default_factory=dict)
    platform_config: PlatformConfig = field(default_factory=PlatformConfig)
    # Results derived from `inference_data` (summary, LOO, ...), dropped when it is replaced.
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _cache_for: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # HiBayES accepts None for these and means "none yet".
        for name in ("features", "coords", "dims", "diagnostics", "test_features"):
            if getattr(self, name) is None:
                setattr(self, name, {})
        if self.platform_config is None:
            self.platform_config = PlatformConfig()
        if not self.model_name:
            self.model_name = self._name_from_model()

    def _name_from_model(self) -> str:
        """HiBayES's `model_name`: our config's (`ModelSpec.model_name`), else the model function's
        name followed directly by the config's tag."""
        if getattr(self.model_config, "model_name", None):
            return self.model_config.model_name
        if self.model is None:
            raise TypeError("ModelAnalysisState needs a model, a model_config or a model_name")
        return getattr(self.model, "__name__", "model") + (getattr(self.model_config, "tag", None) or "")

    @property
    def prior_features(self) -> Features:
        """Every feature except the observations, with `obs` set to None for prior sampling."""
        return _without_obs(self.features)

    @property
    def prior_test_features(self) -> Features:
        """`prior_features` of the test features; empty when there are none."""
        return _without_obs(self.test_features) if self.test_features else {}

    @property
    def link_function(self) -> Callable[[Any], Any]:
        """HiBayES's `link_function`: the transform from the model's latent scale to the response
        scale (e.g. logit -> probability), from the config's `link_function` name."""
        link = getattr(self.model_config, "link_function", None) or "identity"
        return link if callable(link) else inverse_link(link)

    def add_diagnostic(self, name: str, diagnostic: Any) -> None:
        """Record a diagnostic value. A figure (HiBayES's checkers stored theirs here) goes to
        `plots` instead, so that it is saved as an image rather than stringified."""
        if _is_figure(diagnostic):
            self.add_plot(diagnostic, name)
        else:
            self.diagnostics[name] = diagnostic

    def diagnostic(self, var: str) -> Any:
        return self.diagnostics.get(var)

    def add_plot(self, plot: Any, plot_name: str) -> None:
        """A checker's figure; running the checker again replaces it."""
        self.plots[_short_name(plot_name)] = plot

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` once per `inference_data` object: a refit (a new object) recomputes."""
        if self._cache_for is not self.inference_data:
            self._cache, self._cache_for = {}, self.inference_data
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def get_summary(self, var_names: list[str] | None = None, round_to: int | None = None, **kwargs: Any) -> pd.DataFrame:
        """The ArviZ summary of the posterior (mean, sd, HDI, MCSE, ESS, r_hat), computed once and
        then filtered to `var_names`, in that order (whole variables: `mu` selects `mu`, never
        `mu_overall` as HiBayES's prefix match did). Other keyword arguments go to `az.summary`
        (e.g. `hdi_prob=0.9`), computed once per set of them."""
        from hibayes import idata as idata_api

        def compute() -> pd.DataFrame:
            if not kwargs:
                return idata_api.summary(self.inference_data)
            import arviz as az

            return az.summary(self.inference_data, round_to="none", **kwargs)

        table = self.cached(f"summary/{sorted(kwargs.items())!r}" if kwargs else "summary", compute)
        if var_names is not None:
            variable = table.index.str.split("[", n=1).str[0]
            table = pd.concat([table[variable == name] for name in var_names])  # in the order asked
        return table.round(round_to) if round_to is not None else table

    def get_ic(self, kind: str = "loo", scale: str = "log") -> InformationCriterion:
        """PSIS-LOO ("loo") or WAIC ("waic") of the fit, computed once per kind and scale; the
        `loo` checker, model comparison and `get_best_model` share it."""
        from hibayes import idata as idata_api

        return self.cached(f"ic/{kind}/{scale}", lambda: idata_api.information_criterion(self.inference_data, kind, scale))

    def save(self, path: str | Path, incremental: bool = False) -> None:
        """Write the model to the folder `path` (see `hibayes.state_io`). `incremental` keeps its
        features if they are already there; the fit, checks and plots are always written."""
        from hibayes.state_io import save_model_state

        save_model_state(self, Path(path), incremental=incremental)

    @classmethod
    def load(cls, path: str | Path) -> ModelAnalysisState:
        """A model saved by `save`; the NumPyro callable is rebuilt from the model registry, so a
        custom model's `path:` file must be imported first."""
        from hibayes.state_io import load_model_state

        return load_model_state(Path(path))


class CommunicateItems(MutableMapping[str, Any]):
    """HiBayES's `state.communicate`: every communicator output by name, over the state's `plots`
    (figures) and `tables` (everything else). A table that shares its name with a figure (the
    built-in `model_comparison_plot` makes both) is reached through `state.tables`."""

    def __init__(self, state: AnalysisState):
        self._state = state

    def __getitem__(self, name: str) -> Any:
        if name in self._state.plots:
            return self._state.plots[name]
        return self._state.tables[name]

    def __setitem__(self, name: str, item: Any) -> None:
        self._state.plots.pop(name, None)
        self._state.tables.pop(name, None)
        (self._state.plots if _is_figure(item) else self._state.tables)[name] = item

    def __delitem__(self, name: str) -> None:
        if name in self._state.plots:
            del self._state.plots[name]
        else:
            del self._state.tables[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._state.plots
        yield from (name for name in self._state.tables if name not in self._state.plots)

    def __len__(self) -> int:
        return len(self._state.plots.keys() | self._state.tables.keys())


@dataclass
class AnalysisState:
    """The data, features, models and outputs of one analysis. The fields up to `models` are in
    HiBayES's constructor order."""

    data: pd.DataFrame
    processed_data: pd.DataFrame | None = None
    features: Features = field(default_factory=dict)
    test_features: Features = field(default_factory=dict)
    coords: Coords = field(default_factory=dict)
    dims: Dims = field(default_factory=dict)
    models: list[ModelAnalysisState] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    display_stats: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.processed_data is None:
            self.processed_data = self.data.copy()

    @property
    def prior_features(self) -> Features:
        return _without_obs(self.features)

    @property
    def prior_test_features(self) -> Features:
        return _without_obs(self.test_features)

    def feature(self, feature_name: str) -> Any:
        return self.features.get(feature_name)

    def test_feature(self, feature_name: str) -> Any:
        return self.test_features.get(feature_name)

    def coord(self, coord_name: str) -> list[Any] | None:
        """The coordinate's levels; None while there are no coords (HiBayES's rule)."""
        return self.coords[coord_name] if self.coords else None

    def dim(self, dim_name: str) -> list[str] | None:
        return self.dims[dim_name] if self.dims else None

    @property
    def communicate(self) -> CommunicateItems:
        return CommunicateItems(self)

    @communicate.setter
    def communicate(self, items: Mapping[str, Any]) -> None:
        self.plots, self.tables = {}, {}
        outputs = self.communicate
        for name, item in items.items():
            outputs[name] = item

    def communicate_item(self, item_name: str) -> Any:
        return self.communicate[item_name]

    def add_plot(self, plot: Any, plot_name: str) -> None:
        self.plots[_unique_name(plot_name, self.plots)] = plot

    def add_table(self, table: pd.DataFrame, table_name: str) -> None:
        self.tables[_unique_name(table_name, self.tables)] = table

    def get_stage_logs(self, stage: str) -> list[str]:
        return [entry for logged_stage, entry in self.logs if logged_stage == stage]

    def add_log(self, log_entry: str, stage: str) -> None:
        self.logs.append((stage, log_entry))

    def add_model(self, model: ModelAnalysisState) -> None:
        """Add a model; whatever of features, test features, coords and dims it lacks, it shares
        with the state (HiBayES's rule)."""
        for name in ("features", "test_features", "coords", "dims"):
            if not getattr(model, name):
                setattr(model, name, getattr(self, name))
        self.models.append(model)

    def get_model(self, model_name: str) -> ModelAnalysisState:
        for model in self.models:
            if model.model_name == model_name:
                return model
        raise UnknownModelError(f"no model named '{model_name}'; the models are: {[m.model_name for m in self.models]}")

    def get_best_model(self, with_respect_to: str | None = None, minimum: bool = False) -> ModelAnalysisState:
        """The best fitted model.

        By default: PSIS-LOO with its uncertainty (`hibayes.communicate.compare_models`): the
        top-ranked model by elpd_loo, unless models within one standard error of the difference
        (elpd_diff <= dse) include simpler ones (smaller p_loo); then the simplest of those. No
        checker has to have run. A single fitted model is the best without any comparison.

        With `with_respect_to`, HiBayES's rule: the largest (or, with `minimum`, smallest) value
        of that diagnostic among the models that recorded it.
        """
        if with_respect_to is not None:
            scored = [(m.diagnostics[with_respect_to], m) for m in self.models if m.diagnostics.get(with_respect_to) is not None]
            if not scored:
                raise ValueError(f"No models have diagnostic '{with_respect_to}'.")
            return (min if minimum else max)(scored, key=lambda pair: pair[0])[1]
        from hibayes.communicate.comparison import compare_models

        fitted = [m for m in self.models if m.is_fitted and m.inference_data is not None]
        if len(fitted) == 1:
            return fitted[0]
        _, best, _ = compare_models(fitted)
        return self.get_model(best)

    def save(self, path: str | Path, incremental: bool = False) -> None:
        """Write the state to the folder `path` (see `hibayes.state_io`; no pickle). `incremental`
        keeps the data, processed data and features if they are already there."""
        from hibayes.state_io import save_state

        save_state(self, Path(path), incremental=incremental)

    @classmethod
    def load(cls, path: str | Path) -> AnalysisState:
        """A state saved by `save`. Figures stay PNG files; models are rebuilt from the model
        registry, so custom models' `path:` files must be imported first."""
        from hibayes.state_io import load_state

        return load_state(Path(path))
