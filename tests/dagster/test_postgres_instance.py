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
from tests.conftest import PROJECT_ROOT, example_log_files
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
    for _ in range(2):  # the analysis's run, from its data to its report
        due = _tick(refresh_results, project)
        chain = [request for request in due.run_requests if request.tags[STAGE_TAG] != "results"]
        if not chain:
            break
        results += _run_requests(project, dg.SensorResult(run_requests=chain))
    assert [set(request.asset_selection) for request in due.run_requests] == [{dg.AssetKey(a) for a in (*HAL_ASSETS, *IRT_ASSETS)}]
    assert _quiet(_tick(new_inspect_logs, project)) and _quiet(_tick(analysis_configs, project))

    logs = sorted(path.name for path in project.settings.log_dir.iterdir())
    stages = sorted(instance.get_run_by_id(result.run_id).tags[STAGE_TAG] for result in results)
    assert stages == ["analysis", "ingest"]
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for run in instance.get_runs())
    assert instance.get_materialized_partitions(dg.AssetKey("eval_samples")) == set(logs)
    assert instance.get_materialized_partitions(dg.AssetKey("model_fit")) == {"model_comparison"}
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


def _materialize(assets: tuple[str, ...], partition_key: str, settings, start, errors) -> None:
    """One Dagster run in this (forked) process, on the instance DAGSTER_HOME names."""
    import traceback

    from hibayes_assets.definitions import defs

    try:
        start.wait()
        with dg.DagsterInstance.get() as instance:
            result = dg.materialize(
                [*defs.assets, *defs.asset_checks], selection=list(assets), partition_key=partition_key,
                instance=instance, resources=build_resources(settings), raise_on_error=False,
            )
            if not result.success:
                errors.put(f"{assets} [{partition_key}] failed")
    except BaseException:
        errors.put(traceback.format_exc())


@pytest.mark.slow
def test_concurrent_runs_on_the_postgres_instance_and_warehouse(postgres_project):
    """Item 3 with Dagster runs: on a warehouse holding 4 logs, one ingest run per new log (4 more)
    and two runs of the analysis's inputs (reading the warehouse while it is written), all at once
    on the PostgreSQL instance and warehouse: every run succeeds, and every log's rows are there
    exactly once."""
    import multiprocessing

    from hibayes.load.inspect_reader import read_log
    from hibayes.warehouse import open_warehouse
    from hibayes_assets.partitions import analysis_partitions, log_partitions
    from hibayes_assets.planner import INGEST_ASSETS, INPUT_ASSETS
    from hibayes_assets.resources import warehouse_pool
    from hibayes_assets.slots import size_pools

    from hibayes_assets.definitions import defs

    project, _, warehouse_url = postgres_project
    first = sorted(project.settings.log_dir.iterdir())
    for path in example_log_files()[len(first) : 2 * len(first)]:
        shutil.copy(path, project.settings.log_dir / path.name)
    logs = sorted(project.settings.log_dir.iterdir())
    new = [path for path in logs if path not in first]
    project.instance.add_dynamic_partitions(log_partitions.name, [path.name for path in logs])
    project.instance.add_dynamic_partitions(analysis_partitions.name, ["model_comparison"])
    for path in first:  # what the analysis reads while the new logs are written
        assert dg.materialize([*defs.assets, *defs.asset_checks], selection=list(INGEST_ASSETS), partition_key=path.name,
                              instance=project.instance, resources=project.resources).success
    size_pools(project.instance, 1, warehouse_pool(project.settings))  # as the sensors and the demo do before launching runs
    store = open_warehouse(warehouse_url)
    fork = multiprocessing.get_context("fork")  # the children start with this process's imports
    start, errors = fork.Barrier(len(new) + 2), fork.Queue()
    jobs = [(INGEST_ASSETS, path.name) for path in new] + [(INPUT_ASSETS, "model_comparison")] * 2
    workers = [fork.Process(target=_materialize, args=(assets, key, project.settings, start, errors)) for assets, key in jobs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    failures = [errors.get() for _ in range(errors.qsize())]
    assert not failures, "\n".join(failures)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)

    runs = project.instance.get_runs()
    assert len(runs) == len(first) + len(jobs) and {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
    expected = {path.name: len(read_log(path, path.name).samples) for path in logs}
    per_log = {row["log_key"]: row["n"] for row in store.records("SELECT log_key, count(*) AS n FROM samples GROUP BY log_key")}
    assert per_log == expected
    assert store.records("SELECT log_key, sample_uuid, epoch FROM samples GROUP BY 1, 2, 3 HAVING count(*) > 1") == []
