"""Communicators. Each builder takes its YAML kwargs and returns
`inner(state: AnalysisState, display) -> (AnalysisState, "pass"|"fail"|"error"|"NA")`; they add
figures with `state.add_plot` and tables with `state.add_table`, and leave saving (format, dpi) to
the caller. "NA" means there was nothing to show, with the reason in `state.logs`.

`best_model=True` (HiBayES's default) shows only `state.get_best_model()`: chosen by PSIS-LOO with
its standard error (see `hibayes.communicate.comparison`), so no `waic` checker is needed.
Variables default to the model's `main_effect_params`, else its posterior variables without the
raw non-centred offsets (`z_*`); HiBayES's trace plot drew every variable, which is slow.

Titles, table cells and log lines name models as people read them (`display_name`:
"linear_group_binomial (main_effects)"); HiBayES's glued names stay in plot and table keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from hibayes import idata as idata_api
from hibayes.analysis_state import AnalysisState, ModelAnalysisState
from hibayes.communicate.comparison import compare_models, plot_comparison, pointwise_table
from hibayes.communicate.naming import display_name
from hibayes.registry import Registry, make_decorator

CommunicateResult = Literal["pass", "fail", "error", "NA"]
Communicator = Callable[[AnalysisState, Any], tuple[AnalysisState, CommunicateResult]]
COMMUNICATORS: Registry[Communicator] = Registry("communicator")
communicate = make_decorator(COMMUNICATORS)

STAGE = "communicate"
# az.compare's own arguments; the rest of model_comparison_plot's kwargs go to az.plot_compare.
COMPARE_ARGS = ("ic", "scale", "method")


def _fitted(state: AnalysisState) -> list[ModelAnalysisState]:
    return [m for m in state.models if m.is_fitted and m.inference_data is not None]


def _models_to_show(state: AnalysisState, best_model: bool) -> list[ModelAnalysisState]:
    if best_model and _fitted(state):
        return [state.get_best_model()]
    return _fitted(state)


def _note(state: AnalysisState, display: Any, message: str) -> None:
    state.add_log(message, STAGE)
    if display is not None and getattr(display, "logger", None) is not None:
        display.logger.warning(message)


def default_variables(model: ModelAnalysisState) -> list[str]:
    """The model's `main_effect_params`, else its posterior variables without the raw
    non-centred offsets (`z_*`), which only make plots longer and harder to read."""
    main = list(getattr(model.model_config, "main_effect_params", None) or ())
    if main:
        return main
    return [v for v in idata_api.posterior_variables(model.inference_data) if not v.startswith("z_")]


def _variables(model: ModelAnalysisState, wanted: list[str] | None, state: AnalysisState, display: Any, who: str) -> list[str]:
    """`wanted` (or the defaults) for this model alone, without those its posterior lacks."""
    present = idata_api.posterior_variables(model.inference_data)
    names = list(wanted) if wanted else default_variables(model)
    missing = [v for v in names if v not in present]
    if missing:
        _note(state, display, f"{who}: {display_name(model)} has no variable(s) {', '.join(missing)}; left out")
    return [v for v in names if v in present]


# A forest plot's axis under each non-identity link: (the link's own scale, after `transform`).
LINK_SCALES = {
    "logit": ("log-odds (logit scale)", "probability (inverse logit)"),
    "sigmoid": ("log-odds (logit scale)", "probability (inverse logit)"),
    "probit": ("probit scale (standard normal quantiles)", "probability (normal CDF)"),
    "cloglog": ("complementary log-log scale", "probability (inverse cloglog)"),
}


def _link_function(model: ModelAnalysisState) -> str:
    """The model's `link_function` (identity when it names none, as in HiBayES)."""
    return str(getattr(model.model_config, "link_function", None) or "identity")


def _inverse_link(model: ModelAnalysisState) -> Callable[[np.ndarray], np.ndarray] | None:
    """The response-scale transform for `transform: true`, from the model's `link_function`, as
    in HiBayES (logit and sigmoid -> probability, probit -> normal CDF, cloglog -> 1-exp(-exp))."""
    from hibayes.model.utils import cloglog_to_prob, logit_to_prob, probit_to_prob

    inverses = {"identity": None, "logit": logit_to_prob, "sigmoid": logit_to_prob, "probit": probit_to_prob, "cloglog": cloglog_to_prob}
    link = _link_function(model)
    if link not in inverses:
        raise ValueError(f"{display_name(model)}: unknown link_function '{link}'; known: {', '.join(inverses)}")
    return inverses[link]


def forest_axis_label(link: str, transform: bool) -> str:
    """The scale of a forest plot's values. HiBayES's `link_function` only says how to transform
    for plotting (its binomial models default to "identity" while sampling log-odds), so an
    identity link says only that the values are untransformed; any other link's values are on
    its own scale, or, with `transform`, probabilities."""
    if link == "identity":
        return "parameter value (identity link: untransformed)"
    return LINK_SCALES[link][transform] if link in LINK_SCALES else f"{link} scale"


@communicate
def forest_plot(
    vars: list[str] | None = None,
    vertical_line: float | None = None,
    best_model: bool = True,
    figsize: tuple[float, float] | None = None,
    transform: bool = False,
    **kwargs: Any,
) -> Communicator:
    """Posterior intervals per model (`model_{model}_{vars}_forest`); `vertical_line` marks a
    reference value, `transform` plots on the response scale, other kwargs (e.g. `combined`,
    `hdi_prob`) go to `az.plot_forest`. Without `figsize`, ArviZ sizes it by its rows."""

    def inner(state: AnalysisState, display: Any = None) -> tuple[AnalysisState, CommunicateResult]:
        drawn = 0
        for model in _models_to_show(state, best_model):
            names = _variables(model, vars, state, display, "forest_plot")
            if not names:
                continue
            fig = idata_api.plot_forest(
                model.inference_data, names, figsize, _inverse_link(model) if transform else None,
                title=display_name(model), xlabel=forest_axis_label(_link_function(model), transform), **kwargs,
            )
            if vertical_line is not None:
                fig.axes[0].axvline(vertical_line, color="tab:red", linestyle="--", linewidth=1)
            state.add_plot(fig, f"model_{model.model_name}_{'-'.join(names)}_forest")
            drawn += 1
        return state, "pass" if drawn else "NA"

    return inner


@communicate
def trace_plot(
    vars: list[str] | None = None,
    best_model: bool = True,
    figsize: tuple[float, float] | None = None,
    transform: bool = False,
    **kwargs: Any,
) -> Communicator:
    """Trace and marginal density per chain (`model_{model}_trace`); kwargs go to `az.plot_trace`."""

    def inner(state: AnalysisState, display: Any = None) -> tuple[AnalysisState, CommunicateResult]:
        drawn = 0
        for model in _models_to_show(state, best_model):
            names = _variables(model, vars, state, display, "trace_plot")
            if not names:
                continue
            inverse = _inverse_link(model) if transform else None
            fig = idata_api.plot_trace(model.inference_data, names, figsize, inverse, title=display_name(model), **kwargs)
            state.add_plot(fig, f"model_{model.model_name}_trace")
            drawn += 1
        return state, "pass" if drawn else "NA"

    return inner


@communicate
def pair_plot(
    vars: list[str] | None = None,
    best_model: bool = True,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Communicator:
    """Pairwise joint posteriors (KDE unless `kind` says otherwise) per model
    (`model_{model}_pair`), of the elements that vary (a constant reference level has no
    density); needs at least two of them. Without `figsize`, ArviZ sizes it by the elements."""

    def inner(state: AnalysisState, display: Any = None) -> tuple[AnalysisState, CommunicateResult]:
        drawn = 0
        for model in _models_to_show(state, best_model):
            elements = idata_api.varying_elements(model.inference_data, _variables(model, vars, state, display, "pair_plot"))
            if len(elements) < 2:
                _note(state, display, f"pair_plot: {display_name(model)} has fewer than two varying elements to pair")
                continue
            state.add_plot(idata_api.plot_pair(elements, figsize, title=display_name(model), **kwargs), f"model_{model.model_name}_pair")
            drawn += 1
        return state, "pass" if drawn else "NA"

    return inner


@communicate
def model_comparison_plot(**kwargs: Any) -> Communicator:
    """Rank the fitted models by `ic` ("loo" by default, or "waic") with `az.compare`: the table
    (`model_comparison_{ic}`: model, label, elpd, p, elpd_diff, weight, se, dse, warning, verdict)
    and its plot, whose title gives the verdict: the best model, or the models that are
    indistinguishable (see `hibayes.communicate.comparison`). `pointwise_ic_table` exports the
    pointwise values behind it.
    `ic`, `scale` and `method` go to `az.compare`, other kwargs to `az.plot_compare`. NA, with the
    reason logged, when fewer than two models are fitted."""
    compare_args = {k: v for k, v in kwargs.items() if k in COMPARE_ARGS}
    plot_args = {k: v for k, v in kwargs.items() if k not in COMPARE_ARGS}

    def inner(state: AnalysisState, display: Any = None) -> tuple[AnalysisState, CommunicateResult]:
        models = _fitted(state)
        if len(models) < 2:
            _note(state, display, f"model_comparison_plot: {len(models)} fitted model(s); a comparison needs two")
            return state, "NA"
        ic = compare_args.get("ic", "loo")
        table, _, reason = compare_models(models, **compare_args)
        state.add_table(table, f"model_comparison_{ic}")
        state.add_plot(plot_comparison(table, **plot_args), f"model_comparison_{ic}")
        state.add_log(f"model_comparison_plot ({ic}): {reason}", STAGE)
        return state, "pass"

    return inner


@communicate
def pointwise_ic_table(ic: str = "loo", scale: str = "log") -> Communicator:
    """Every fitted model's pointwise elpd (`ic`: "loo" or "waic") as `pointwise_{ic}`: one row
    per log-likelihood column with the observations it stands for (`weight`) and the features of
    the row it belongs to (see `hibayes.communicate.comparison.pointwise_table`). NA when no
    fitted model has a log-likelihood."""

    def inner(state: AnalysisState, display: Any = None) -> tuple[AnalysisState, CommunicateResult]:
        table = pointwise_table(_fitted(state), ic, scale)
        if table.empty:
            _note(state, display, "pointwise_ic_table: no fitted model with a log_likelihood group")
            return state, "NA"
        state.add_table(table, f"pointwise_{ic}")
        return state, "pass"

    return inner


@communicate
def summary_table(vars: list[str] | None = None, *, best_model: bool = True, round_to: int = 2) -> Communicator:
    """The ArviZ summary (mean, sd, HDI, MCSE, ESS, r_hat) per model, as `model_{model}_summary`
    with a `parameter` column. Each model gets its own default variables (HiBayES reused the
    first model's choice for every model)."""

    def inner(state: AnalysisState, display: Any = None) -> tuple[AnalysisState, CommunicateResult]:
        shown = 0
        for model in _models_to_show(state, best_model):
            names = _variables(model, vars, state, display, "summary_table")
            if not names:
                continue
            table = model.get_summary(var_names=names, round_to=round_to).rename_axis("parameter").reset_index()
            state.add_table(table, f"model_{model.model_name}_summary")
            shown += 1
        return state, "pass" if shown else "NA"

    return inner
