"""The five HiBayES communicators on two tiny real fits of the same data (a dummy-coded two-group
normal model and a pooled one, shared with test_checkers_full.py): each writes its figure or
table, the best model needs no `waic` checker and follows the LOO rule, and the HiBayES defects
(invalid "Error" result, discarded comparison table, `vars` carried across models) are gone."""

from __future__ import annotations

import pandas as pd
import pytest

from hibayes.analysis_state import AnalysisState
from hibayes.communicate import COMMUNICATORS, compare_models, pick_best
from hibayes.config import ModelSpec
from tests.unit.test_checkers_full import fitted

COMPARE_COLUMNS = ["model", "rank", "elpd_loo", "p_loo", "elpd_diff", "weight", "se", "dse", "warning", "scale", "best"]


@pytest.fixture
def analysis() -> AnalysisState:
    return AnalysisState(data=pd.DataFrame({"x": [1]}), models=[fitted("grouped"), fitted("pooled")])


def run(state: AnalysisState, name: str, **kwargs) -> str:
    state, result = COMMUNICATORS.build(name, kwargs)(state, None)
    assert result in ("pass", "fail", "error", "NA")
    return result


def test_each_communicator_writes_its_figure_or_table(analysis, tmp_path):
    results = {
        name: run(analysis, name, **kwargs)
        for name, kwargs in [
            ("forest_plot", {"best_model": False, "vertical_line": 0, "combined": True}),
            ("trace_plot", {"best_model": False}),
            ("pair_plot", {"best_model": False}),
            ("model_comparison_plot", {"ic": "waic"}),
            ("model_comparison_plot", {"ic": "loo"}),
            ("summary_table", {"best_model": False}),
        ]
    }
    assert set(results.values()) == {"pass"}
    assert sorted(analysis.plots) == sorted([
        "model_grouped_mu-group_effects_forest", "model_pooled_mu-sigma_forest",
        "model_grouped_trace", "model_pooled_trace", "model_grouped_pair", "model_pooled_pair",
        "model_comparison_waic", "model_comparison_loo",
    ])
    assert sorted(analysis.tables) == sorted(["model_comparison_waic", "model_comparison_loo", "model_grouped_summary", "model_pooled_summary"])
    for name, fig in analysis.plots.items():
        width, height = fig.get_size_inches()
        assert 2 <= width <= 16 and 1.5 <= height <= 12, (name, width, height)  # sized to the content
        fig.savefig(tmp_path / f"{name}.png", dpi=60)  # the caller picks the dpi
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    for name, table in analysis.tables.items():
        table.to_csv(tmp_path / f"{name}.csv", index=False)
        assert len(pd.read_csv(tmp_path / f"{name}.csv")) == len(table) > 0
    # Trace and pair plots default to main_effect_params: two rows (mu, group_effects) of two
    # panels; a pair plot of the varying elements only (group_effects[a] is constant).
    assert len(analysis.plots["model_grouped_trace"].axes) == 4
    pair_axes = analysis.plots["model_grouped_pair"].axes
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in pair_axes] == [("mu", "group_effects[b]")]
    assert analysis.plots["model_grouped_mu-group_effects_forest"].axes[0].lines[-1].get_xdata()[0] == 0  # vertical_line


def test_model_comparison_keeps_the_table_and_names_the_best_model(analysis):
    table, best, reason = compare_models(analysis.models)
    assert list(table.columns) == COMPARE_COLUMNS
    assert list(table["rank"]) == [0, 1] and table["elpd_diff"].iloc[0] == 0
    assert table["weight"].sum() == pytest.approx(1)
    assert table.loc[table["best"], "model"].tolist() == [best]
    assert best == pick_best(table.set_index("model"))[0] and best in reason
    assert run(analysis, "model_comparison_plot") == "pass"
    assert analysis.tables["model_comparison_loo"].equals(table)
    assert any("best model" in entry for stage, entry in analysis.logs if stage == "communicate")

    # Listing the communicator twice keeps both outputs (HiBayES's unique naming).
    run(analysis, "model_comparison_plot")
    assert {"model_comparison_loo", "model_comparison_loo_1"} <= set(analysis.plots)


def test_model_comparison_needs_two_fitted_models():
    single = AnalysisState(data=pd.DataFrame(), models=[fitted("pooled")])
    assert run(single, "model_comparison_plot", ic="loo") == "NA"  # HiBayES returned "Error"
    assert not single.plots and "comparison needs two" in single.logs[-1][1]
    table, best, reason = compare_models(single.models)
    assert len(table) == 1 and best == "pooled" and reason == "pooled is the only fitted model"
    with pytest.raises(ValueError, match="no fitted models"):
        compare_models([])


@pytest.mark.parametrize(
    "rows, expected, because",
    [
        # (model, elpd_diff, dse, p_loo), ranked best first
        ([("complex", 0.0, 0.0, 6.0), ("simple", 1.0, 1.5, 2.0), ("middle", 0.5, 0.8, 4.0)], "simple", "within one standard error"),
        ([("complex", 0.0, 0.0, 6.0), ("simple", 4.0, 1.5, 2.0)], "complex", "highest elpd_loo"),
        ([("simple", 0.0, 0.0, 2.0), ("complex", 0.2, 1.0, 6.0)], "simple", "highest elpd_loo"),
    ],
)
def test_best_model_rule_prefers_the_simplest_model_within_one_standard_error(rows, expected, because):
    table = pd.DataFrame(
        {"rank": range(len(rows)), "elpd_loo": [-100 - r[1] for r in rows], "elpd_diff": [r[1] for r in rows],
         "dse": [r[2] for r in rows], "p_loo": [r[3] for r in rows]},
        index=[r[0] for r in rows],
    )
    best, reason = pick_best(table)
    assert best == expected and because in reason


def test_best_model_needs_no_waic_checker(analysis):
    assert not any("elpd_waic" in m.diagnostics for m in analysis.models)
    best = analysis.get_best_model()
    assert best.model_name == compare_models(analysis.models)[1]
    # best_model=True (the default): only the best model's figure and table.
    assert run(analysis, "forest_plot") == run(analysis, "summary_table") == "pass"
    assert list(analysis.plots) == [f"model_{best.model_name}_{'-'.join(best.model_config.main_effect_params)}_forest"]
    assert list(analysis.tables) == [f"model_{best.model_name}_summary"]

    # HiBayES's rule stays available by name: the largest value of a recorded diagnostic.
    with pytest.raises(ValueError, match="No models have diagnostic 'elpd_waic'"):
        analysis.get_best_model("elpd_waic")
    for model, value in zip(analysis.models, (-10.0, -20.0)):
        model.add_diagnostic("elpd_waic", value)
    assert analysis.get_best_model("elpd_waic").model_name == "grouped"
    assert analysis.get_best_model("elpd_waic", minimum=True).model_name == "pooled"


def test_summary_table_chooses_variables_per_model(analysis):
    assert run(analysis, "summary_table", best_model=False, round_to=3) == "pass"
    grouped, pooled = analysis.tables["model_grouped_summary"], analysis.tables["model_pooled_summary"]
    # Each model's own main_effect_params (HiBayES reused the first model's for all of them).
    assert grouped["parameter"].tolist() == ["mu", "group_effects[a]", "group_effects[b]"]
    assert pooled["parameter"].tolist() == ["mu", "sigma"]
    assert {"mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "ess_tail", "r_hat"} <= set(grouped.columns)
    assert grouped["mean"].round(3).equals(grouped["mean"])

    model = analysis.models[0]
    assert model.get_summary() is model.get_summary()  # computed once
    assert model.get_summary(["mu_overall"]).empty  # whole names: `mu` never matches `mu_overall`
    # Variables a model lacks are left out, with a log entry, not an error.
    assert run(analysis, "summary_table", vars=["sigma", "group_effects"], best_model=False) == "pass"
    assert analysis.tables["model_grouped_summary_1"]["parameter"].tolist() == ["sigma", "group_effects[a]", "group_effects[b]"]
    assert analysis.tables["model_pooled_summary_1"]["parameter"].tolist() == ["sigma"]
    assert ("communicate", "summary_table: pooled has no variable(s) group_effects; left out") in analysis.logs


def test_forest_plot_transform_uses_the_inverse_link(analysis):
    model = analysis.models[1]
    model.model_config = ModelSpec("pooled", main_effect_params=("mu",), link_function="logit")
    assert run(analysis, "forest_plot", best_model=False, vars=["mu"], transform=True) == "pass"
    low, high = analysis.plots["model_pooled_mu_forest"].axes[0].get_xlim()
    assert 0 <= low and high <= 1  # mu ~ 0.3 on the logit scale is plotted as a probability
