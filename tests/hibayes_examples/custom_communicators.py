"""Test versions of the llm-as-a-judge examples' custom communicators, written against HiBayES's
import surface as a HiBayES user writes them."""

import jax
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from numpyro.infer import Predictive

from hibayes.analysis_state import AnalysisState, ModelAnalysisState
from hibayes.communicate import CommunicateResult, Communicator, communicate


def _ordinal_models(state: AnalysisState) -> list[ModelAnalysisState]:
    return [m for m in state.models if m.is_fitted and "cutpoints" in m.inference_data.posterior]


def _predicted(model_analysis: ModelAnalysisState, num_samples: int) -> np.ndarray:
    """Posterior-predictive classes, (draws, rows): the stored group when there is one, else drawn."""
    idata = model_analysis.inference_data
    if hasattr(idata, "posterior_predictive") and "obs" in idata.posterior_predictive:
        draws = idata.posterior_predictive["obs"].values
        return draws.reshape(-1, draws.shape[-1])[:num_samples]
    samples = {name: idata.posterior[name].values.reshape(-1, *idata.posterior[name].shape[2:]) for name in idata.posterior.data_vars}
    samples = {name: values[:num_samples] for name, values in samples.items()}
    predictive = Predictive(model_analysis.model, posterior_samples=samples)
    return np.asarray(predictive(jax.random.PRNGKey(0), model_analysis.prior_features)["obs"])


@communicate
def cutpoint_plot(figsize=(10, 3)) -> Communicator:
    """Posterior-mean cutpoints, with 94% intervals, on the latent line."""

    def inner(state: AnalysisState, display=None) -> tuple[AnalysisState, CommunicateResult]:
        models = _ordinal_models(state)
        if not models:
            return state, "NA"
        for model_analysis in models:
            cutpoints = model_analysis.inference_data.posterior["cutpoints"].values
            cutpoints = cutpoints.reshape(-1, cutpoints.shape[-1])
            mean = cutpoints.mean(axis=0)
            low, high = np.quantile(cutpoints, [0.03, 0.97], axis=0)
            fig, ax = plt.subplots(figsize=figsize)
            ax.hlines(0, low.min() - 1, high.max() + 1, color="grey", linewidth=1)
            ax.errorbar(mean, np.zeros_like(mean), xerr=[mean - low, high - mean], fmt="o", capsize=3)
            for k, value in enumerate(mean):
                ax.annotate(f"{k}|{k + 1}", (value, 0), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
            ax.set_yticks([])
            ax.set_xlabel("latent scale")
            ax.set_title(f"Cutpoints: {model_analysis.model_name}")
            state.add_plot(fig, f"model_{model_analysis.model_name}_cutpoints")
        return state, "pass"

    return inner


@communicate
def ordered_residuals_plot(num_samples: int = 500) -> Communicator:
    """Observed minus posterior-predictive mean score, per observed score."""

    def inner(state: AnalysisState, display=None) -> tuple[AnalysisState, CommunicateResult]:
        models = _ordinal_models(state)
        if not models:
            return state, "NA"
        for model_analysis in models:
            observed = np.asarray(model_analysis.features["obs"])
            residuals = observed - _predicted(model_analysis, num_samples).mean(axis=0)
            fig, ax = plt.subplots(figsize=(8, 4))
            ax.scatter(observed + np.random.default_rng(0).uniform(-0.2, 0.2, observed.size), residuals, s=8, alpha=0.5)
            ax.axhline(0, color="red", linestyle="--")
            ax.set_xlabel("observed score")
            ax.set_ylabel("observed - predicted mean")
            ax.set_title(f"Residuals: {model_analysis.model_name}")
            state.add_plot(fig, f"model_{model_analysis.model_name}_ordered_residuals")
        return state, "pass"

    return inner


@communicate
def category_frequency_plot(num_samples: int = 500) -> Communicator:
    """Observed against posterior-predicted proportion of each score, with 94% intervals."""

    def inner(state: AnalysisState, display=None) -> tuple[AnalysisState, CommunicateResult]:
        models = _ordinal_models(state)
        if not models:
            return state, "NA"
        for model_analysis in models:
            num_classes = model_analysis.inference_data.posterior["cutpoints"].shape[-1] + 1
            classes = np.arange(num_classes)
            observed = np.asarray(model_analysis.features["obs"]).astype(int)
            predicted = _predicted(model_analysis, num_samples).astype(int)
            observed_share = np.bincount(observed, minlength=num_classes) / observed.size
            predicted_share = np.stack([np.bincount(row, minlength=num_classes) for row in predicted]) / predicted.shape[1]
            low, high = np.quantile(predicted_share, [0.03, 0.97], axis=0)
            fig, ax = plt.subplots(figsize=(8, 4))
            ax.bar(classes, observed_share, color="lightgrey", label="observed")
            ax.errorbar(classes, predicted_share.mean(axis=0), yerr=[predicted_share.mean(axis=0) - low, high - predicted_share.mean(axis=0)], fmt="o", color="C0", label="predicted")
            ax.set_xticks(classes)
            ax.set_xlabel("score")
            ax.set_ylabel("proportion")
            ax.legend()
            ax.set_title(f"Score frequencies: {model_analysis.model_name}")
            state.add_plot(fig, f"model_{model_analysis.model_name}_category_frequency")
        return state, "pass"

    return inner


def ordinal_alpha(table: np.ndarray, num_classes: int) -> float:
    """Krippendorff's alpha with the ordinal metric for a units x coders table of integer values
    (NaN where a coder gave none)."""
    coincidence = np.zeros((num_classes, num_classes))
    for unit in table:
        values = unit[~np.isnan(unit)].astype(int)
        if values.size < 2:
            continue
        counts = np.bincount(values, minlength=num_classes).astype(float)
        coincidence += (np.outer(counts, counts) - np.diag(counts)) / (values.size - 1)
    totals = coincidence.sum(axis=1)
    n = totals.sum()
    cumulative = np.cumsum(totals)
    c, k = np.meshgrid(np.arange(num_classes), np.arange(num_classes), indexing="ij")
    low, high = np.minimum(c, k), np.maximum(c, k)
    distance = (cumulative[high] - np.where(low > 0, cumulative[low - 1], 0) - (totals[c] + totals[k]) / 2) ** 2
    expected = (np.outer(totals, totals) * distance).sum()
    return float("nan") if expected == 0 else 1 - (n - 1) * (coincidence * distance).sum() / expected


def _pivot_alpha(frame: pd.DataFrame, scores: np.ndarray, num_classes: int) -> float:
    table = frame.assign(score=scores).pivot_table(index="item", columns="grader", values="score", aggfunc="median")
    return ordinal_alpha(np.round(table.to_numpy(dtype=float)), num_classes)


@communicate
def krippendorff_alpha(num_samples: int = 200, bias_params=("grader_effects_constrained",)) -> Communicator:
    """Agreement between graders (units: items; values: each grader's median score): observed
    alpha, its posterior-predictive distribution, and the alpha with grader bias removed (the
    `bias_params` zeroed)."""

    def inner(state: AnalysisState, display=None) -> tuple[AnalysisState, CommunicateResult]:
        models = _ordinal_models(state)
        data = state.processed_data
        if not models or not {"item", "grader"} <= set(data.columns):
            return state, "NA"
        model_analysis = state.get_best_model() if len(models) > 1 else models[0]
        num_classes = model_analysis.inference_data.posterior["cutpoints"].shape[-1] + 1
        frame = data[["item", "grader"]].reset_index(drop=True)
        observed = _pivot_alpha(frame, np.asarray(model_analysis.features["obs"]), num_classes)
        predicted = [_pivot_alpha(frame, draw, num_classes) for draw in _predicted(model_analysis, num_samples)]

        posterior = model_analysis.inference_data.posterior
        samples = {name: posterior[name].values.reshape(-1, *posterior[name].shape[2:])[:num_samples] for name in posterior.data_vars}
        for name in bias_params:
            if name in samples:
                samples[name] = np.zeros_like(samples[name])
        deterministic = [name for name in samples if name not in bias_params and name.endswith("_effects")]
        for name in deterministic:  # recomputed by the model from the zeroed free parameters
            samples.pop(name)
        corrected_draws = Predictive(model_analysis.model, posterior_samples=samples)(jax.random.PRNGKey(1), model_analysis.prior_features)["obs"]
        corrected = [_pivot_alpha(frame, np.asarray(draw), num_classes) for draw in corrected_draws]

        table = pd.DataFrame(
            {
                "alpha": ["observed", "posterior predictive", "bias corrected"],
                "mean": [observed, np.nanmean(predicted), np.nanmean(corrected)],
                "hdi_3%": [observed, np.nanquantile(predicted, 0.03), np.nanquantile(corrected, 0.03)],
                "hdi_97%": [observed, np.nanquantile(predicted, 0.97), np.nanquantile(corrected, 0.97)],
            }
        )
        state.add_table(table, "krippendorff_alpha")
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.hist(predicted, bins=30, alpha=0.6, label="posterior predictive")
        ax.hist(corrected, bins=30, alpha=0.6, label="bias corrected")
        ax.axvline(observed, color="red", linestyle="--", label="observed")
        ax.set_xlabel("Krippendorff's alpha (ordinal)")
        ax.legend()
        state.add_plot(fig, "krippendorff_alpha")
        return state, "pass"

    return inner
