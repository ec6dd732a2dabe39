"""Communicators. Each builder takes its YAML kwargs and returns
`inner(state: AnalysisState, display) -> (AnalysisState, "pass"|"fail"|"error"|"NA")`; they add
figures with `state.add_plot` and tables with `state.add_table`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pandas as pd

from hibayes import idata as idata_api
from hibayes.analysis_state import AnalysisState, ModelAnalysisState
from hibayes.registry import Registry, make_decorator

CommunicateResult = Literal["pass", "fail", "error", "NA"]
Communicator = Callable[[AnalysisState, Any], tuple[AnalysisState, CommunicateResult]]
COMMUNICATORS: Registry[Communicator] = Registry("communicator")
communicate = make_decorator(COMMUNICATORS)


def _fitted(state: AnalysisState) -> list[ModelAnalysisState]:
    return [m for m in state.models if m.is_fitted and m.inference_data is not None]


def default_variables(model: ModelAnalysisState) -> list[str]:
    """The model's `main_effect_params`, else its posterior variables without the raw
    non-centred offsets (`z_*`), which only make a forest plot harder to read."""
    main = list(getattr(model.model_config, "main_effect_params", ()) or ())
    if main:
        return main
    return [v for v in idata_api.posterior_variables(model.inference_data) if not v.startswith("z_")]


@communicate
def forest_plot(
    vars: list[str] | None = None,
    vertical_line: float | None = None,
    best_model: bool = False,
    figsize: tuple[float, float] | None = None,
    **kwargs: Any,
) -> Communicator:
    """One forest plot comparing every fitted model's posterior intervals."""

    def inner(state: AnalysisState, display: Any = None) -> tuple[AnalysisState, CommunicateResult]:
        import matplotlib.pyplot as plt

        models = _fitted(state)
        if not models:
            return state, "NA"
        wanted = list(vars) if vars else default_variables(models[0])
        shared = [v for v in wanted if all(v in idata_api.posterior_variables(m.inference_data) for m in models)]
        if not shared:
            return state, "NA"
        n_rows = sum(int(models[0].inference_data.posterior[v].size / (models[0].inference_data.posterior.sizes["chain"] * models[0].inference_data.posterior.sizes["draw"])) for v in shared)
        size = figsize or (8.0, max(2.5, 0.45 * n_rows * max(1, len(models)) ** 0.5 + 1.5))
        fig = idata_api.plot_forest({m.model_name: m.inference_data for m in models}, shared, figsize=size, **kwargs)
        if vertical_line is not None:
            for ax in fig.axes:
                ax.axvline(vertical_line, color="tab:red", linestyle="--", linewidth=1)
        fig.suptitle(f"Posterior intervals (94% HDI): {', '.join(shared)}", fontsize=10)
        fig.tight_layout()
        state.add_plot(fig, f"forest_{'-'.join(shared)}")
        plt.close(fig)
        return state, "pass"

    return inner


@communicate
def summary_table(vars: list[str] | None = None, *, best_model: bool = False, round_to: int = 3) -> Communicator:
    """The ArviZ summary of each fitted model (mean, sd, HDI, MCSE, ESS, r_hat) in one table."""

    def inner(state: AnalysisState, display: Any = None) -> tuple[AnalysisState, CommunicateResult]:
        frames = []
        for m in _fitted(state):
            names = list(vars) if vars else default_variables(m)
            names = [v for v in names if v in idata_api.posterior_variables(m.inference_data)]
            table = idata_api.summary(m.inference_data, var_names=names, round_to=round_to)
            frames.append(table.reset_index(names="parameter").assign(model=m.model_name))
        if not frames:
            return state, "NA"
        combined = pd.concat(frames, ignore_index=True)
        state.add_table(combined[["model", *[c for c in combined.columns if c != "model"]]], "summary")
        return state, "pass"

    return inner
