"""A corrupt cached fit (a truncated NetCDF file) is named, and refitted instead of failing every run.

No sampling here: a tiny InferenceData written with the project's own `save`, a truncated copy of
it, and a stand-in for NUTS."""

import logging
from pathlib import Path

import numpy as np
import pytest

from hibayes import idata as idata_api


def _small_fit():
    import arviz as az

    return az.from_dict(posterior={"mu": np.zeros((1, 20))}, log_likelihood={"obs": np.zeros((1, 20, 3))})


@pytest.fixture
def fits(tmp_path) -> tuple[Path, Path]:
    """(a good fit file, a truncated copy of it)."""
    good = tmp_path / "good.nc"
    idata_api.save(_small_fit(), good, {"hibayes_input_hash": "h"})
    truncated = tmp_path / "fits" / "analysis" / "model.nc"
    truncated.parent.mkdir(parents=True)
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return good, truncated


def _config_and_spec():
    from hibayes.analysis import StoredFeatures
    from hibayes.config import parse_analysis

    config = parse_analysis({"model": {"models": [{"name": "two_level_group_binomial"}]}}, name="corrupt")
    features = StoredFeatures(features={}, coords={}, dims={}, digest="d")
    return config, config.models[0], features


def test_a_truncated_fit_is_named_when_read(fits):
    good, truncated = fits
    assert idata_api.stored_attrs(good)["hibayes_input_hash"] == "h"
    for read in (idata_api.load, idata_api.stored_attrs):
        with pytest.raises(OSError) as raised:
            read(truncated)
        assert str(truncated) in str(raised.value) and "cannot be read" in str(raised.value)


def test_a_report_reading_a_truncated_fit_names_it_and_says_how_to_refit(fits):
    from hibayes.analysis import fit_problem

    _, truncated = fits
    config, spec, features = _config_and_spec()
    problem = fit_problem(config, spec, features, truncated)
    assert problem and str(truncated) in problem and "refit" in problem


def test_a_truncated_fit_is_refitted(fits, monkeypatch, caplog):
    import hibayes.analysis as analysis
    from hibayes.model import FitResult

    _, truncated = fits
    config, spec, features = _config_and_spec()
    fitted = []

    def fake_fit(config, state, display=None, warm=None):  # NUTS stands in: the point is what happens around it
        state.inference_data, state.is_fitted = _small_fit(), True
        fitted.append(state.model_name)
        return FitResult(state.inference_data, 0.01, "sequential")

    monkeypatch.setattr(analysis, "fit_with_prior_checks", fake_fit)
    with caplog.at_level(logging.WARNING, logger="hibayes"):
        outcome = analysis.fit_or_reuse(config, spec, features, truncated)
    assert fitted and not outcome.reused
    assert str(truncated) in caplog.text and "refitting" in caplog.text
    assert str(truncated) in outcome.refit_reason
    # The new fit replaced the corrupt file: the next run reuses it.
    assert idata_api.stored_attrs(truncated)["hibayes_input_hash"] == outcome.input_hash
    again = analysis.fit_or_reuse(config, spec, features, truncated)
    assert again.reused and len(fitted) == 1
