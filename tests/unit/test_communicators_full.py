"""The five HiBayES communicators on two tiny real fits of the same data (a dummy-coded two-group
normal model and a pooled one, shared with test_checkers_full.py): each writes its figure or
table, the best model needs no `waic` checker and follows the LOO rule, and the HiBayES defects
(invalid "Error" result, discarded comparison table, `vars` carried across models, a best model
announced from a difference within its standard error) are gone. What a reader sees: model names
with their tags apart, forest axes that name their scale, trace panels whose titles clear the
panel above."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from hibayes.analysis_state import AnalysisState, ModelAnalysisState
from hibayes.communicate import COMMUNICATORS, compare_models, display_name, pick_best
from hibayes.communicate.comparison import headline, verdicts
from hibayes.config import ModelSpec
from tests.unit.test_checkers_full import fitted

COMPARE_COLUMNS = [
    "model", "label", "rank", "elpd_loo", "p_loo", "elpd_diff", "weight", "se", "dse", "warning", "scale", "verdict",
]


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
    assert best in table["model"].tolist()
    assert (best, reason) == pick_best(table.set_index("model")) and best in reason
    assert run(analysis, "model_comparison_plot") == "pass"
    assert analysis.tables["model_comparison_loo"].equals(table)
    assert ("communicate", f"model_comparison_plot (loo): {reason}") in analysis.logs

    # Listing the communicator twice keeps both outputs (HiBayES's unique naming).
    run(analysis, "model_comparison_plot")
    assert {"model_comparison_loo", "model_comparison_loo_1"} <= set(analysis.plots)


def test_pointwise_table_has_one_row_per_observation_of_each_model(analysis):
    assert run(analysis, "pointwise_ic_table", ic="waic") == "pass"
    table = analysis.tables["pointwise_waic"]
    assert table.groupby("model").size().to_dict() == {"grouped": 60, "pooled": 60}
    assert set(table["group"]) == {"a", "b"} and (table["weight"] == 1).all() and "pareto_k" not in table
    grouped = analysis.models[0]
    assert table.loc[table["model"] == "grouped", "outcome"].tolist() == grouped.features["obs"].tolist()
    assert table.loc[table["model"] == "grouped", "waic_i"].sum() == pytest.approx(grouped.get_ic("waic").elpd)


def test_model_comparison_needs_two_fitted_models():
    single = AnalysisState(data=pd.DataFrame(), models=[fitted("pooled")])
    assert run(single, "model_comparison_plot", ic="loo") == "NA"  # HiBayES returned "Error"
    assert not single.plots and "comparison needs two" in single.logs[-1][1]
    table, best, reason = compare_models(single.models)
    assert len(table) == 1 and best == "pooled" and reason == "pooled is the only fitted model"
    assert table["verdict"].tolist() == ["only model"]
    with pytest.raises(ValueError, match="no fitted models"):
        compare_models([])


def compare_table(rows: list[tuple[str, float, float, float]]) -> pd.DataFrame:
    """An `az.compare`-shaped table of (model, elpd_diff, dse, p_loo) rows, ranked best first."""
    return pd.DataFrame(
        {"rank": range(len(rows)), "elpd_loo": [-100 - r[1] for r in rows], "elpd_diff": [r[1] for r in rows],
         "dse": [r[2] for r in rows], "p_loo": [r[3] for r in rows]},
        index=[r[0] for r in rows],
    )


@pytest.mark.parametrize(
    "rows, expected, because, verdict",
    [
        # (model, elpd_diff, dse, p_loo), ranked best first
        ([("complex", 0.0, 0.0, 6.0), ("simple", 1.0, 1.5, 2.0), ("middle", 0.5, 0.8, 4.0)], "simple",
         "no best model: complex, simple, middle are indistinguishable (elpd_loo difference 1.00 ± 1.50, within 2 "
         "standard errors); best_model plots show simple, the simplest within one standard error of the top",
         ["indistinguishable"] * 3),
        ([("complex", 0.0, 0.0, 6.0), ("simple", 4.0, 1.5, 2.0)], "complex",
         "best model complex: elpd_loo -100.0, ahead of simple by 4.00 ± 1.50 (more than 2 standard errors)",
         ["best", "worse"]),
        ([("simple", 0.0, 0.0, 2.0), ("complex", 0.2, 1.0, 6.0)], "simple", "best_model plots show simple, the top-ranked",
         ["indistinguishable"] * 2),
        # The case: 0.02 +- 0.06 was announced as "best model"; HiBayES did the same.
        ([("tagged", 0.0, 0.0, 3.0), ("plain", 0.02, 0.06, 3.0)], "tagged",
         "no best model: tagged, plain are indistinguishable (elpd_loo difference 0.02 ± 0.06", ["indistinguishable"] * 2),
        # Between one and two standard errors: the top model is shown, but not called the best.
        ([("complex", 0.0, 0.0, 6.0), ("simple", 2.5, 1.5, 2.0)], "complex", "no best model", ["indistinguishable"] * 2),
        # Only models within two standard errors of the top one tie with it.
        ([("a", 0.0, 0.0, 2.0), ("b", 0.5, 1.0, 3.0), ("c", 9.0, 1.0, 1.0)], "a", "no best model: a, b are indistinguishable",
         ["indistinguishable", "indistinguishable", "worse"]),
    ],
)
def test_best_model_is_announced_only_beyond_two_standard_errors(rows, expected, because, verdict):
    table = compare_table(rows)
    best, reason = pick_best(table)
    assert best == expected and because in reason
    assert verdicts(table).tolist() == verdict


def test_headline_names_the_best_model_or_the_indistinguishable_ones():
    def headline_of(rows):
        table = compare_table(rows)
        table.insert(0, "label", [f"{name} (v1)" for name in table.index])
        return headline(table.assign(verdict=verdicts(table)).rename_axis("model").reset_index())

    assert headline_of([("a", 0.0, 0.0, 2.0), ("b", 4.0, 1.0, 3.0)]) == "best: a (v1)"
    assert headline_of([("a", 0.0, 0.0, 2.0), ("b", 0.02, 0.06, 3.0), ("c", 9.0, 1.0, 1.0)]) == (
        "no best model: 1 other model is within 2 standard errors of the top one"
    )
    assert headline_of([("a", 0.0, 0.0, 2.0), ("b", 0.02, 0.06, 3.0), ("c", 0.5, 1.0, 1.0)]) == (
        "no best model: 2 other models are within 2 standard errors of the top one"
    )
    assert headline_of([("a", 0.0, 0.0, 2.0)]) == "only model: a (v1)"


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
    axis = analysis.plots["model_pooled_mu_forest"].axes[0]
    low, high = axis.get_xlim()
    assert 0 <= low and high <= 1  # mu ~ 0.3 on the logit scale is plotted as a probability
    assert axis.get_xlabel() == "probability (inverse logit)"


@pytest.mark.parametrize(
    "link, transform, label",
    [
        ("logit", False, "log-odds (logit scale)"),
        ("logit", True, "probability (inverse logit)"),
        ("probit", False, "probit scale (standard normal quantiles)"),
        ("sigmoid", True, "probability (inverse logit)"),
        ("probit", True, "probability (normal CDF)"),
        ("cloglog", False, "complementary log-log scale"),
        ("identity", True, "parameter value (identity link: untransformed)"),
    ],
)
def test_forest_plot_names_the_scale_of_its_axis(analysis, link, transform, label):
    analysis.models[1].model_config = ModelSpec("pooled", main_effect_params=("mu",), link_function=link)
    assert run(analysis, "forest_plot", best_model=False, vars=["mu"], transform=transform) == "pass"
    assert analysis.plots["model_pooled_mu_forest"].axes[0].get_xlabel() == label


def tagged(model: ModelAnalysisState, tag: str) -> ModelAnalysisState:
    """`model` renamed as HiBayES names a model entry with a tag: the function's name + the tag."""
    model.model_config = ModelSpec(model.model_name, tag=tag, main_effect_params=model.model_config.main_effect_params)
    model.model_name = model.model_config.model_name
    return model


def test_display_name_separates_the_tag_from_the_model_name(analysis):
    spec = ModelSpec("linear_group_binomial", tag="main_effects")
    assert spec.model_name == "linear_group_binomialmain_effects"  # HiBayES's key, unchanged
    assert display_name(spec) == "linear_group_binomial (main_effects)"
    assert display_name(tagged(analysis.models[0], "version_1")) == "grouped (version_1)"
    assert display_name(analysis.models[1]) == "pooled"  # no tag
    renamed = analysis.models[1]
    renamed.model_config = ModelSpec("pooled", tag="other")
    assert display_name(renamed) == "pooled"  # a name that does not end with its tag is shown as it is


def test_people_read_model_names_with_their_tags_apart(analysis):
    grouped, pooled = tagged(analysis.models[0], "main_effects"), tagged(analysis.models[1], "version_1")
    for name in ("forest_plot", "trace_plot", "pair_plot"):
        assert run(analysis, name, best_model=False) == "pass"
    assert run(analysis, "model_comparison_plot") == "pass"
    # Keys stay HiBayES's glued names; titles show the name and tag apart.
    titles = {key: fig.get_suptitle() for key, fig in analysis.plots.items() if not key.startswith("model_comparison")}
    assert titles == {
        "model_groupedmain_effects_mu-group_effects_forest": "grouped (main_effects)",
        "model_pooledversion_1_mu-sigma_forest": "pooled (version_1)",
        "model_groupedmain_effects_trace": "grouped (main_effects)",
        "model_pooledversion_1_trace": "pooled (version_1)",
        "model_groupedmain_effects_pair": "grouped (main_effects)",
        "model_pooledversion_1_pair": "pooled (version_1)",
    }
    table = analysis.tables["model_comparison_loo"]
    assert dict(zip(table["model"], table["label"])) == {grouped.model_name: "grouped (main_effects)", pooled.model_name: "pooled (version_1)"}
    comparison = analysis.plots["model_comparison_loo"].axes[0]
    shown = {t.get_text() for t in comparison.get_yticklabels()} - {""}
    assert shown == {"grouped (main_effects)", "pooled (version_1)"}
    assert analysis.plots["model_comparison_loo"].get_suptitle().endswith(f"\n{headline(table)}")
    log = next(entry for stage, entry in analysis.logs if entry.startswith("model_comparison_plot"))
    assert "grouped (main_effects)" in log and "groupedmain_effects" not in log


def test_trace_panel_titles_clear_the_tick_labels_of_the_panel_above(analysis):
    assert run(analysis, "trace_plot", best_model=False, vars=["mu", "sigma", "group_effects"]) == "pass"
    fig = analysis.plots["model_grouped_trace"]
    canvas = FigureCanvasAgg(fig)  # pyplot has let the figure go: draw it as saving it would
    canvas.draw()
    renderer = canvas.get_renderer()
    panels = fig.axes  # row by row: trace density, trace values
    assert len(panels) == 6
    for above, below in zip(panels, panels[2:]):
        title = below.title.get_window_extent(renderer)
        ticks = [label.get_window_extent(renderer) for label in above.get_xticklabels() if label.get_text()]
        assert ticks and not any(title.overlaps(tick) for tick in ticks), below.get_title()
