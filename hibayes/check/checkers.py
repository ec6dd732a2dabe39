"""Checkers. Each builder takes its YAML kwargs and returns
`inner(state: ModelAnalysisState, display) -> (ModelAnalysisState, "pass"|"fail"|"error"|"NA")`.

`@checker` registers a builder to run after fitting; `@checker(when="before")` before it (prior
checks). The stage is recorded on the builder (`builder.when`, or `checker_when(name)`).

The built-ins also record a `CheckOutcome` in `state.checks` (value and threshold), so results are
data: the Dagster asset checks, the warehouse and the CLI all show the same numbers. Their
diagnostics go to `state.diagnostics` under HiBayES's names, their figures to `state.plots`.

Predictive plots are judged by a person or not at all: they return "pass"/"fail" only when the
person answered, and "NA" otherwise. They ask only when `interactive=True`, stdin is a terminal
and a display was passed in; HiBayES asked whenever `interactive` was on, which blocked headless
runs (or died on EOF).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from hibayes import idata as idata_api
from hibayes.analysis_state import ModelAnalysisState
from hibayes.model import grouped_predictive
from hibayes.model.aggregate import OBSERVED_SITE, RowGroups, group_identical_rows
from hibayes.plugins import raised
from hibayes.registry import Registry

CheckerResult = Literal["pass", "fail", "error", "NA"]
Checker = Callable[[ModelAnalysisState, Any], tuple[ModelAnalysisState, CheckerResult]]
CHECKERS: Registry[Checker] = Registry("checker")
RESULTS: tuple[str, ...] = ("pass", "fail", "error", "NA")
WHEN = ("before", "after")

log = logging.getLogger("hibayes")


def checker(func: Callable[..., Checker] | None = None, *, name: str | None = None, when: str = "after") -> Any:
    """`@checker`, `@checker(when="before")` or `@checker(name=...)`: register a checker builder."""
    if when not in WHEN:
        raise ValueError(f"checker 'when' must be 'before' or 'after', not '{when}'")

    def register(builder: Callable[..., Checker]) -> Callable[..., Checker]:
        builder.when = when  # type: ignore[attr-defined]  # read by checker_when / run_checks
        return CHECKERS.register(builder, name)

    return register if func is None else register(func)


def checker_when(name: str) -> str:
    """"before" or "after" (fitting) for a registered checker."""
    return getattr(CHECKERS.builder(name), "when", "after")


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    status: CheckerResult
    value: float | None
    threshold: float | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checker(name: str, kwargs: dict[str, Any], state: ModelAnalysisState, display: Any = None) -> CheckOutcome:
    """Run one checker and return (and record in `state.checks`) its outcome. An exception, or a
    result that is not one of pass/fail/error/NA, becomes an "error" outcome saying why (and for
    an exception, at which line of the checker's file)."""
    state.checks.pop(name, None)  # whatever is recorded below comes from this run
    try:
        state, status = CHECKERS.build(name, kwargs)(state, display)
    except Exception as err:
        outcome = CheckOutcome(name, "error", None, None, raised(err, CHECKERS.builder(name) if name in CHECKERS else None))
    else:
        if status not in RESULTS:
            outcome = CheckOutcome(name, "error", None, None, f"returned {status!r}, not one of {', '.join(RESULTS)}")
        else:
            outcome = state.checks.get(name) or CheckOutcome(name, status, None, None, f"custom checker returned {status}")
    state.checks[name] = outcome
    return outcome


def run_checks(
    checkers: Iterable[tuple[str, dict[str, Any]]], state: ModelAnalysisState, when: str, display: Any = None
) -> list[CheckOutcome]:
    """Run, in order, the checkers of one stage ("before" or "after" fitting). An unknown name runs
    with the "after" ones, where it becomes an "error" outcome naming the closest checker."""
    return [run_checker(name, kwargs, state, display) for name, kwargs in checkers if _stage(name) == when]


def _stage(name: str) -> str:
    return checker_when(name) if name in CHECKERS else "after"


def _record(state: ModelAnalysisState, outcome: CheckOutcome, **diagnostics: Any) -> tuple[ModelAnalysisState, CheckerResult]:
    state.checks[outcome.name] = outcome
    for key, value in diagnostics.items():
        state.add_diagnostic(key, value)
    return state, outcome.status


def _logger(display: Any) -> logging.Logger:
    return getattr(display, "logger", None) or log


def _seed(state: ModelAnalysisState) -> int:
    return int(getattr(getattr(state.model_config, "fit", None), "seed", 0))


def _dims(state: ModelAnalysisState) -> dict[str, list[str]]:
    # A built model's own dims win, as in the fit (the three-level models' nested effects).
    return {**state.dims, **getattr(state.model, "dims", {})}


# --- convergence -----------------------------------------------------------------------------


def _convergence_check(state: ModelAnalysisState, column: str, threshold: float, below: bool) -> tuple[ModelAnalysisState, CheckerResult]:
    """Pass when every varying posterior element's `column` (r_hat, ess_bulk, ess_tail) is below
    (or above) `threshold`. Constant elements (a dummy-coded reference level) have no meaningful
    r_hat or ESS and are left out; HiBayES counted their NaN r_hat as a failure. A NaN on a varying
    element fails, and so does a posterior in which nothing varies: the sampler did not move.
    The per-element table is computed once per fit and shared by the three checkers."""
    table = state.cached("convergence", lambda: idata_api.convergence_table(state.inference_data))
    constant = table["constant"].to_numpy()
    per_element = table.set_index("parameter")[column].where(~constant)
    varying = table[~constant]
    if varying.empty:
        outcome = CheckOutcome(column, "fail", None, threshold, "no posterior element varies across draws")
        return _record(state, outcome, **{column: per_element})
    values = varying[column].to_numpy()
    passes = values < threshold if below else values > threshold
    if below:
        worst = varying.iloc[int(np.argmax(np.nan_to_num(values, nan=np.inf)))]
    else:
        worst = varying.iloc[int(np.argmin(np.nan_to_num(values, nan=-np.inf)))]
    ignored = f"; {int(constant.sum())} constant element(s) ignored" if constant.any() else ""
    message = (
        f"{'max' if below else 'min'} {column} {worst[column]:.4g} ({worst['parameter']}); {int((~passes).sum())} of "
        f"{len(varying)} elements not {'below' if below else 'above'} {threshold:g}{ignored}"
    )
    outcome = CheckOutcome(column, "pass" if passes.all() else "fail", float(worst[column]), threshold, message)
    return _record(state, outcome, **{column: per_element})


@checker
def r_hat(threshold: float = 1.01) -> Checker:
    """Pass when every varying posterior element (deterministic sites included) has
    rank-normalised split r_hat below `threshold` (see `_convergence_check`)."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        return _convergence_check(state, "r_hat", threshold, below=True)

    return inner


@checker
def ess_bulk(threshold: float = 1000) -> Checker:
    """Pass when every varying posterior element has bulk effective sample size above `threshold`."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        return _convergence_check(state, "ess_bulk", threshold, below=False)

    return inner


@checker
def ess_tail(threshold: float = 1000) -> Checker:
    """Pass when every varying posterior element has tail (5% and 95% quantile) effective sample
    size above `threshold`."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        return _convergence_check(state, "ess_tail", threshold, below=False)

    return inner


@checker
def divergences(threshold: int = 0) -> Checker:
    """Pass when the number of divergent transitions is at most `threshold`."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        count = idata_api.divergences(state.inference_data)
        status: CheckerResult = "pass" if count <= threshold else "fail"
        outcome = CheckOutcome("divergences", status, float(count), float(threshold), f"{count} divergent transitions (<= {threshold} to pass)")
        return _record(state, outcome, divergences=count)

    return inner


@checker
def bfmi(threshold: float = 0.20) -> Checker:
    """Pass when every chain's energy Bayesian fraction of missing information is at least
    `threshold`; low BFMI means momentum resampling explores the energy distribution poorly
    (heavy tails, funnels). Computed from the sampler's `energy`, which the fit records."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        if not idata_api.has_energy(state.inference_data):
            return _record(state, CheckOutcome("bfmi", "NA", None, threshold, "no energy in sample_stats: BFMI not computed"))
        per_chain = idata_api.bfmi(state.inference_data)
        lowest = float(per_chain.min())
        low_chains = np.flatnonzero(per_chain < threshold).tolist()
        status: CheckerResult = "fail" if low_chains else "pass"
        message = f"min BFMI {lowest:.3f} (>= {threshold} to pass)" + (f"; low in chains {low_chains}" if low_chains else "")
        return _record(state, CheckOutcome("bfmi", status, lowest, threshold, message), bfmi=per_chain)

    return inner


# --- predictive accuracy ---------------------------------------------------------------------


@checker
def loo(reff_threshold: float = 0.7, scale: str = "log") -> Checker:
    """PSIS leave-one-out cross-validation; fail when any observation's Pareto k exceeds
    `reff_threshold`. Despite its name (kept from HiBayES so configs run unchanged),
    `reff_threshold` is the Pareto-k threshold, not a relative-ESS one: above 0.7 the importance
    sampling estimate for that observation is unreliable."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        if not idata_api.has_log_likelihood(state.inference_data):
            return _record(state, CheckOutcome("loo", "NA", None, reff_threshold, "no log_likelihood group: LOO not computed"))
        ic = state.get_ic("loo", scale)
        k = ic.pareto_k
        # A weighted column's Pareto k is that of each of the observations it stands for.
        bad = int(ic.weights[k > reff_threshold].sum())
        status: CheckerResult = "fail" if bad else "pass"
        message = (
            f"elpd_loo {ic.elpd:.2f} ± {ic.se:.2f} (p_loo {ic.p:.2f}, {scale} scale); {bad} of {ic.n_observations} "
            f"observations with Pareto k > {reff_threshold} (max {np.nanmax(k):.2f})"
        )
        outcome = CheckOutcome("loo", status, float(np.nanmax(k)), reff_threshold, message)
        return _record(
            state, outcome, loo=ic.raw, elpd_loo=ic.elpd, se_elpd_loo=ic.se, p_loo=ic.p, loo_i=ic.pointwise, pareto_k=k,
            **_pointwise_weights(ic),
        )

    return inner


@checker
def waic(scale: str = "log") -> Checker:
    """The widely applicable information criterion, recorded for comparison; always NA (WAIC
    has no pass/fail threshold; `loo` is the better-founded check)."""

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        if not idata_api.has_log_likelihood(state.inference_data):
            return _record(state, CheckOutcome("waic", "NA", None, None, "no log_likelihood group: WAIC not computed"))
        ic = state.get_ic("waic", scale)
        message = f"elpd_waic {ic.elpd:.2f} ± {ic.se:.2f}, p_waic {ic.p:.2f} ({scale} scale)"
        if ic.warning:
            message += "; ArviZ warns that WAIC may be unreliable (p_waic > 0.4 for some observations)"
        _logger(display).info(message)
        return _record(
            state, CheckOutcome("waic", "NA", ic.elpd, None, message),
            waic=ic.raw, elpd_waic=ic.elpd, se_elpd_waic=ic.se, p_waic=ic.p, waic_i=ic.pointwise,
            **_pointwise_weights(ic),
        )

    return inner


def _pointwise_weights(ic: idata_api.InformationCriterion) -> dict[str, np.ndarray]:
    """`pointwise_weight`, the observations each entry of `loo_i` / `waic_i` / `pareto_k` stands
    for, when the fit's log-likelihood is weighted (binomial trials, grouped rows)."""
    return {} if ic.groups is None else {"pointwise_weight": ic.weights}


# --- predictive checks -----------------------------------------------------------------------


def _observed_sites(state: ModelAnalysisState) -> list[str]:
    """The model's observed sample sites. The model is traced abstractly (`jax.eval_shape`):
    running it eagerly would compile every operation one by one, which takes seconds."""
    import jax
    import jax.numpy as jnp
    from numpyro import handlers

    found: list[str] = []

    def probe() -> Any:
        trace = handlers.trace(handlers.seed(state.model, 0)).get_trace(state.features)
        found.extend(name for name, site in trace.items() if site["type"] == "sample" and site["is_observed"])
        return jnp.zeros(())

    jax.eval_shape(probe)
    return found


def _predict(
    state: ModelAnalysisState,
    key_offset: int,
    options: dict[str, Any],
    posterior: dict[str, np.ndarray] | None = None,
    features: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """NumPyro `Predictive` on the prior features (observations left out; `features` instead when
    given), compiled as one program that the persistent compilation cache keeps; run eagerly, every
    operation compiles on its own, which takes seconds. Posterior draws are arguments, so they are
    not baked into the program."""
    import jax
    from numpyro.infer import Predictive

    prior_features = state.prior_features if features is None else features

    def run(key: Any, samples: dict[str, Any] | None) -> dict[str, Any]:
        return Predictive(state.model, posterior_samples=samples, **options)(key, prior_features)

    samples = jax.jit(run)(jax.random.PRNGKey(_seed(state) + key_offset), posterior)
    return {name: np.asarray(value) for name, value in samples.items()}


def _row_groups(state: ModelAnalysisState) -> RowGroups | None:
    """The identical rows the fit samples once (`hibayes.model.aggregate`), when its config groups
    them and the model's only observed site is `obs`: its predictive draws are then counts."""
    fit_config = getattr(state.model_config, "fit", None)
    if not getattr(fit_config, "aggregate_rows", False):
        return None

    def compute() -> RowGroups | None:
        groups = group_identical_rows(state.model, state.features)
        return groups if groups is not None and _observed_sites(state) == [OBSERVED_SITE] else None

    return state.cached("row_groups", compute)


def _grouped_prior_features(state: ModelAnalysisState, groups: RowGroups) -> dict[str, Any]:
    grouped = groups.grouped_features(state.features)
    return {**{name: grouped[name] for name in state.prior_features}, OBSERVED_SITE: None}


def _predictive_counts(
    state: ModelAnalysisState, groups: RowGroups, draws: dict[str, np.ndarray], group: str, key_offset: int
) -> tuple[idata_api.ValueCounts, idata_api.InferenceData] | None:
    """`obs` predicted per distinct row as counts from `draws` (the latent sites' (draws, ...)
    values) and the predictive `group` holding them (with their lazy per-row view); None when
    `obs` takes too many values for counts."""
    latent = {name: value for name, value in draws.items() if name not in groups.row_sites}
    found = grouped_predictive.value_probabilities(state.model, _grouped_prior_features(state, groups), groups.n_distinct, latent)
    if found is None:
        return None
    values, probabilities = found
    seed = _seed(state) + key_offset
    counted = idata_api.ValueCounts(values, grouped_predictive.value_counts(probabilities, groups, seed)[None], groups.inverse)
    return counted, idata_api.from_value_counts(group, OBSERVED_SITE, counted, seed, state.coords, _dims(state))


def _expanded_row_sites(samples: dict[str, np.ndarray], groups: RowGroups) -> dict[str, np.ndarray]:
    """(draws, ...) samples of the grouped features with each per-row site back to one entry per row."""
    return {
        name: np.take(value, groups.inverse, axis=1 + groups.row_sites[name]) if name in groups.row_sites else value
        for name, value in samples.items()
    }


@checker(when="before")
def prior_predictive_check(num_samples: int = 1000, predictive_kwargs: dict[str, Any] | None = None) -> Checker:
    """Draw `num_samples` times from the prior (observations left out) and store the draws: the
    observed sites in the `prior_predictive` group and every latent and deterministic site in the
    `prior` group (HiBayES put all of them in `prior_predictive`). Always NA: it judges nothing."""
    predictive_kwargs = dict(predictive_kwargs or {})

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        # Vectorised over draws; `predictive_kwargs` may override both (e.g. the draw count, as
        # prior_predictive_plot has no num_samples of its own).
        options = {"num_samples": num_samples, "parallel": True, **predictive_kwargs}
        groups = _row_groups(state)
        if groups is not None:
            samples = _predict(state, 0, options, features=_grouped_prior_features(state, groups))
            counted = _predictive_counts(state, groups, samples, "prior_predictive", 0)
            if counted is not None:
                latent = _expanded_row_sites({n: v for n, v in samples.items() if n != OBSERVED_SITE}, groups)
                prior = idata_api.extend(idata_api.from_draws({"prior": latent}, state.coords, _dims(state)), counted[1])
                state.inference_data = idata_api.extend(state.inference_data, prior)
                message = (
                    f"{len(samples[OBSERVED_SITE])} prior draws: obs in prior_predictive as counts of its values over "
                    f"{groups.n_distinct} distinct rows standing for {groups.n_rows}, {len(latent)} latent sites in prior"
                )
                return _record(state, CheckOutcome("prior_predictive_check", "NA", None, None, message))
        samples = _predict(state, 0, options)
        observed = [name for name in _observed_sites(state) if name in samples] or [n for n in samples if n == "obs"]
        groups = {
            "prior_predictive": {n: v for n, v in samples.items() if n in observed},
            "prior": {n: v for n, v in samples.items() if n not in observed},
        }
        prior = idata_api.from_draws(groups, state.coords, _dims(state))
        state.inference_data = idata_api.extend(state.inference_data, prior)
        draws = len(next(iter(samples.values())))
        message = f"{draws} prior draws: {', '.join(observed)} in prior_predictive, {len(groups['prior'])} latent sites in prior"
        return _record(state, CheckOutcome("prior_predictive_check", "NA", None, None, message))

    return inner


def _may_prompt(interactive: bool, display: Any) -> bool:
    """Ask a person only when one can answer: asked for, a display to ask through, a terminal."""
    stdin = sys.stdin
    return bool(interactive and display is not None and stdin is not None and stdin.isatty())


def _ask(display: Any, question: str) -> bool:
    prompt_user = getattr(display, "prompt_user", None)
    if callable(prompt_user):
        return bool(prompt_user(question))
    return input(f"{question} [y/n] ").strip().lower().startswith("y")


# Predictive draws of a variable: per row, or counts of identical rows' values with the divisor of
# each row's value (its trials, for proportions) or None.
PredictiveDraws = np.ndarray | tuple[idata_api.ValueCounts, np.ndarray | None]

QUANTILES = [0.05, 0.5, 0.95]


def _quantiles(values: PredictiveDraws) -> str:
    if isinstance(values, tuple):
        q = values[0].quantiles(np.array(QUANTILES), values[1])
    else:
        q = np.nanquantile(np.ravel(values).astype(float), QUANTILES)
    return f"5% {q[0]:.3g}, median {q[1]:.3g}, 95% {q[2]:.3g}"


def _plot_predictive(
    draws: PredictiveDraws, observed: np.ndarray | None, name: str, group: str, kind: str, figsize: Any, plot_kwargs: dict[str, Any]
) -> Any:
    if isinstance(draws, tuple):
        return idata_api.plot_ppc_counts(draws[0], observed, name, group, kind, figsize, draws[1], **plot_kwargs)
    return idata_api.plot_ppc(draws, observed, name, group, kind, figsize, **plot_kwargs)


def _predictive_draws(idata: Any, group: str) -> dict[str, PredictiveDraws]:
    """The observed sites' draws of a predictive group; `obs` as counts where it has them (its
    per-row view is then left unread: reading it would expand every draw)."""
    counted = idata_api.value_counts(idata, group, OBSERVED_SITE)
    layout = {f"{OBSERVED_SITE}_value_counts", f"{OBSERVED_SITE}_row_to_distinct", OBSERVED_SITE if counted is not None else ""}
    draws: dict[str, PredictiveDraws] = {
        n: idata_api.values(idata, group, n) for n in idata_api.group_variables(idata, group) if n not in layout
    }
    if counted is not None:
        draws[OBSERVED_SITE] = (counted, None)
    return draws


def _n_total(state: ModelAnalysisState) -> np.ndarray:
    if "n_total" not in state.features:
        raise ValueError("plot_proportion needs the feature 'n_total' (trials per observation)")
    return np.asarray(state.features["n_total"])


def _judge(display: Any, interactive: bool, question: str) -> CheckerResult:
    if not _may_prompt(interactive, display):
        return "NA"
    return "pass" if _ask(display, question) else "fail"


def _not_judged(interactive: bool, display: Any) -> str:
    if not interactive:
        return "interactive is off"
    return "no display passed" if display is None else "stdin is not a terminal"


@checker(when="before")
def prior_predictive_plot(
    variables: list[str] | None = None,
    kind: str = "kde",
    figsize: tuple[float, float] = (12, 8),
    plot_proportion: bool = False,
    save_path: str | None = None,
    plot_kwargs: dict[str, Any] | None = None,
    predictive_kwargs: dict[str, Any] | None = None,
    interactive: bool = True,
) -> Checker:
    """Plot prior predictive draws (`{var}_prior_predictive` figures; `{save_path}_prior_pred_{var}.png`
    too when `save_path` is set). By default the observed sites (or `prop_pred` = obs / n_total with
    `plot_proportion`) and the model's `main_effect_params` (their prior draws). Runs
    `prior_predictive_check` first if there are no prior draws yet. "pass"/"fail" when a person
    answered (a "no" stops at that variable), else "NA"."""
    plot_kwargs = dict(plot_kwargs or {})

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        if not idata_api.has_group(state.inference_data, "prior_predictive"):
            state, _ = prior_predictive_check(predictive_kwargs=predictive_kwargs)(state, display)
        idata = state.inference_data
        predictive = _predictive_draws(idata, "prior_predictive")
        if plot_proportion:
            obs = predictive["obs"]
            predictive["prop_pred"] = (obs[0], _n_total(state)) if isinstance(obs, tuple) else obs / _n_total(state)
        if variables:
            names = list(variables)
        else:
            names = ["prop_pred"] if plot_proportion else [n for n in predictive if "obs" in n]
            names += list(getattr(state.model_config, "main_effect_params", None) or ())
        latent = idata_api.group_variables(idata, "prior")
        verdict: CheckerResult = "NA"
        plotted = []
        for name in names:
            if name in predictive:
                fig = _plot_predictive(predictive[name], None, name, "prior", kind, figsize, plot_kwargs)
                described = _quantiles(predictive[name])
            elif name in latent:
                fig = idata_api.plot_prior(idata, name, figsize)
                described = _quantiles(idata_api.values(idata, "prior", name))
            else:
                _logger(display).warning("prior_predictive_plot: '%s' is not a site of %s", name, state.model_name)
                continue
            state.add_plot(fig, f"{name}_prior_predictive")
            plotted.append(name)
            if save_path:
                fig.savefig(f"{save_path}_prior_pred_{name}.png", bbox_inches="tight")
            verdict = _judge(display, interactive, f"Is the prior predictive distribution of '{name}' acceptable ({described})?")
            if verdict == "fail":
                break
        shown = ", ".join(plotted) or "nothing"
        if verdict == "NA":
            message = f"plotted {shown}; not judged ({_not_judged(interactive, display)})"
        else:
            message = f"plotted {shown}; judged {verdict} by the user"
        return _record(state, CheckOutcome("prior_predictive_plot", verdict, None, None, message))

    return inner


def _posterior_predictive(state: ModelAnalysisState, num_samples: int, predictive_kwargs: dict[str, Any]) -> PredictiveDraws:
    """`obs` predicted from `num_samples` posterior draws, chosen without replacement with a fixed
    seed (HiBayES used every draw, ignoring `num_samples`), stored as the `posterior_predictive`
    group (observed sites only: deterministic sites stay in the posterior). Identical rows fitted
    once are predicted as counts (`hibayes.model.grouped_predictive`)."""
    idata = state.inference_data
    chains, draws = idata_api.draw_shape(idata, "posterior")
    wanted = min(num_samples, chains * draws)
    if idata_api.has_group(idata, "posterior_predictive") and idata_api.draw_shape(idata, "posterior_predictive") == (1, wanted):
        # This checker already predicted as many draws with the same fixed seed: reuse them.
        return _predictive_draws(idata, "posterior_predictive")[OBSERVED_SITE]
    keep = np.sort(np.random.default_rng(_seed(state) + 1).choice(chains * draws, size=wanted, replace=False))
    posterior = {name: draws_[keep] for name, draws_ in idata_api.flat_draws(idata).items()}
    groups = _row_groups(state)
    counted = _predictive_counts(state, groups, posterior, "posterior_predictive", 1) if groups is not None else None
    if counted is not None:
        state.inference_data = idata_api.extend(idata, counted[1])
        return counted[0], None
    samples = _predict(state, 1, {"return_sites": _observed_sites(state), "parallel": True, **predictive_kwargs}, posterior)
    state.inference_data = idata_api.extend(idata, idata_api.from_draws({"posterior_predictive": samples}, state.coords, _dims(state)))
    return samples[OBSERVED_SITE][None, ...]


@checker
def posterior_predictive_plot(
    num_samples: int = 500,
    kind: str = "kde",
    figsize: tuple[float, float] = (12, 8),
    plot_proportion: bool = False,
    plot_kwargs: dict[str, Any] | None = None,
    predictive_kwargs: dict[str, Any] | None = None,
    interactive: bool = True,
) -> Checker:
    """Predict the observations from `num_samples` posterior draws and plot them against the
    data (`posterior_predictive_plot` figure; `obs`, or `prop_pred` = obs / n_total with
    `plot_proportion`). The value recorded is the posterior predictive p-value of the mean,
    P(mean(y_rep) >= mean(y)): near 0 or 1, the model misses the data's level. "pass"/"fail"
    when a person answered, else "NA"."""
    plot_kwargs = dict(plot_kwargs or {})
    predictive_kwargs = dict(predictive_kwargs or {})

    def inner(state: ModelAnalysisState, display: Any = None) -> tuple[ModelAnalysisState, CheckerResult]:
        if not idata_api.has_group(state.inference_data, "posterior"):
            return _record(state, CheckOutcome("posterior_predictive_plot", "NA", None, None, "not fitted: nothing to predict from"))
        predicted = _posterior_predictive(state, num_samples, predictive_kwargs)
        observed = np.asarray(state.features["obs"])
        name = "obs"
        if plot_proportion:
            n_total = _n_total(state)
            observed, name = observed / n_total, "prop_pred"
            predicted = (predicted[0], n_total) if isinstance(predicted, tuple) else predicted / n_total
        fig = _plot_predictive(predicted, observed, name, "posterior", kind, figsize, plot_kwargs)
        state.add_plot(fig, "posterior_predictive_plot")
        if isinstance(predicted, tuple):
            draw_means, draws = np.ravel(predicted[0].draw_means(predicted[1])), predicted[0].counts.shape[0] * predicted[0].counts.shape[1]
        else:
            draw_means, draws = predicted.reshape(-1, observed.size).mean(axis=1), predicted.shape[0] * predicted.shape[1]
        p_mean = float((draw_means >= observed.mean()).mean())
        verdict = _judge(
            display, interactive,
            f"Does the posterior-predictive distribution align with the data (p-value of the mean {p_mean:.2f})?",
        )
        judged = f"judged {verdict} by the user" if verdict != "NA" else f"not judged ({_not_judged(interactive, display)})"
        message = f"{draws} posterior predictive draws of {name}; p-value of the mean {p_mean:.2f}; {judged}"
        return _record(state, CheckOutcome("posterior_predictive_plot", verdict, p_mean, None, message), ppc_p_value_mean=p_mean)

    return inner
