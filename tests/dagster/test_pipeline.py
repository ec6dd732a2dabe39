"""The whole graph materialized with a real instance: ingest -> data -> features -> fits (with
checks) -> report, on real example logs; re-runs never duplicate rows; bad logs stay contained."""

import shutil

import dagster as dg
import pandas as pd
import pytest

from hibayes.warehouse import Warehouse
from hibayes_assets.planner import ANALYSIS_ASSETS
from tests.conftest import example_log_files
from tests.dagster.conftest import materializations
from tests.logfactory import write_error_log, write_json_not_a_log, write_not_a_zip, write_truncated_copy


def _ingest_all(project) -> list[str]:
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())
    project.add_logs(keys)
    for key in keys:
        assert project.ingest(key).success, key
    return keys


def test_whole_graph_materializes_and_reruns_reuse(project):
    keys = _ingest_all(project)
    warehouse = Warehouse(project.settings.warehouse_path)
    counts = warehouse.count_rows()
    assert counts["evals"] == len(keys) and counts["samples"] >= 30 * len(keys) - 3

    project.register_analyses()
    models = ["two_level_group_binomial", "simplified_group_binomial_exponential"]
    assert project.instance.get_dynamic_partitions("analyses") == ["model_comparison"]
    result = project.materialize(["analysis_data", "analysis_features"], "model_comparison")
    assert result.success
    (data_meta,) = materializations(result, "analysis_data")
    assert data_meta["load_report"]["excluded_errored_samples"] == counts["samples"] - data_meta["dagster/row_count"]
    # The same rows again: nothing changed, so nothing is recorded and nothing downstream is due.
    again = project.materialize(["analysis_data", "analysis_features"], "model_comparison")
    assert again.success and not materializations(again, "analysis_data") and not materializations(again, "analysis_features")

    fit = project.materialize(["model_fit"], "model_comparison")
    assert fit.success
    evaluations = {e.check_name: e.passed for e in fit.get_asset_check_evaluations()}
    assert evaluations == {"check_r_hat": True, "check_ess_bulk": True, "check_divergences": True}
    (fit_meta,) = materializations(fit, "model_fit")
    assert fit_meta["refitted"] == models and fit_meta["reused_stored_fit"] is False
    for model in models:
        assert (project.settings.home / "fits" / "model_comparison" / f"{model}.nc").exists()

    compared = project.materialize(["check_results", "model_comparison"], "model_comparison")
    assert compared.success
    warehouse_checks = warehouse.query("SELECT model, name, status FROM check_results WHERE analysis = 'model_comparison'")
    assert len(warehouse_checks) == 6 and set(warehouse_checks["status"]) == {"pass"}
    comparison = warehouse.query("SELECT * FROM model_comparison WHERE analysis = 'model_comparison'")
    assert set(comparison["model"]) == set(models) and {"elpd_loo", "se", "elpd_diff", "dse", "weight"} <= set(comparison.columns)
    (comparison_meta,) = materializations(compared, "model_comparison")
    assert comparison_meta["best_model"] in models
    # The pointwise elpd behind it: per model, a success and a failure column per group, weighted by trials.
    pointwise = pd.read_csv(project.settings.home / "artifacts" / "model_comparison" / "model_comparison_pointwise.csv")
    per_model = pointwise.groupby("model")["weight"].sum()
    assert set(per_model.index) == set(models) and per_model.nunique() == 1 and {"group", "outcome", "loo_i", "pareto_k"} <= set(pointwise.columns)
    # ... and one row per observation: the scored samples, each with its column's loo_i and waic_i.
    per_observation = pd.read_parquet(project.settings.home / "artifacts" / "model_comparison" / "model_comparison_pointwise_per_observation.parquet")
    assert per_observation.groupby("model", observed=True).size().to_dict() == per_model.to_dict()
    assert comparison_meta["pointwise_rows"] == len(per_observation)
    elpd = comparison.set_index("model")["elpd_loo"]
    assert per_observation.groupby("model", observed=True)["loo_i"].sum().to_dict() == pytest.approx(elpd.to_dict(), abs=1e-6)

    report = project.materialize(["analysis_report"], "model_comparison")
    assert report.success
    (meta,) = materializations(report, "analysis_report")
    assert set(meta["communicators"].values()) == {"pass"}
    files = meta["files"]
    assert any(f.endswith(".png") for f in files) and any(f.endswith("summary.csv") for f in files)
    assert all((project.settings.home / "artifacts" / "model_comparison").joinpath(f.split("/")[-1]).exists() for f in files)
    assert any(key.startswith("plot/") and "data:image/png;base64," in meta[key] for key in meta)

    # Re-materializing ingest and a fit: same rows, and the stored fit is reused, not resampled.
    assert project.ingest(keys[0]).success
    assert warehouse.count_rows() == counts
    again = project.materialize(["model_fit"], "model_comparison")
    (again_meta,) = materializations(again, "model_fit")
    assert again_meta["reused_stored_fit"] is True and again_meta["refitted"] == []

    # The whole analysis by hand, nothing changed: its data and features record nothing, but a run a
    # person launched goes on (the daemon's stops there): the fits are kept, the report is rendered.
    by_hand = project.materialize(list(ANALYSIS_ASSETS), "model_comparison")
    assert by_hand.success and not materializations(by_hand, "analysis_features")
    (kept,) = materializations(by_hand, "model_fit")
    assert kept["reused_stored_fit"] is True and materializations(by_hand, "analysis_report")


def test_bad_logs_are_recorded_and_leave_the_others_intact(project):
    logs = project.settings.log_dir
    good = sorted(p.name for p in logs.iterdir())
    write_truncated_copy(example_log_files()[0], logs / "truncated.eval")
    write_not_a_zip(logs / "not_a_zip.eval")
    write_json_not_a_log(logs / "logs.json")
    error_log = write_error_log(project.root / "error_logs")
    shutil.copy(error_log, logs / "status_error.eval")
    keys = _ingest_all(project)
    assert len(keys) == len(good) + 4

    warehouse = Warehouse(project.settings.warehouse_path)
    errors = warehouse.query("SELECT log_key, field, message FROM ingest_errors WHERE field IN ('file', 'status') ORDER BY log_key")
    assert list(errors["log_key"]) == ["logs.json", "not_a_zip.eval", "status_error.eval", "truncated.eval"]
    assert all(key in message for key, message in zip(errors["log_key"], errors["message"]))
    assert warehouse.query("SELECT count(DISTINCT log_key) AS n FROM samples WHERE log_key IN ?", [good])["n"][0] == len(good)

    # Each log's check is recorded on its own partition and says what went wrong.
    check = _latest_check(project, "truncated.eval")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "truncated.eval could not be read" in check.description
    status = _latest_check(project, "status_error.eval")
    assert not status.passed and status.severity == dg.AssetCheckSeverity.WARN and "status 'error'" in status.description
    assert _latest_check(project, good[0]).passed
    # Asked again, a file with the same bytes is not read again, readable or not (an unreadable one is
    # remembered by its sha256 until it changes); rewritten, it is.
    assert project.ingest("truncated.eval").get_asset_check_evaluations() == []
    assert project.ingest(good[0]).get_asset_check_evaluations() == []
    write_truncated_copy(example_log_files()[1], logs / "truncated.eval")
    again = project.ingest("truncated.eval").get_asset_check_evaluations()
    assert [e.partition for e in again] == ["truncated.eval"] and not again[0].passed


def _latest_check(project, partition: str) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(dg.AssetKey("eval_samples"), "check_log_readable")
    records = project.instance.event_log_storage.get_asset_check_execution_history(key, limit=100)
    return next(r for r in records if r.partition == partition).event.dagster_event.event_specific_data


def test_an_extractor_the_warehouse_cannot_compute_reads_the_logs_with_hibayes_loader(project):
    import yaml

    config = {
        "data_loader": {"extractors": {"enabled": ["base_extractor", "message_count_extractor", {"metadata_field_extractor": {"field_path": "domain"}}]}},
        "data_process": {
            "processors": [
                {"map_columns": {"column_mapping": {"domain": "group"}}},
                {"groupby": {"groupby_columns": ["group"]}},
                {"extract_features": {"categorical_features": ["group"], "continuous_features": ["n_total"]}},
                {"extract_observed_feature": {"feature_name": "n_correct"}},
            ]
        },
    }
    (project.settings.analyses_dir / "by_domain.yaml").write_text(yaml.safe_dump(config))
    project.instance.add_dynamic_partitions("analyses", ["by_domain"])
    result = project.materialize(["analysis_data", "analysis_features"], "by_domain")
    assert result.success
    report = materializations(result, "analysis_data")[0]["load_report"]
    assert report["source"] == "logs" and report["logs_read"] == len(list(project.settings.log_dir.iterdir()))
    features = materializations(result, "analysis_features")[0]
    assert {"math", "knowledge"} <= set(features["coords"]["group"]) <= {"math", "language", "knowledge"}


def test_an_analysis_whose_model_lacks_features_fails_naming_them(project):
    import yaml

    (project.settings.analyses_dir / "bad.yaml").write_text(yaml.safe_dump({"data_process": {"processors": [{"groupby": {"groupby_columns": ["model"]}}]}}))
    project.instance.add_dynamic_partitions("analyses", ["bad"])
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())[:1]
    project.add_logs(keys)
    assert project.ingest(keys[0]).success
    result = project.materialize(["analysis_data", "analysis_features"], "bad")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.user_failure_data.description
    assert "group_index" in message and "extract_features with categorical_features" in message
