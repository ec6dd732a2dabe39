"""The Dagster instance on PostgreSQL (deploy/dagster.postgres.yaml, issue 16 item 1): the file keeps
dagster.yaml's settings, and the daemon's path, sensor -> ingest -> analysis -> report, runs on an
instance built from it against a real PostgreSQL server, every record landing in that server, with
the warehouse in a database of its own on the same server (HIBAYES_WAREHOUSE, item 2)."""

import dataclasses
import shutil
from contextlib import closing

import dagster as dg
import psycopg2
import pytest
import yaml

from hibayes_assets.planner import HAL_ASSETS, IRT_ASSETS, STAGE_TAG
from hibayes_assets.resources import build_resources
from hibayes_assets.sensors import analysis_configs, new_inspect_logs, refresh_results
from tests.conftest import PROJECT_ROOT
from tests.dagster.conftest import Project, project_settings, write_test_analysis
from tests.dagster.test_live_pipeline import _quiet, _tick
from tests.dagster.test_log_folder_changes import _run_requests
from tests.postgres import PostgresDatabase

POSTGRES_YAML = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"
N_LOGS = 4  # four models on one task: enough for a hierarchical fit over models
MODEL = "two_level_group_binomial"
TINY_FIT = {"samples": 100, "warmup": 100, "chains": 2}


def test_the_postgres_instance_file_keeps_every_other_setting_of_dagster_yaml():
    postgres = yaml.safe_load(POSTGRES_YAML.read_text())
    assert postgres.pop("storage") == {"postgres": {"postgres_db": {
        "hostname": {"env": "DAGSTER_PG_HOST"}, "port": {"env": "DAGSTER_PG_PORT"}, "username": {"env": "DAGSTER_PG_USER"},
        "password": {"env": "DAGSTER_PG_PASSWORD"}, "db_name": {"env": "DAGSTER_PG_DB"},
        "scheme": "postgresql+psycopg2",
    }}}
    assert postgres == yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())


@pytest.fixture
def postgres_project(tmp_path, monkeypatch, postgres_database: PostgresDatabase):
    """The project over a few logs and one small analysis, its instance the one `make demo` builds
    from a DAGSTER_HOME holding deploy/dagster.postgres.yaml, on a fresh database of the server."""
    settings = project_settings(tmp_path, n_logs=N_LOGS)
    analysis = write_test_analysis(settings.analyses_dir, models=[MODEL])
    config = yaml.safe_load(analysis.read_text())
    config["model"]["models"][0]["config"]["fit"].update(TINY_FIT)
    config["check"]["checkers"] = [{"r_hat": {"threshold": 1.1}}, "divergences"]  # what 2 x 100 draws can pass
    analysis.write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copy(POSTGRES_YAML, settings.dagster_home / "dagster.yaml")
    server = postgres_database.server
    warehouse_db = f"{postgres_database.name}_warehouse"
    server.create_database(warehouse_db)
    settings = dataclasses.replace(settings, warehouse_url=server.url(warehouse_db))
    for name, value in {
        "DAGSTER_HOME": settings.dagster_home, "DAGSTER_PG_HOST": server.host, "DAGSTER_PG_PORT": server.port,
        "DAGSTER_PG_USER": server.user, "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": postgres_database.name,
    }.items():
        monkeypatch.setenv(name, str(value))
    with dg.DagsterInstance.get() as instance:
        yield Project(tmp_path, settings, instance, build_resources(settings)), postgres_database.url, server.url(warehouse_db)


@pytest.mark.slow
def test_sensor_ingest_and_analysis_run_on_a_postgres_instance(postgres_project):
    project, url, warehouse_url = postgres_project
    instance = project.instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"

    # What the daemon does: each sensor's partitions registered and its runs executed, until only
    # the HAL + IRT run is due: a branch nothing waits for and the slowest run here, left out.
    results = _run_requests(project, _tick(new_inspect_logs, project))
    _run_requests(project, _tick(analysis_configs, project))
    for _ in range(4):  # the analysis's inputs, its fit, its report
        due = _tick(refresh_results, project)
        chain = [request for request in due.run_requests if request.tags[STAGE_TAG] != "results"]
        if not chain:
            break
        results += _run_requests(project, dg.SensorResult(run_requests=chain))
    assert [set(request.asset_selection) for request in due.run_requests] == [{dg.AssetKey(a) for a in (*HAL_ASSETS, *IRT_ASSETS)}]
    assert _quiet(_tick(new_inspect_logs, project)) and _quiet(_tick(analysis_configs, project))

    logs = sorted(path.name for path in project.settings.log_dir.iterdir())
    stages = sorted(instance.get_run_by_id(result.run_id).tags[STAGE_TAG] for result in results)
    assert stages == ["fit", "ingest", "inputs", "report"]
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in instance.get_runs())
    assert instance.get_materialized_partitions(dg.AssetKey("eval_samples")) == set(logs)
    assert instance.get_materialized_partitions(dg.AssetKey("model_fit")) == {f"model_comparison/{MODEL}"}
    assert instance.get_materialized_partitions(dg.AssetKey("analysis_report")) == {"model_comparison"}
    # Nothing went to SQLite: the instance folder holds only its dagster.yaml (and no .db files).
    assert not list(project.settings.dagster_home.rglob("*.db"))

    with closing(psycopg2.connect(url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT run_id, status FROM runs")
        assert dict(cursor.fetchall()) == {result.run_id: "SUCCESS" for result in results}
        cursor.execute(
            "SELECT partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key = %s",
            [dg.AssetKey("eval_samples").to_string()],
        )
        assert sorted(row[0] for row in cursor.fetchall()) == logs
        # The pool slots were taken and given back in PostgreSQL: one slot per pool, none held.
        cursor.execute("SELECT concurrency_key, count(*), count(run_id) FROM concurrency_slots GROUP BY concurrency_key")
        assert {key: (slots, held) for key, slots, held in cursor.fetchall()} == {"duckdb": (1, 0), "mcmc": (1, 0)}
    # The runs wrote the PostgreSQL warehouse: every log's samples, the analysis's checks; no DuckDB file.
    with closing(psycopg2.connect(warehouse_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(DISTINCT log_key) FROM samples")
        assert cursor.fetchone()[0] == len(logs)
        cursor.execute("SELECT count(*) FROM check_results WHERE analysis = 'model_comparison'")
        assert cursor.fetchone()[0] > 0
    assert not list(project.settings.home.rglob("*.duckdb"))
