"""Fits side by side and on a chosen platform: HIBAYES_FIT_WORKERS, and chains pinned to the devices
of `platform.device_type` when those are not JAX's default ones."""

import numpy as np
import pytest

from hibayes.config import FitConfig
from hibayes.settings import SettingsError, load_settings


def test_fit_workers_default_to_one_and_take_a_whole_number(monkeypatch, tmp_path):
    monkeypatch.delenv("HIBAYES_FIT_WORKERS", raising=False)
    assert load_settings(tmp_path).fit_workers == 1
    monkeypatch.setenv("HIBAYES_FIT_WORKERS", "4")
    assert load_settings(tmp_path).fit_workers == 4
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("HIBAYES_FIT_WORKERS", bad)
        with pytest.raises(SettingsError, match=rf"HIBAYES_FIT_WORKERS='{bad}' is not a number of fits .* whole number from 1"):
            load_settings(tmp_path)


def test_chains_pinned_to_named_devices_run_there_in_parallel():
    """The path a `device_type` that is not JAX's default backend takes (a CPU fit on a GPU machine,
    or the reverse): on this machine's CPU devices, named explicitly, the chains still run in
    parallel, one per device, and sample the model."""
    import jax
    import numpyro
    import numpyro.distributions as dist

    from hibayes.model.sampling import _fit_on

    def normal_mean(features):
        mu = numpyro.sample("mu", dist.Normal(0, 10))
        numpyro.sample("obs", dist.Normal(mu, 1), obs=features["obs"])

    devices = jax.devices("cpu")
    assert len(devices) >= 2, "the tests force 4 host devices (tests/conftest.py)"
    features = {"obs": np.random.default_rng(0).normal(3.0, 1.0, 200)}
    fit_config = FitConfig(samples=60, warmup=60, chains=2, aggregate_rows=False, warm_start=False)
    result = _fit_on(normal_mean, features, fit_config, None, None, "parallel", None, "", devices)
    assert result.chain_method == "parallel"
    posterior = result.inference_data.posterior["mu"]
    assert posterior.shape == (2, 60)
    assert abs(float(posterior.mean()) - 3.0) < 0.3
