"""The IRT assets with a real instance: on all 28 example logs with examples/irt.yaml (which leaves
out the 4 judge logs' 0..10 ratings), on the RouterDC MMLU fixture from ../shared
(HIBAYES_IRT_ROUTERDC), and on bad input that must fail with the library's message."""

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from hibayes.warehouse import Warehouse
from hibayes_assets.definitions import defs
from hibayes_assets.partitions import range_tags
from hibayes_assets.resources import ProjectPaths
from tests.conftest import PROJECT_ROOT, example_log_files

IRT_ASSETS = ["response_matrix", "irt_fit", "anchor_points", "performance_estimates", "irt_validation", "routing_report"]
# Small settings for the 7 x 6,213 RouterDC matrix, so the whole group takes well under a minute.
ROUTERDC_IRT = """irt:
  respondent: model
  binarise: "score > 0"
  new_models: [mistralai/Mistral-7B-v0.1]
  n_anchors: 20
  k: 10
  steps: 150
  num_draws: 20
  kmeans_restarts: 2
  gp_bias: in_sample
  n_interval_draws: 200
"""


def _use(project, **paths) -> None:
    project.resources["project"] = ProjectPaths(**{**project.resources["project"].__dict__, **paths})


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    [failure] = result.get_step_failure_events()
    return failure.step_failure_data.user_failure_data.description


def test_irt_assets_on_the_example_logs(project):
    for path in example_log_files():  # the fixture copies 8 of the 28; the IRT group wants them all
        shutil.copy(path, project.settings.log_dir / path.name)
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())
    project.add_logs(keys)
    ingest = dg.materialize(
        [*defs.assets, *defs.asset_checks], selection=["inspect_log", "eval_samples", "ingest_errors"],
        instance=project.instance, resources=project.resources, tags=range_tags(keys[0], keys[-1]),
    )
    assert ingest.success
    _use(project, irt_config=str(PROJECT_ROOT / "examples" / "irt.yaml"))
    result = project.materialize(IRT_ASSETS, None)
    assert result.success
    warehouse = Warehouse(project.settings.warehouse_path)

    wide = warehouse.query("SELECT * FROM irt_responses_wide")
    assert wide.shape == (90, 3 + 8)  # item, task, sample_id and one column per model|scaffold
    assert result.asset_materializations_for_node("response_matrix")[0].metadata["n_task_excluded"].value == 4 * 40
    roles = warehouse.table("irt_respondents").set_index("respondent")["role"]
    assert roles.to_dict()["mockllm/borealis|specialist"] == "new" and (roles == "train").sum() == 7

    meta = result.asset_materializations_for_node("irt_fit")[0].metadata
    assert (project.root / "home" / "fits" / "irt" / "irt_fit.nc").exists()
    assert meta["training_respondents"].value == 7 and np.isfinite(meta["diag/final_loss"].value)

    anchors = warehouse.table("irt_anchors")
    assert len(anchors) == 10 and anchors["weight"].sum() == pytest.approx(1.0)

    estimates = warehouse.table("irt_estimates").set_index("respondent")
    new = estimates.loc["mockllm/borealis|specialist"]
    assert new["role"] == "new" and new["n_seen"] == 10 and np.isfinite(new["true_score"])
    for name in ("anchor", "pirt", "gpirt"):
        assert new[f"{name}_lo"] <= new[name] <= new[f"{name}_hi"]

    summary = warehouse.table("irt_validation_summary").set_index("estimator")
    assert set(summary.index) == {"anchor", "pirt", "gpirt", "random", "train_mean"}  # train_mean: no data
    assert summary.loc["train_mean", "n"] == 6  # draco|specialist has errored samples: no true score

    routing = warehouse.table("irt_routing").set_index("task")
    assert set(routing.index) == {"ALL", "arithmetic", "capitals", "spelling"}
    assert (routing["routed_accuracy"] <= routing["oracle_accuracy"]).all()
    files = [f for node in ("anchor_points", "performance_estimates", "irt_validation", "routing_report")
             for f in result.asset_materializations_for_node(node)[0].metadata["files"].value]
    assert [f.rsplit("/", 1)[-1] for f in files] == ["anchor_clusters.png", "estimates.png", "validation.png", "routing.png"]


def test_irt_assets_on_routerdc(project, shared_fixtures, tmp_path):
    train_json, test_json = (shared_fixtures / "routerdc" / f"mmlu_{split}.json" for split in ("train", "test"))
    if not (train_json.exists() and test_json.exists()):
        pytest.skip(f"RouterDC fixture not found in {shared_fixtures / 'routerdc'}")
    config = tmp_path / "irt.yaml"
    config.write_text(ROUTERDC_IRT)
    _use(project, irt_config=str(config), irt_routerdc=f"{train_json},{test_json}")
    result = project.materialize(IRT_ASSETS, None)
    assert result.success
    warehouse = Warehouse(project.settings.warehouse_path)
    assert result.asset_materializations_for_node("response_matrix")[0].metadata["items"].value == 6213

    records = json.loads(test_json.read_text())
    models = list(records[0]["scores"])
    correct = np.array([[record["scores"][m] > 0 for m in models] for record in records], float)
    overall = warehouse.table("irt_routing").set_index("task").loc["ALL"]
    assert overall["n_items"] == len(records)  # routed on the file's own test split
    assert overall["best_single_accuracy"] == pytest.approx(correct.mean(axis=0).max(), abs=1e-12)
    assert overall["best_single_model"] == models[int(correct.mean(axis=0).argmax())]
    assert overall["oracle_accuracy"] == pytest.approx(correct.max(axis=1).mean(), abs=1e-12)
    estimates = warehouse.table("irt_estimates").set_index("respondent")
    assert estimates.loc["mistralai/Mistral-7B-v0.1", "role"] == "new"
    assert abs(estimates.loc["mistralai/Mistral-7B-v0.1", "gpirt"] - estimates.loc["mistralai/Mistral-7B-v0.1", "true_score"]) < 0.1


@pytest.mark.parametrize(
    ("records", "config", "message"),
    [
        ([{"question": "q1", "scores": {"a": 0.7, "b": 0.0}}, {"question": "q2", "scores": {"a": 1.0, "b": 0.2}}],
         "binarise: none", "scores are not binary"),
        ([{"question": "q1", "scores": {"a": 1, "b": 0}}, {"question": "q2", "scores": {"a": 1}}],
         "n_anchors: 1", "answered by fewer than 2 respondents"),
    ],
    ids=["non-binary scores without a rule", "item answered by one model"],
)
def test_bad_input_fails_with_the_library_message(project, tmp_path, records, config, message):
    data = tmp_path / "toy_test.json"
    data.write_text(json.dumps(records))
    (tmp_path / "irt.yaml").write_text(f"irt:\n  {config}\n")
    _use(project, irt_config=str(tmp_path / "irt.yaml"), irt_routerdc=str(data))
    result = project.materialize(["response_matrix"], None)
    assert not result.success
    description = _failure_message(result)
    assert description.startswith("response_matrix: ") and message in description
    assert f"edit {tmp_path / 'irt.yaml'}" in description and "HIBAYES_IRT_CONFIG" in description  # which file to change
    assert "Traceback" not in description


def test_irt_assets_are_one_group_whose_fits_hold_no_duckdb_slot():
    graph = defs.resolve_asset_graph()
    for name in IRT_ASSETS:
        node = graph.get(dg.AssetKey(name))
        assert node.group_name == "irt"
        # Only the bulk read and write of the responses takes the slot; the fits take seconds to minutes.
        assert node.pools == ({"duckdb"} if name == "response_matrix" else set())


def test_irt_settings_reach_the_resource(tmp_path, monkeypatch):
    from hibayes.settings import load_settings
    from hibayes_assets.resources import build_resources

    monkeypatch.setenv("HIBAYES_IRT_ROUTERDC", "data/mmlu_train.json, /abs/mmlu_test.json")
    monkeypatch.delenv("HIBAYES_IRT_CONFIG", raising=False)
    settings = load_settings(tmp_path)
    assert settings.irt_config == tmp_path / "irt.yaml"
    assert settings.irt_routerdc == (tmp_path / "data" / "mmlu_train.json", Path("/abs/mmlu_test.json"))
    paths = build_resources(settings)["project"]
    assert paths.irt_routerdc_paths == list(settings.irt_routerdc) and paths.irt_config == str(tmp_path / "irt.yaml")


def test_missing_irt_config_means_the_defaults_and_says_so(project, tmp_path):
    data = tmp_path / "toy_test.json"
    data.write_text(json.dumps([{"question": f"q{i}", "scores": {"a": i % 2, "b": 1, "c": 0.5 * (i % 3)}} for i in range(6)]))
    _use(project, irt_config=str(tmp_path / "absent.yaml"), irt_routerdc=str(data))
    result = project.materialize(["response_matrix"], None)
    assert result.success
    metadata = result.asset_materializations_for_node("response_matrix")[0].metadata
    assert metadata["config_source"].value.startswith("IRTConfig defaults (no file at ")
    assert (metadata["respondents"].value, metadata["items"].value) == (3, 6)
