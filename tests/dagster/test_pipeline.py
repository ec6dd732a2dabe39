"""The whole graph materialized with a real instance: ingest -> data -> features -> fits (with
checks) -> report, on real example logs; re-runs never duplicate rows; bad logs stay contained."""

import shutil

import dagster as dg

from hibayes.warehouse import Warehouse
from hibayes_assets.partitions import fit_key
from tests.conftest import example_log_files
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

    project.instance.add_dynamic_partitions("analyses", ["model_comparison"])
    models = ["two_level_group_binomial", "simplified_group_binomial_exponential"]
    project.instance.add_dynamic_partitions("models", models)
    result = project.materialize(["analysis_data", "analysis_features"], "model_comparison")
    assert result.success
    data_meta = result.asset_materializations_for_node("analysis_data")[0].metadata
    assert data_meta["load_report"].value["excluded_errored_samples"] == counts["samples"] - data_meta["dagster/row_count"].value

    for model in models:
        fit = project.materialize(["model_fit"], fit_key("model_comparison", model))
        assert fit.success, model
        evaluations = {e.check_name: e.passed for e in fit.get_asset_check_evaluations()}
        assert evaluations == {"check_r_hat": True, "check_ess_bulk": True, "check_divergences": True}
        assert (project.settings.home / "fits" / "model_comparison" / f"{model}.nc").exists()

    compared = project.materialize(["check_results", "model_comparison"], "model_comparison")
    assert compared.success
    warehouse_checks = warehouse.query("SELECT model, name, status FROM check_results WHERE analysis = 'model_comparison'")
    assert len(warehouse_checks) == 6 and set(warehouse_checks["status"]) == {"pass"}
    comparison = warehouse.query("SELECT * FROM model_comparison WHERE analysis = 'model_comparison'")
    assert set(comparison["model"]) == set(models) and {"elpd_loo", "se", "elpd_diff", "dse", "weight"} <= set(comparison.columns)
    assert compared.asset_materializations_for_node("model_comparison")[0].metadata["best_model"].value in models

    report = project.materialize(["analysis_report"], "model_comparison")
    assert report.success
    meta = report.asset_materializations_for_node("analysis_report")[0].metadata
    assert set(meta["communicators"].value.values()) == {"pass"}
    files = meta["files"].value
    assert any(f.endswith(".png") for f in files) and any(f.endswith("summary.csv") for f in files)
    assert all((project.settings.home / "artifacts" / "model_comparison").joinpath(f.split("/")[-1]).exists() for f in files)
    assert any(key.startswith("plot/") and "data:image/png;base64," in meta[key].value for key in meta)

    # Re-materializing ingest and a fit: same rows, and the stored fit is reused, not resampled.
    assert project.ingest(keys[0]).success
    assert warehouse.count_rows() == counts
    again = project.materialize(["model_fit"], fit_key("model_comparison", models[1]))
    assert again.asset_materializations_for_node("model_fit")[0].metadata["reused_stored_fit"].value is True

    # A grid cell whose model is not in the analysis is skipped without a materialization.
    project.instance.add_dynamic_partitions("models", ["not_in_this_analysis"])
    skipped = project.materialize(["model_fit"], fit_key("model_comparison", "not_in_this_analysis"))
    assert skipped.success and not skipped.asset_materializations_for_node("model_fit")


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

    check = project.ingest("truncated.eval").get_asset_check_evaluations()[0]
    assert check.check_name == "check_log_readable" and not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN


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
    report = result.asset_materializations_for_node("analysis_data")[0].metadata["load_report"].value
    assert report["source"] == "logs" and report["logs_read"] == len(list(project.settings.log_dir.iterdir()))
    features = result.asset_materializations_for_node("analysis_features")[0].metadata
    assert {"math", "knowledge"} <= set(features["coords"].value["group"]) <= {"math", "language", "knowledge"}


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
    message = failure.event_specific_data.error.message
    assert "group_index" in message and "extract_features with categorical_features" in message
