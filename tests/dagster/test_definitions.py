import dagster as dg

from hibayes_assets.definitions import defs


def test_definitions_load_and_name_the_graph():
    dg.Definitions.validate_loadable(defs)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {
        "inspect_log", "eval_samples", "ingest_errors",
        "analysis_data", "analysis_features", "model_fit", "check_results", "model_comparison", "comparisons",
        "analysis_report",
        "run_metrics", "cost_frontier", "win_rates", "hal_report",
        "response_matrix", "irt_fit", "anchor_points", "performance_estimates", "irt_validation", "routing_report",
    }
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"check_r_hat", "check_ess_bulk", "check_divergences", "check_log_readable"} <= checks


def test_an_analysis_is_one_partition_from_its_data_to_its_report_and_nothing_automates_itself():
    graph = defs.resolve_asset_graph()
    analysis_assets = ("analysis_data", "analysis_features", "model_fit", "check_results", "model_comparison", "comparisons", "analysis_report")
    assert {graph.get(dg.AssetKey(asset)).partitions_def.name for asset in analysis_assets} == {"analyses"}
    # What runs when is the planner's alone: no asset carries an automation condition of its own.
    assert all(graph.get(key).automation_condition is None for key in graph.get_all_asset_keys())


def test_unattended_automation_is_on_by_default():
    for name in ("new_inspect_logs", "analysis_configs", "refresh_results", "record_run_failures"):
        assert defs.resolve_sensor_def(name).default_status == dg.DefaultSensorStatus.RUNNING
    assert defs.resolve_schedule_def("nightly_refit").default_status == dg.DefaultScheduleStatus.RUNNING


def test_duckdb_and_mcmc_steps_are_pooled():
    graph = defs.resolve_asset_graph()
    for name in ("eval_samples", "run_metrics", "response_matrix"):
        assert graph.get(dg.AssetKey(name)).pools == {"duckdb"}
    # An analysis's step fits: it holds the `mcmc` slot, and its short reads and writes of the
    # warehouse wait for DuckDB's lock instead of holding its slot through the fits.
    for name in ("analysis_data", "model_fit", "analysis_report"):
        assert graph.get(dg.AssetKey(name)).pools == {"mcmc"}
    # Seconds of computation on small tables, with short retrying reads and writes: no slot.
    for name in ("cost_frontier", "win_rates", "hal_report"):
        assert graph.get(dg.AssetKey(name)).pools == set(), name


def test_the_instance_frees_the_pool_slots_of_ended_runs(tmp_path):
    """dagster.yaml turns run monitoring on, whose daemon frees the pool slots of runs that ended
    without freeing them (a killed step's), and asks for no resume the default launcher cannot do."""
    import yaml

    from tests.conftest import PROJECT_ROOT

    overrides = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides) as instance:
        assert "MONITORING" in instance.get_required_daemon_types()
        assert 0 < instance.run_monitoring_settings["free_slots_after_run_end_seconds"] <= 30
        assert instance.run_monitoring_max_resume_run_attempts == 0
