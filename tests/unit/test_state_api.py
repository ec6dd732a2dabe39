"""HiBayES's state API, called by keyword with the original's parameter names (HIBAYES_REFERENCE.md,
from its `src/hibayes/analysis_state.py`): users' custom code calls it this way, e.g.
`state.add_plot(plot=fig, plot_name=...)`."""

import inspect

import arviz as az
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from hibayes.analysis_state import AnalysisState, ModelAnalysisState
from hibayes.config import ModelSpec, PlatformConfig
from hibayes.model.utils import logit_to_prob

# Every public method and its parameter names, exactly as in the reference.
REFERENCE_METHODS = [
    (AnalysisState, "feature", ["feature_name"]),
    (AnalysisState, "test_feature", ["feature_name"]),
    (AnalysisState, "coord", ["coord_name"]),
    (AnalysisState, "dim", ["dim_name"]),
    (AnalysisState, "communicate_item", ["item_name"]),
    (AnalysisState, "add_plot", ["plot", "plot_name"]),
    (AnalysisState, "add_table", ["table", "table_name"]),
    (AnalysisState, "get_stage_logs", ["stage"]),
    (AnalysisState, "add_log", ["log_entry", "stage"]),
    (AnalysisState, "add_model", ["model"]),
    (AnalysisState, "get_model", ["model_name"]),
    (AnalysisState, "get_best_model", ["with_respect_to", "minimum"]),
    (AnalysisState, "save", ["path", "incremental"]),
    (AnalysisState, "load", ["path"]),
    (ModelAnalysisState, "add_diagnostic", ["name", "diagnostic"]),
    (ModelAnalysisState, "diagnostic", ["var"]),
    (ModelAnalysisState, "save", ["path", "incremental"]),
    (ModelAnalysisState, "load", ["path"]),
]


@pytest.mark.parametrize(("cls", "method", "names"), REFERENCE_METHODS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_each_method_takes_hibayes_parameter_names(cls, method, names):
    parameters = inspect.signature(getattr(cls, method)).parameters
    assert [name for name in parameters if name != "self"] == names


def test_get_summary_passes_keyword_arguments_on():
    kinds = [p.kind for p in inspect.signature(ModelAnalysisState.get_summary).parameters.values()]
    assert inspect.Parameter.VAR_KEYWORD in kinds


def ordered_logistic_model(features):  # a model function as a custom file defines one
    return None


def fitted(tag: str = "version_1", elpd_waic: float = -10.0) -> ModelAnalysisState:
    rng = np.random.default_rng(0)
    posterior = {"mu": rng.normal(size=(2, 200)), "sigma": np.abs(rng.normal(size=(2, 200)))}
    return ModelAnalysisState(
        model=ordered_logistic_model,
        model_config=None if tag is None else type("Config", (), {"tag": tag, "link_function": "logit"})(),
        features={"obs": np.array([1, 0, 1]), "num_group": 2},
        inference_data=az.from_dict(posterior=posterior),
        diagnostics={"elpd_waic": elpd_waic},
        is_fitted=True,
    )


def test_analysis_state_methods_by_keyword():
    state = AnalysisState(
        data=pd.DataFrame({"score": [1, 0]}),
        features={"obs": [1, 0], "group_index": [0, 1]},
        test_features={"obs": [1]},
        coords={"group": ["a", "b"]},
        dims={"group_effects": ["group"]},
    )
    assert state.feature(feature_name="group_index") == [0, 1] and state.feature(feature_name="nope") is None
    assert state.test_feature(feature_name="obs") == [1]
    assert state.coord(coord_name="group") == ["a", "b"]
    assert state.dim(dim_name="group_effects") == ["group"]
    assert state.prior_features == {"group_index": [0, 1], "obs": None}
    assert state.prior_test_features == {"obs": None}

    fig = Figure()
    table = pd.DataFrame({"alpha": [0.5]})
    state.add_plot(plot=fig, plot_name="cutpoints")
    state.add_plot(plot=fig, plot_name="cutpoints")  # a name taken gets _1, as in HiBayES
    state.add_table(table=table, table_name="krippendorff_alpha")
    assert list(state.communicate) == ["cutpoints", "cutpoints_1", "krippendorff_alpha"]
    assert state.communicate_item(item_name="krippendorff_alpha") is table
    assert state.communicate_item(item_name="cutpoints") is fig

    state.add_log(log_entry="loaded 2 rows", stage="load")
    state.add_log(log_entry="cutpoint_plot: pass", stage="communicate")
    assert state.get_stage_logs(stage="communicate") == ["cutpoint_plot: pass"]
    assert state.get_stage_logs(stage="model") == []

    model = ModelAnalysisState(model=ordered_logistic_model, model_config=None)
    state.add_model(model=model)  # what the model lacks it shares with the state
    assert model.features is state.features and model.coords is state.coords and model.test_features is state.test_features
    assert state.get_model(model_name="ordered_logistic_model") is model
    with pytest.raises(ValueError, match="no model named 'missing'"):  # a ValueError, as in HiBayES
        state.get_model(model_name="missing")


def test_get_best_model_by_keyword():
    state = AnalysisState(data=pd.DataFrame())
    low, high = fitted("a", elpd_waic=-20.0), fitted("b", elpd_waic=-5.0)
    state.add_model(model=low)
    state.add_model(model=high)
    assert state.get_best_model(with_respect_to="elpd_waic", minimum=False) is high
    assert state.get_best_model(with_respect_to="elpd_waic", minimum=True) is low


def test_state_properties_are_readable_and_assignable():
    state = AnalysisState(data=pd.DataFrame({"x": [1]}))
    values = {
        "data": pd.DataFrame({"y": [2]}),
        "processed_data": pd.DataFrame({"z": [3]}),
        "features": {"obs": [1]},
        "test_features": {"obs": [0]},
        "coords": {"group": ["a"]},
        "dims": {"group_effects": ["group"]},
        "logs": [("load", "read")],
        "models": [fitted()],
        "display_stats": {"Samples found": 1},
    }
    for name, value in values.items():
        setattr(state, name, value)
        assert getattr(state, name) is value
    fig = Figure()
    state.communicate = {"forest": fig, "summary": pd.DataFrame({"mean": [0.1]})}
    assert state.plots == {"forest": fig} and list(state.tables) == ["summary"]
    state.communicate["trace"] = fig  # HiBayES's dict, written through
    assert set(state.communicate) == {"forest", "trace", "summary"} and state.plots["trace"] is fig


def test_model_analysis_state_by_keyword():
    model = fitted(tag="version_1")
    assert model.model_name == "ordered_logistic_modelversion_1"  # the function's name, then the tag
    assert model.model is ordered_logistic_model
    assert model.link_function(0.0) == pytest.approx(logit_to_prob(0.0))
    assert isinstance(model.platform_config, PlatformConfig)
    assert model.prior_features == {"num_group": 2, "obs": None}
    assert model.prior_test_features == {}
    model.test_features = {"obs": np.array([1]), "num_group": 2}
    assert model.prior_test_features == {"num_group": 2, "obs": None}

    model.add_diagnostic(name="elpd_loo", diagnostic=-3.5)
    assert model.diagnostic(var="elpd_loo") == -3.5 and model.diagnostic(var="nope") is None
    summary = model.get_summary(var_names=["sigma"], round_to=2)
    assert list(summary.index) == ["sigma"]
    narrow = model.get_summary(var_names=["mu"], hdi_prob=0.5)  # passed on to az.summary
    assert "hdi_25%" in narrow.columns and "hdi_3%" not in narrow.columns
    for name in ("model_config", "inference_data", "diagnostics", "is_fitted", "features", "coords", "dims", "platform_config"):
        value = getattr(model, name)
        setattr(model, name, value)
        assert getattr(model, name) is value


def test_save_and_load_by_keyword_without_pickle(tmp_path):
    spec = ModelSpec("two_level_group_binomial", tag="version_2", link_function="logit")
    model = fitted()
    model.model_name, model.model_config = spec.model_name, spec
    model.platform_config = PlatformConfig(chain_method="sequential")
    state = AnalysisState(data=pd.DataFrame({"score": [1.0, 0.0]}), features=model.features, coords={"group": ["a", "b"]})
    state.add_model(model=model)
    state.add_table(table=pd.DataFrame({"mean": [0.25]}), table_name="summary")
    state.add_log(log_entry="fitted", stage="model")
    state.display_stats = {"Samples found": 2}

    state.save(path=tmp_path / "state", incremental=False)
    state.save(path=tmp_path / "state", incremental=True)  # keeps the data and features already there
    loaded = AnalysisState.load(path=tmp_path / "state")
    assert loaded.data.equals(state.data) and loaded.coords == {"group": ["a", "b"]}
    assert loaded.get_stage_logs(stage="model") == ["fitted"] and loaded.display_stats == {"Samples found": 2}
    assert loaded.communicate_item(item_name="summary")["mean"].tolist() == [0.25]
    again = loaded.get_model(model_name="two_level_group_binomialversion_2")
    assert again.is_fitted and again.platform_config.chain_method == "sequential"
    assert np.array_equal(again.inference_data.posterior["mu"], model.inference_data.posterior["mu"])

    model.save(path=tmp_path / "model", incremental=False)
    alone = ModelAnalysisState.load(path=tmp_path / "model")
    assert alone.model_name == "two_level_group_binomialversion_2" and callable(alone.model)
    assert np.array_equal(alone.features["obs"], model.features["obs"]) and alone.diagnostic(var="elpd_waic") == -10.0
    assert not list(tmp_path.rglob("*.pkl"))
