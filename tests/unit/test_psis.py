"""`hibayes.psis` and the LOO and WAIC built on it against ArviZ's own `psislw`, `loo` and `waic`, observation by
observation, to 1e-12: ordinary tails, heavy tails (large Pareto k), a tie at the tail's cutoff and
a tail cut at the smallest float (both go to ArviZ's function), one chain, and a real fit."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr

from hibayes import idata as idata_api
from hibayes.psis import psis_log_weights

TOL = 1e-12


def _arviz_psislw(log_ratios: np.ndarray, reff: float) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.psislw(log_ratios, reff)


def _log_ratios(n_points: int = 300, n_samples: int = 2_000, seed: int = 0) -> np.ndarray:
    """Rows from light to very heavy tails (Student t with 1..30 degrees of freedom, scaled)."""
    rng = np.random.default_rng(seed)
    df = rng.uniform(1, 30, n_points)[:, None]
    return rng.standard_t(df, size=(n_points, n_samples)) * rng.uniform(0.1, 3, n_points)[:, None]


@pytest.mark.parametrize("reff", [1.0, 0.37])
def test_smoothed_weights_and_shapes_equal_arviz(reff: float) -> None:
    log_ratios = _log_ratios()
    weights, shapes = psis_log_weights(log_ratios, reff)
    expected_weights, expected_shapes = _arviz_psislw(log_ratios, reff)
    assert np.ptp(shapes) > 0.5  # light and heavy tails both
    np.testing.assert_allclose(shapes, expected_shapes, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(weights, expected_weights, rtol=TOL, atol=TOL)


def test_observations_outside_a_block_go_to_arviz() -> None:
    log_ratios = _log_ratios(n_points=6, n_samples=1_000, seed=1)
    tail = int(np.ceil(min(1_000 / 5.0, 3 * 1_000**0.5)))
    order = np.argsort(log_ratios[0])
    log_ratios[0, order[-tail - 1]] = log_ratios[0, order[-tail]]  # a tie at the cutoff: a shorter tail
    log_ratios[1] = np.linspace(-2_000.0, 0.0, 1_000)  # the cutoff below log(smallest float): a longer tail
    log_ratios[2, :10] = np.nan
    weights, shapes = psis_log_weights(log_ratios)
    expected_weights, expected_shapes = _arviz_psislw(log_ratios, 1.0)
    np.testing.assert_allclose(shapes, expected_shapes, rtol=TOL, atol=TOL, equal_nan=True)
    np.testing.assert_allclose(weights, expected_weights, rtol=TOL, atol=TOL, equal_nan=True)


def _fit(n_chains: int, seed: int = 2) -> az.InferenceData:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.3, 0.3, (n_chains, 500))
    y = rng.normal(0.3, 1, 40)
    y[0] = 12.0  # an influential observation: a large k
    log_lik = -0.5 * (y[None, None, :] - theta[..., None]) ** 2 - 0.5 * np.log(2 * np.pi)
    return az.from_dict(posterior={"theta": theta}, log_likelihood={"y": log_lik}, dims={"y": ["obs"]},
                        coords={"obs": np.arange(40)})


@pytest.mark.parametrize("n_chains", [1, 4])
@pytest.mark.parametrize("scale", ["log", "negative_log", "deviance"])
@pytest.mark.parametrize("kind", ["loo", "waic"])
def test_loo_and_waic_equal_arviz(kind: str, n_chains: int, scale: str) -> None:
    fit = _fit(n_chains)
    ours, _ = (idata_api._loo if kind == "loo" else idata_api._waic)(fit, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = (az.loo if kind == "loo" else az.waic)(fit, pointwise=True, scale=scale)
    assert list(ours.index) == list(theirs.index)
    for key in ours.index:
        if isinstance(theirs[key], xr.DataArray):
            assert ours[key].dims == theirs[key].dims, key
            np.testing.assert_allclose(ours[key].values, theirs[key].values, rtol=TOL, atol=TOL)
        else:
            assert ours[key] == (pytest.approx(theirs[key], rel=TOL, abs=TOL) if isinstance(theirs[key], float) else theirs[key]), key
    if kind == "loo":
        assert ours["warning"] and ours["pareto_k"].values.max() > ours["good_k"]  # the influential observation
