"""One artifact store (hibayes.artifacts) for features, fits and reports, in a local folder or an S3
bucket (moto's S3 server on 127.0.0.1, see tests/s3.py): features with their held-out (test)
features and a fit with its attributes and warm-start state round-trip in both; the CLI's saved
features are the Dagster assets' own; a fit one worker wrote to a bucket is reused by another."""

from itertools import count
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml

from hibayes import artifacts
from hibayes import idata as idata_api
from hibayes.analysis import fit_or_reuse, load_features, load_processed_data, process_data, save_features
from hibayes.artifacts import ArtifactStore
from hibayes.config import load_analysis
from hibayes.model.warm_start import WarmStart, state_path
from hibayes.settings import load_settings

ANALYSIS = "split"
MODEL = "simplified_group_binomial_exponential"
_buckets = count(1)

# Rows of three groups, two of them held out for prediction (`held_out`): the split is what makes
# test features.
DATA = pd.DataFrame(
    {
        "group": ["a", "b", "c", "a", "b", "c", "a", "b", "c", "b"],
        "n_total": [10, 12, 9, 11, 10, 8, 12, 9, 10, 11],
        "n_correct": [7, 3, 5, 8, 2, 6, 9, 4, 5, 1],
        "held_out": [False, False, False, False, False, False, False, True, True, False],
    }
)


def _write_analysis(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    DATA.to_parquet(folder / "data.parquet", index=False)
    config = {
        "data_loader": {"paths": {"extracted_data": [str(folder / "data.parquet")]}},
        "data_process": {
            "processors": [
                {"extract_features": {"categorical_features": ["group"], "continuous_features": ["n_total"], "test": "held_out"}},
                {"extract_observed_feature": {"feature_name": "n_correct", "test": "held_out"}},
            ]
        },
        "model": {"models": [{"name": MODEL, "config": {"fit": {"chains": 2, "warmup": 50, "samples": 50}}}]},
        "check": {"checkers": []},
        "communicate": {"communicators": []},
    }
    path = folder / f"{ANALYSIS}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> ArtifactStore:
    """An artifact store in a local folder, or in a new bucket of the test S3 server."""
    if request.param == "local":
        return ArtifactStore(tmp_path / "store")
    bucket = f"hibayes-artifacts-{next(_buckets)}"
    request.getfixturevalue("s3_server").client().create_bucket(Bucket=bucket)
    return ArtifactStore(f"s3://{bucket}/shared")


def test_features_with_test_features_round_trip(store, tmp_path):
    config = load_analysis(_write_analysis(tmp_path / "analyses"))
    state = process_data(config, DATA)
    folder = store.features(ANALYSIS)
    saved = save_features(state, folder)
    loaded = load_features(folder)

    held = DATA["held_out"].to_numpy()
    levels = loaded.coords["group"]
    assert sorted(levels) == ["a", "b", "c"] and loaded.features["num_group"] == 3
    for features, rows in ((loaded.features, ~held), (loaded.test_features, held)):
        np.testing.assert_array_equal(features["obs"], DATA["n_correct"][rows])
        np.testing.assert_array_equal(features["n_total"], DATA["n_total"][rows])
        assert [levels[i] for i in features["group_index"]] == DATA["group"][rows].tolist()
    assert loaded.test_features["num_group"] == 3  # sizes come from all rows
    assert loaded.dims == saved.dims and loaded.digest == saved.digest
    pd.testing.assert_frame_equal(load_processed_data(folder), state.processed_data.reset_index(drop=True))

    # Where the store is does not change the digest (a fit's input hash): a worker on another store
    # root finds the same inputs the same.
    assert save_features(state, tmp_path / "elsewhere").digest == loaded.digest
    # Held-out rows are inputs too: other test features are other features.
    other = process_data(config, DATA.assign(held_out=DATA["held_out"].shift(1, fill_value=False)))
    assert save_features(other, tmp_path / "other").digest != loaded.digest


def test_a_fit_its_attrs_and_its_warm_state_round_trip(store):
    import arviz as az

    draws = np.arange(40.0).reshape(2, 20)
    fit = store.fit(ANALYSIS, MODEL)
    idata_api.save(az.from_dict(posterior={"mu": draws}), fit, {"hibayes_input_hash": "h1", "hibayes_model": MODEL})
    assert artifacts.exists(fit) and not artifacts.exists(store.fit(ANALYSIS, "other"))
    assert idata_api.stored_attrs(fit)["hibayes_input_hash"] == "h1"
    loaded = idata_api.load(fit)
    np.testing.assert_array_equal(idata_api.values(loaded, "posterior", "mu"), draws)
    assert idata_api.attrs(loaded)["hibayes_model"] == MODEL

    warm = WarmStart("spec", {"mu": np.array([0.5, -0.5])}, np.array([0.1, 0.2]), np.ones((2, 1)), divergences=1, r_hat=1.002)
    warm.save(state_path(fit))
    assert str(state_path(fit)).endswith(f"fits/{ANALYSIS}/{MODEL}.warm.npz")
    again = WarmStart.load(state_path(fit))
    np.testing.assert_array_equal(again.positions["mu"], warm.positions["mu"])
    np.testing.assert_array_equal(again.step_size, warm.step_size)
    assert (again.spec_digest, again.divergences, again.r_hat) == ("spec", 1, 1.002)

    artifacts.write_bytes(fit, b"half a NetCDF file")  # unreadable: named, never taken for a fit
    with pytest.raises(idata_api.UnreadableFitError, match="cannot be read"):
        idata_api.load(fit)
    artifacts.delete(state_path(fit))
    assert WarmStart.load(state_path(fit)) is None


def test_the_cli_saves_the_features_the_assets_save(tmp_path, monkeypatch):
    """`hibayes process --out` and the analysis_features asset (a real Dagster materialization)
    write the same features, held-out ones included."""
    from hibayes.cli import main
    from hibayes_assets.definitions import defs
    from hibayes_assets.resources import build_resources

    config_path = _write_analysis(tmp_path / "analyses")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HIBAYES_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HIBAYES_ANALYSES_DIR", str(tmp_path / "analyses"))
    monkeypatch.delenv("HIBAYES_ARTIFACTS", raising=False)
    monkeypatch.delenv("HIBAYES_WAREHOUSE", raising=False)
    assert main(["load", "--config", str(config_path), "--out", "loaded"], prog="hibayes") == 0
    assert main(["process", "--config", str(config_path), "--analysis-state", "loaded", "--out", "cli"], prog="hibayes") == 0

    settings = load_settings()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("analyses", [ANALYSIS])
        result = dg.materialize(
            defs.assets, selection=["analysis_data", "analysis_features"], partition_key=ANALYSIS,
            instance=instance, resources=build_resources(settings),
        )
    assert result.success

    cli = artifacts.read_features(tmp_path / "cli" / "features")
    assets = artifacts.read_features(settings.artifact_store.features(ANALYSIS))
    assert assets.test_features, "the assets dropped the held-out rows' features"
    for name in ("features", "test_features"):
        ours, theirs = getattr(cli, name), getattr(assets, name)
        assert ours.keys() == theirs.keys(), name
        for key in ours:
            assert ours[key].dtype == theirs[key].dtype, (name, key)
            np.testing.assert_array_equal(ours[key], theirs[key])
    assert (cli.coords, cli.dims) == (assets.coords, assets.dims)


def test_a_fit_in_a_shared_bucket_is_reused_by_another_worker(s3_server, tmp_path, monkeypatch):
    import hibayes.analysis as analysis

    bucket = f"hibayes-artifacts-{next(_buckets)}"
    s3_server.client().create_bucket(Bucket=bucket)
    config = load_analysis(_write_analysis(tmp_path / "analyses"))
    spec = config.model(MODEL)
    monkeypatch.setenv("HIBAYES_ARTIFACTS", f"s3://{bucket}/shared/")

    def worker(home: str) -> analysis.FitOutcome:
        monkeypatch.setenv("HIBAYES_HOME", str(tmp_path / home))
        store = load_settings(tmp_path).artifact_store
        assert store.root == f"s3://{bucket}/shared"
        return fit_or_reuse(config, spec, load_features(store.features(ANALYSIS)), store.fit(ANALYSIS, MODEL))

    save_features(process_data(config, DATA), load_settings(tmp_path).artifact_store.features(ANALYSIS))
    first = worker("first_home")
    assert not first.reused and first.model_state.test_features  # the held-out rows reach the fit's state
    keys = {item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"shared/fits/{ANALYSIS}/{MODEL}.nc" in keys and f"shared/fits/{ANALYSIS}/{MODEL}.warm.npz" in keys

    def no_sampling(*args, **kwargs):
        raise AssertionError("the second worker sampled instead of reusing the stored fit")

    monkeypatch.setattr(analysis, "fit_with_prior_checks", no_sampling)
    second = worker("second_home")
    assert second.reused and second.input_hash == first.input_hash
    np.testing.assert_array_equal(
        idata_api.values(second.model_state.inference_data, "posterior", "overall_mean"),
        idata_api.values(first.model_state.inference_data, "posterior", "overall_mean"),
    )
    assert not (tmp_path / "second_home").exists()  # nothing of the fit is kept locally
