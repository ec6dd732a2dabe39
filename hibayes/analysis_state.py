"""The state an analysis carries from stage to stage, with HiBayES's attribute names.

Custom processors, checkers and communicators read and assign these attributes, so the names and
shapes are part of the public surface: `state.processed_data`, `state.features`, `state.models`,
`state.add_plot(fig, name)`, `state.get_best_model()`, `model_analysis.inference_data`,
`.model_name`, `.is_fitted`, `.diagnostics`, `.add_diagnostic(name, value)`, `.get_summary()`, ...

Figures are kept apart from data: checkers put theirs in `ModelAnalysisState.plots`, communicators
in `AnalysisState.plots` (tables in `AnalysisState.tables`), and whoever saves the run decides the
format and dpi. `diagnostics` holds values (numbers, arrays, tables), and `checks` holds each
checker's `CheckOutcome`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

if TYPE_CHECKING:
    from hibayes.idata import InformationCriterion

Features = dict[str, Any]
Coords = dict[str, list[Any]]
Dims = dict[str, list[str]]
T = TypeVar("T")

MAX_NAME_LENGTH = 100  # names become file names when saved


def _is_figure(value: Any) -> bool:
    # Duck-typed so that this module does not import matplotlib.
    return hasattr(value, "savefig") and hasattr(value, "axes")


def _unique_name(name: str, taken: dict[str, Any]) -> str:
    """HiBayES's naming: a name already used gets `_1`, `_2`, ... (e.g. `model_comparison_plot`
    listed twice keeps both figures)."""
    name = name[:MAX_NAME_LENGTH]
    if name not in taken:
        return name
    counter = 1
    while f"{name}_{counter}" in taken:
        counter += 1
    return f"{name}_{counter}"


@dataclass
class ModelAnalysisState:
    model_name: str
    model: Callable[..., Any]
    model_config: Any
    features: Features
    coords: Coords = field(default_factory=dict)
    dims: Dims = field(default_factory=dict)
    inference_data: Any = None
    is_fitted: bool = False
    diagnostics: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    # Results derived from `inference_data` (summary, LOO, ...), dropped when it is replaced.
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _cache_for: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def prior_features(self) -> Features:
        """Every feature except the observations, with `obs` set to None for prior sampling."""
        return {**{k: v for k, v in self.features.items() if "obs" not in k}, "obs": None}

    def add_diagnostic(self, name: str, value: Any) -> None:
        """Record a diagnostic value. A figure (HiBayES's checkers stored theirs here) goes to
        `plots` instead, so that it is saved as an image rather than stringified."""
        if _is_figure(value):
            self.add_plot(value, name)
        else:
            self.diagnostics[name] = value

    def diagnostic(self, name: str) -> Any:
        return self.diagnostics.get(name)

    def add_plot(self, fig: Any, name: str) -> None:
        """A checker's figure; running the checker again replaces it."""
        self.plots[name[:MAX_NAME_LENGTH]] = fig

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` once per `inference_data` object: a refit (a new object) recomputes."""
        if self._cache_for is not self.inference_data:
            self._cache, self._cache_for = {}, self.inference_data
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def get_summary(self, var_names: list[str] | None = None, round_to: int | None = None) -> pd.DataFrame:
        """The ArviZ summary of the posterior (mean, sd, HDI, MCSE, ESS, r_hat), computed once and
        then filtered to `var_names`, in that order (whole variables: `mu` selects `mu`, never
        `mu_overall` as HiBayES's prefix match did)."""
        from hibayes import idata as idata_api

        table = self.cached("summary", lambda: idata_api.summary(self.inference_data))
        if var_names is not None:
            variable = table.index.str.split("[", n=1).str[0]
            table = pd.concat([table[variable == name] for name in var_names])  # in the order asked
        return table.round(round_to) if round_to is not None else table

    def get_ic(self, kind: str = "loo", scale: str = "log") -> InformationCriterion:
        """PSIS-LOO ("loo") or WAIC ("waic") of the fit, computed once per kind and scale; the
        `loo` checker, model comparison and `get_best_model` share it."""
        from hibayes import idata as idata_api

        return self.cached(f"ic/{kind}/{scale}", lambda: idata_api.information_criterion(self.inference_data, kind, scale))


@dataclass
class AnalysisState:
    data: pd.DataFrame
    processed_data: pd.DataFrame | None = None
    features: Features = field(default_factory=dict)
    coords: Coords = field(default_factory=dict)
    dims: Dims = field(default_factory=dict)
    test_features: Features = field(default_factory=dict)
    models: list[ModelAnalysisState] = field(default_factory=list)
    plots: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    logs: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.processed_data is None:
            self.processed_data = self.data.copy()

    def get_model(self, name: str) -> ModelAnalysisState:
        for model in self.models:
            if model.model_name == name:
                return model
        raise KeyError(f"no model named '{name}'; the models are: {[m.model_name for m in self.models]}")

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

    def add_plot(self, fig: Any, name: str) -> None:
        self.plots[_unique_name(name, self.plots)] = fig

    def add_table(self, table: pd.DataFrame, name: str) -> None:
        self.tables[_unique_name(name, self.tables)] = table

    def add_log(self, entry: str, stage: str = "") -> None:
        self.logs.append((stage, entry))
