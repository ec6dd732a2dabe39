"""The ten HiBayES checkers on tiny real NumPyro fits: a well-identified model built to pass and a
funnel sampled badly (little warmup, low target acceptance) built to fail; the predictive groups'
contents and draw counts; and no prompt unless a person can answer.

The fits are cached for the session (`fitted`), and `test_communicators_full.py` reuses them."""

from __future__ import annotations

import functools
import logging
import sys

import numpy as np
import pytest

from hibayes import idata as idata_api
from hibayes.analysis_state import ModelAnalysisState
from hibayes.check import CHECKERS, checker, checker_when, run_checker, run_checks
from hibayes.config import FitConfig, ModelSpec
from hibayes.model import MODELS, fit

N_OBS = 60
FUNNEL_SIZE = 20


def grouped_normal(features):
    """Two groups, dummy coded: `group_effects[a]` is the reference level, constant at 0."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample("mu", dist.Normal(0, 2))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2))
    raw = numpyro.sample("group_effects_raw", dist.Normal(0, 1).expand([features["num_group"] - 1]).to_event(1))
    effects = numpyro.deterministic("group_effects", jnp.concatenate([jnp.zeros(1), raw]))
    with numpyro.plate("n", N_OBS):
        numpyro.sample("obs", dist.Normal(mu + effects[features["group_index"]], sigma), obs=features["obs"])


def pooled_normal(features):
    """The same data without groups: one parameter fewer."""
    import numpyro
    import numpyro.distributions as dist

    mu = numpyro.sample("mu", dist.Normal(0, 2))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2))
    with numpyro.plate("n", N_OBS):
        numpyro.sample("obs", dist.Normal(mu, sigma), obs=features["obs"])


def funnel(features):
    """Neal's funnel under nearly uninformative data: the classic geometry for divergences, poor
    mixing and low energy BFMI."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    v = numpyro.sample("v", dist.Normal(0, 3))
    with numpyro.plate("unit", FUNNEL_SIZE):
        x = numpyro.sample("x", dist.Normal(0, jnp.exp(v / 2)))
        numpyro.sample("obs", dist.Normal(x, 100.0), obs=features["obs"])


def normal_features() -> dict:
    rng = np.random.default_rng(3)
    return {"obs": rng.normal(0.3, 1.0, N_OBS), "group_index": np.repeat([0, 1], N_OBS // 2), "num_group": 2}


MODELS_UNDER_TEST = {
    # name: (model, features, fit settings, main_effect_params)
    "grouped": (grouped_normal, normal_features, FitConfig(samples=500, warmup=300, chains=4, seed=1), ("mu", "group_effects")),
    "pooled": (pooled_normal, normal_features, FitConfig(samples=500, warmup=300, chains=4, seed=1), ("mu", "sigma")),
    "funnel": (
        funnel,
        lambda: {"obs": np.random.default_rng(0).normal(0, 1, FUNNEL_SIZE)},
        FitConfig(samples=200, warmup=100, chains=4, seed=1, target_accept=0.5),
        ("v",),
    ),
}


@functools.cache
def _fit_once(name: str):
    model, features, fit_config, _ = MODELS_UNDER_TEST[name]
    return fit(model, features(), fit_config, {"group": ["a", "b"]}, {"group_effects": ["group"]}).inference_data


def fitted(name: str) -> ModelAnalysisState:
    """A fresh state around the session's single fit of `name` (in a copy, so that groups one
    test adds never leak into another)."""
    model, features, fit_config, main = MODELS_UNDER_TEST[name]
    spec = ModelSpec(name, fit=fit_config, main_effect_params=main)
    return ModelAnalysisState(
        name, model, spec, features(), {"group": ["a", "b"]}, {"group_effects": ["group"]},
        inference_data=_fit_once(name).copy(), is_fitted=True,
    )


@pytest.fixture
def good() -> ModelAnalysisState:
    return fitted("grouped")


@pytest.fixture
def bad() -> ModelAnalysisState:
    return fitted("funnel")


class Stdin:
    def __init__(self, tty: bool):
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class AnsweringDisplay:
    """A display that records the questions it is asked and answers `answer`."""

    logger = logging.getLogger("hibayes.test")

    def __init__(self, answer: bool):
        self.answer = answer
        self.questions: list[str] = []

    def prompt_user(self, question: str) -> bool:
        self.questions.append(question)
        return self.answer


def test_checker_decorator_records_when_and_run_checks_runs_one_stage(good):
    @checker(when="before")
    def _test_prior_probe(label: str = "x"):
        def inner(state, display=None):
            from matplotlib.figure import Figure

            state.add_diagnostic("probe", label)
            state.add_diagnostic("probe_figure", Figure())  # as HiBayES's own checkers stored figures
            return state, "NA"

        return inner

    @checker
    def _test_after_probe():
        return lambda state, display=None: (state, "pass")

    assert _test_prior_probe.when == "before" and checker_when("_test_prior_probe") == "before"
    assert checker_when("_test_after_probe") == "after" and checker_when("r_hat") == "after"
    assert checker_when("prior_predictive_check") == checker_when("prior_predictive_plot") == "before"
    with pytest.raises(ValueError, match="before' or 'after"):
        checker(when="during")

    specs = [("_test_prior_probe", {"label": "y"}), ("_test_after_probe", {}), ("divergences", {}), ("r_hatt", {})]
    before = run_checks(specs, good, "before")
    assert [o.name for o in before] == ["_test_prior_probe"] and before[0].status == "NA"
    assert good.diagnostics["probe"] == "y"
    assert "probe_figure" in good.plots and "probe_figure" not in good.diagnostics  # saved as an image
    after = run_checks(specs, good, "after")
    assert [(o.name, o.status) for o in after] == [("_test_after_probe", "pass"), ("divergences", "pass"), ("r_hatt", "error")]
    assert "did you mean 'r_hat'" in after[-1].message
    assert set(good.checks) >= {"_test_prior_probe", "_test_after_probe", "divergences"}


def test_a_checker_that_raises_or_returns_nonsense_is_an_error(good):
    @checker
    def _test_raises():
        def inner(state, display=None):
            raise RuntimeError("boom")

        return inner

    @checker
    def _test_bad_result():
        return lambda state, display=None: (state, "Error")  # HiBayES's model_comparison_plot did this

    assert run_checker("_test_raises", {}, good).message.startswith("raised RuntimeError: boom (at ")  # its file and line
    outcome = run_checker("_test_bad_result", {}, good)
    assert outcome.status == "error" and "'Error'" in outcome.message
    assert run_checker("r_hat", {"treshold": 1.1}, good).status == "error"  # misspelt argument


def test_convergence_checkers_pass_a_good_fit(good):
    outcomes = {name: run_checker(name, kwargs, good) for name, kwargs in [
        ("r_hat", {}), ("ess_bulk", {"threshold": 400}), ("ess_tail", {"threshold": 400}), ("divergences", {}), ("bfmi", {}),
    ]}
    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(outcomes, "pass"), outcomes
    assert outcomes["r_hat"].value < 1.01 and outcomes["r_hat"].threshold == 1.01
    assert outcomes["ess_bulk"].value > 400 and outcomes["divergences"].value == 0
    # Defect 2: the dummy-coded reference level is constant, its r_hat NaN; HiBayES failed on it.
    assert np.isnan(good.diagnostics["r_hat"]["group_effects[a]"])
    assert "1 constant element(s) ignored" in outcomes["r_hat"].message
    assert good.diagnostics["r_hat"]["group_effects[b]"] < 1.01
    # Defect 1: BFMI is really computed (HiBayES always said NA), from the energy, per chain.
    energy = idata_api.values(good.inference_data, "sample_stats", "energy")
    by_hand = (np.diff(energy, axis=1) ** 2).sum(axis=1) / ((energy - energy.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    np.testing.assert_allclose(good.diagnostics["bfmi"], by_hand, rtol=1e-5)
    assert outcomes["bfmi"].value == pytest.approx(by_hand.min(), rel=1e-5)


def test_convergence_checkers_fail_a_bad_fit(bad):
    outcomes = {name: run_checker(name, {}, bad) for name in ("r_hat", "ess_bulk", "ess_tail", "divergences", "bfmi")}
    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(outcomes, "fail"), outcomes
    assert outcomes["r_hat"].value > 1.01 and outcomes["ess_bulk"].value < 1000
    assert outcomes["divergences"].value > 0 and outcomes["bfmi"].value < 0.2
    assert "low in chains" in outcomes["bfmi"].message


def test_r_hat_fails_when_nothing_moves(good):
    import arviz as az

    good.inference_data = az.from_dict(posterior={"mu": np.zeros((4, 50)), "tau": np.ones((4, 50))})
    assert run_checker("r_hat", {}, good).status == "fail"
    assert run_checker("ess_bulk", {}, good).message == "no posterior element varies across draws"


def test_loo_records_elpd_and_fails_on_high_pareto_k(good, bad):
    passed = run_checker("loo", {}, good)
    assert passed.status == "pass" and passed.threshold == 0.7 and passed.value <= 0.7
    d = good.diagnostics
    assert d["pareto_k"].shape == d["loo_i"].shape == (N_OBS,)
    assert d["elpd_loo"] == pytest.approx(d["loo_i"].sum()) and d["se_elpd_loo"] > 0 and 1 < d["p_loo"] < 5
    assert f"elpd_loo {d['elpd_loo']:.2f}" in passed.message

    failed = run_checker("loo", {"reff_threshold": 0.7}, bad)
    assert failed.status == "fail" and failed.value > 0.7 and "Pareto k > 0.7" in failed.message
    # A looser threshold (the misnamed `reff_threshold` is the Pareto-k one) passes the same fit.
    assert run_checker("loo", {"reff_threshold": 100}, bad).status == "pass"


def test_waic_records_and_is_always_na(good):
    outcome = run_checker("waic", {}, good)
    assert outcome.status == "NA" and outcome.value == good.diagnostics["elpd_waic"]
    assert good.diagnostics["waic_i"].shape == (N_OBS,) and good.diagnostics["p_waic"] > 0
    assert good.diagnostics["elpd_waic"] == pytest.approx(good.diagnostics["waic_i"].sum())


def test_information_criteria_need_a_log_likelihood(good):
    import arviz as az

    good.inference_data = az.from_dict(posterior={"mu": np.random.default_rng(0).normal(size=(2, 50))})
    assert run_checker("loo", {}, good).status == "NA"
    assert run_checker("waic", {}, good).status == "NA"


def test_prior_predictive_check_before_fitting_keeps_latent_sites_out_of_prior_predictive():
    model = MODELS.build("two_level_group_binomial")
    features = {"obs": np.array([3, 5, 7]), "n_total": np.array([10, 10, 10]), "group_index": np.arange(3), "num_group": 3}
    state = ModelAnalysisState("two_level_group_binomial", model, ModelSpec("two_level_group_binomial"), features,
                               {"group": ["a", "b", "c"]}, {"group_effects": ["group"]})
    assert checker_when("prior_predictive_check") == "before"
    outcome = run_checker("prior_predictive_check", {"num_samples": 150}, state)
    assert outcome.status == "NA"
    idata = state.inference_data
    # Defect 5: only observed sites are predictive; latent and deterministic sites are the prior.
    assert idata_api.group_variables(idata, "prior_predictive") == ["obs"]
    assert set(idata_api.group_variables(idata, "prior")) == {
        "mu_overall", "sigma_overall", "z_overall", "overall_mean", "sigma_group", "z_group", "group_effects",
    }
    assert idata_api.values(idata, "prior_predictive", "obs").shape == (1, 150, 3)
    assert idata_api.draw_shape(idata, "prior") == (1, 150)
    assert (idata_api.values(idata, "prior_predictive", "obs") <= 10).all()  # drawn, not the observed 3/5/7
    assert not idata_api.has_group(idata, "posterior")


def test_prior_predictive_plot_is_na_without_a_person_and_saves_figures(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", Stdin(tty=False))
    model = MODELS.build("two_level_group_binomial")
    features = {"obs": np.array([3, 5, 7]), "n_total": np.array([10, 20, 10]), "group_index": np.arange(3), "num_group": 3}
    spec = ModelSpec("two_level_group_binomial", main_effect_params=("overall_mean", "group_effects"))
    state = ModelAnalysisState("m", model, spec, features, {"group": ["a", "b", "c"]}, {"group_effects": ["group"]})
    display = AnsweringDisplay(True)
    kwargs = {"plot_proportion": True, "save_path": str(tmp_path / "m"), "predictive_kwargs": {"num_samples": 100}}
    outcome = run_checker("prior_predictive_plot", kwargs, state, display)
    # Defect 5: not judged by anyone, so NA (HiBayES said "pass").
    assert outcome.status == "NA" and "stdin is not a terminal" in outcome.message and display.questions == []
    assert set(state.plots) == {"prop_pred_prior_predictive", "overall_mean_prior_predictive", "group_effects_prior_predictive"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m_prior_pred_{v}.png" for v in ("group_effects", "overall_mean", "prop_pred")]
    assert idata_api.draw_shape(state.inference_data, "prior_predictive") == (1, 100)
    del state.features["n_total"]
    with pytest.raises(ValueError, match="n_total"):
        CHECKERS.build("prior_predictive_plot", {"plot_proportion": True})(state, None)


def test_posterior_predictive_honours_num_samples_and_holds_only_observed_sites(good):
    outcome = run_checker("posterior_predictive_plot", {"num_samples": 80, "interactive": False}, good)
    idata = good.inference_data
    # Defect 4: 80 of the 2000 posterior draws, and no deterministic sites copied in.
    assert idata_api.group_variables(idata, "posterior_predictive") == ["obs"]
    assert idata_api.values(idata, "posterior_predictive", "obs").shape == (1, 80, N_OBS)
    assert outcome.status == "NA" and "interactive is off" in outcome.message
    assert 0.05 < outcome.value < 0.95  # the model reproduces the data's mean
    assert "posterior_predictive_plot" in good.plots
    first = idata_api.values(idata, "posterior_predictive", "obs").copy()
    run_checker("posterior_predictive_plot", {"num_samples": 30, "interactive": False}, good)  # replaces the group
    assert idata_api.values(good.inference_data, "posterior_predictive", "obs").shape == (1, 30, N_OBS)

    # The same draws again with a fixed key; the hist branch works on an existing group (HiBayES
    # raised NameError there).
    again = fitted("grouped")
    run_checker("posterior_predictive_plot", {"num_samples": 80, "kind": "hist", "interactive": False}, again)
    np.testing.assert_array_equal(idata_api.values(again.inference_data, "posterior_predictive", "obs"), first)
    assert run_checker("posterior_predictive_plot", {"num_samples": 80, "kind": "hist"}, again).status == "NA"


def test_predictive_plots_prompt_only_with_interactive_a_display_and_a_terminal(good, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda *_: pytest.fail("prompted on stdin"))
    build = lambda **kw: CHECKERS.build("posterior_predictive_plot", {"num_samples": 40, **kw})  # noqa: E731

    monkeypatch.setattr(sys, "stdin", Stdin(tty=False))
    display = AnsweringDisplay(False)
    assert build()(good, display)[1] == "NA" and display.questions == []  # no terminal
    monkeypatch.setattr(sys, "stdin", Stdin(tty=True))
    assert build()(good, None)[1] == "NA"  # no display
    assert build(interactive=False)(good, display)[1] == "NA" and display.questions == []

    assert build()(good, display)[1] == "fail" and len(display.questions) == 1
    assert "align with the data" in display.questions[0]
    assert build()(good, AnsweringDisplay(True))[1] == "pass"

    # A display without its own prompt (hibayes.ui.Display) asks on the terminal.
    from hibayes.ui import Display

    monkeypatch.setattr("builtins.input", lambda *_: "y")
    assert build()(good, Display())[1] == "pass"
