"""The warehouse's contract, run against every backend: the local DuckDB file and a PostgreSQL
database (tests/postgres.py's throwaway server; those cases skip, saying why, when it cannot start).
Tests of what only one backend has (DuckDB's file lock, its untyped columns) say so."""

import pytest

from hibayes.load.inspect_reader import read_log
from hibayes.warehouse import Warehouse, open_warehouse
from tests.conftest import example_log_files

BACKENDS = ["duckdb", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path) -> Warehouse:
    """An empty warehouse of each backend."""
    if request.param == "duckdb":
        return open_warehouse(tmp_path / "w.duckdb")
    return open_warehouse(request.getfixturevalue("postgres_database").url)


def test_replacing_a_partition_twice_never_duplicates_rows(store):
    warehouse = store
    first, second = example_log_files()[:2]
    for path in (first, second, first, first):
        rows = read_log(path, path.name)
        warehouse.replace_partition("log_key", path.name, rows.frames())
    counts = warehouse.count_rows()
    expected = len(read_log(first, first.name).samples) + len(read_log(second, second.name).samples)
    assert counts["samples"] == expected
    assert counts["evals"] == 2
    per_log = warehouse.query("SELECT log_key, count(*) AS n FROM samples GROUP BY 1 ORDER BY 1")
    assert list(per_log["log_key"]) == sorted([first.name, second.name])


def test_a_failed_write_leaves_the_partition_as_it_was(store):
    import pandas as pd

    warehouse = store
    path = example_log_files()[0]
    rows = read_log(path, path.name)
    warehouse.replace_partition("log_key", path.name, rows.frames())
    before = warehouse.count_rows()
    broken = rows.frames() | {"scores": pd.DataFrame({"epoch": ["not an integer"]})}
    with pytest.raises(Exception):
        warehouse.replace_partition("log_key", path.name, broken)
    assert warehouse.count_rows() == before


def test_a_table_written_by_an_older_version_takes_the_new_columns(store):
    """A results table created before a column was added (the model comparison's `label`) is
    extended, not rejected: rows already there get NULL."""
    import pandas as pd

    store.replace_rows("model_comparison", "analysis", "old", pd.DataFrame({"model": ["a"], "rank": [0]}))
    store.replace_rows("model_comparison", "analysis", "new", pd.DataFrame({"model": ["b"], "rank": [0], "label": ["b (tag)"]}))
    table = store.table("model_comparison").set_index("analysis")
    assert table.loc["new", "label"] == "b (tag)" and pd.isna(table.loc["old", "label"])


def _types(store, table):
    return store.column_types(table)


def test_a_results_table_first_written_from_an_empty_frame_takes_later_rows(store):
    """An analysis whose fits all raise writes no check results: the table it creates must still
    take the next analysis's rows (DuckDB types the columns of an empty frame "NULL")."""
    import pandas as pd

    columns = ["model", "name", "status", "value", "threshold", "message"]
    store.replace_rows("check_results", "analysis", "broken", pd.DataFrame([], columns=columns))
    assert not any("NULL" in t for t in _types(store, "check_results").values())
    rows = pd.DataFrame([{"model": "m", "name": "r_hat", "status": "pass", "value": 1.001, "threshold": 1.01, "message": "ok"}])
    store.replace_rows("check_results", "analysis", "good", rows)
    table = store.table("check_results")
    assert list(table["analysis"]) == ["good"] and table.loc[0, "value"] == 1.001
    assert _types(store, "check_results")["value"] == "DOUBLE"


def test_a_table_created_with_untyped_columns_repairs_itself(tmp_path):
    """A table an older version created from an empty frame (every column "NULL") is given its
    declared types on the next write instead of rejecting it for ever. DuckDB only: PostgreSQL has
    no untyped column, and no older version wrote there."""
    import duckdb

    from hibayes.hal.errors import error_row, make_errors

    store = Warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.register("incoming", make_errors().assign(stage="run_metrics"))
        conn.execute('CREATE TABLE "hal_errors" AS SELECT * FROM incoming LIMIT 0')
    assert any("NULL" in t for t in _types(store, "hal_errors").values())
    unpriced = make_errors([error_row("prices", "error", "prices", "no price for model m", model="m", count=3)])
    store.replace_rows("hal_errors", "stage", "run_metrics", unpriced)
    types = _types(store, "hal_errors")
    assert not any("NULL" in t for t in types.values()) and types["message"] == "VARCHAR"
    assert store.table("hal_errors")["message"].tolist() == ["no price for model m"]


def test_hal_errors_first_empty_then_an_unpriced_log(store):
    """The HAL sequence of issue 14: a first run with nothing to report, then one with an error."""
    from hibayes.hal.errors import error_row, make_errors

    store.replace_rows("hal_errors", "stage", "run_metrics", make_errors())
    store.replace_rows("hal_errors", "stage", "win_rates", make_errors())
    unpriced = make_errors([error_row("prices", "error", "prices", "no price for model m", model="m", count=3)])
    store.replace_rows("hal_errors", "stage", "run_metrics", unpriced)
    table = store.table("hal_errors")
    assert table[["stage", "model", "count"]].values.tolist() == [["run_metrics", "m", 3]]
    assert _types(store, "hal_errors")["count"] == "BIGINT"


def test_a_whole_table_replaced_by_an_empty_frame_has_typed_columns(store):
    """`replace_table` with an empty result: object columns are VARCHAR, not "NULL", numeric ones
    keep their type, and the next (non-empty) write replaces the table as before."""
    import pandas as pd

    empty = pd.DataFrame({"model": pd.Series([], dtype=object), "accuracy": pd.Series([], dtype=float)})
    store.replace_table("hal_win_rates", empty)
    assert _types(store, "hal_win_rates") == {"model": "VARCHAR", "accuracy": "DOUBLE"}
    store.replace_table("hal_win_rates", pd.DataFrame({"model": ["a"], "accuracy": [0.5]}))
    assert store.table("hal_win_rates").values.tolist() == [["a", 0.5]]


def test_an_outside_reader_blocks_no_read_and_a_write_names_it(tmp_path):
    """Issue 14, item 9: a DuckDB session of another process, open read-only on the warehouse. Every
    read goes on beside it (reads open the file read-only); a write that cannot get the lock fails
    with the project's error naming the holder's PID and command line, and what to close. DuckDB
    only: PostgreSQL has no file lock (its concurrency is test_postgres_warehouse_concurrency's)."""
    import subprocess
    import sys

    import pandas as pd

    from hibayes.warehouse import WarehouseLockedError

    path = tmp_path / "w.duckdb"
    Warehouse(path).replace_table("hal_win_rates", pd.DataFrame({"model": ["a"], "accuracy": [0.5]}))
    reader = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        store = Warehouse(path, connect_retries=1)
        assert store.table("hal_win_rates").values.tolist() == [["a", 0.5]]
        assert store.records("SELECT model FROM hal_win_rates") == [{"model": "a"}]
        assert store.count_rows()["samples"] == 0
        with pytest.raises(WarehouseLockedError) as raised:
            store.replace_table("hal_win_rates", pd.DataFrame({"model": ["b"], "accuracy": [1.0]}))
    finally:
        reader.kill()
        reader.wait()
    message = str(raised.value)
    assert f"PID {reader.pid}" in message and "read_only=True" in message and "Close that process" in message, message
    assert Warehouse(path).table("hal_win_rates").values.tolist() == [["a", 0.5]]


def test_reads_of_a_warehouse_made_outside_the_project_find_the_ingest_tables(store):
    """A warehouse that something else created empty (a DuckDB session's file, a new database):
    the first read creates the tables every reader expects (a read-only DuckDB connection could
    not), then reads as usual."""
    import duckdb

    if store.single_writer:  # the DuckDB file, made by another session (the fixture made the PostgreSQL database)
        duckdb.connect(store.database).close()
    assert store.count_rows() == {table: 0 for table in ("evals", "samples", "scores", "ingest_errors", "log_files")}
    assert store.has_table("samples") and not store.has_table("no_such_table")


def test_the_callers_sql_reads_the_same_frames_on_every_backend(tmp_path, postgres_database):
    """The SQL that callers run (the analysis extract, IRT's samples, the demo's summary, copies)
    is in the subset both dialects share: the same logs ingested into a DuckDB file and a
    PostgreSQL database read back as equal frames, dtypes included."""
    import pandas as pd

    from hibayes.load.copies import ingest_logs
    from hibayes.load.warehouse_extract import SAMPLES_SQL, SCORES_SQL
    from hibayes_assets.assets.irt import SAMPLES_SQL as IRT_SAMPLES_SQL

    logs = {path.name: path for path in example_log_files()[::8]}  # one and two scorers, sample errors, a judge
    duck, postgres = open_warehouse(tmp_path / "w.duckdb"), open_warehouse(postgres_database.url)
    for store in (duck, postgres):
        ingest_logs(store, logs)
    summary = "SELECT log_key, min(message) AS message, count(*) AS n FROM ingest_errors WHERE log_key = ANY(?) GROUP BY log_key ORDER BY log_key"
    for sql, params in [(SAMPLES_SQL, None), (SCORES_SQL, None), (IRT_SAMPLES_SQL, None), (summary, [list(logs)])]:
        pd.testing.assert_frame_equal(duck.query(sql, params), postgres.query(sql, params))
        assert duck.records(sql, params) == postgres.records(sql, params)
    assert len(duck.query(SAMPLES_SQL)) == sum(len(read_log(path, key).samples) for key, path in logs.items())
    pd.testing.assert_frame_equal(duck.kept_runs().sort_values("log_key", ignore_index=True), postgres.kept_runs().sort_values("log_key", ignore_index=True))
    assert duck.orphaned_copies() == postgres.orphaned_copies() == []
    assert len(duck.query(summary, [list(logs)])) == 1  # the log with unusable samples


def test_the_warehouse_setting_picks_the_backend(tmp_path, monkeypatch):
    """HIBAYES_WAREHOUSE: unset, the DuckDB file under HIBAYES_HOME (as before the setting); a
    duckdb:/// URL, that file; a postgresql:// URL, the PostgreSQL backend; anything else stops
    with a message naming the variable and the forms it takes."""
    from hibayes.settings import SettingsError, load_settings
    from hibayes.warehouse_postgres import PostgresWarehouse

    monkeypatch.setenv("HIBAYES_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HIBAYES_WAREHOUSE", raising=False)
    settings = load_settings()
    assert settings.warehouse == str(tmp_path / "home" / "warehouse.duckdb") == str(settings.warehouse_path)
    assert type(open_warehouse(settings.warehouse)) is Warehouse and open_warehouse(settings.warehouse).single_writer
    monkeypatch.setenv("HIBAYES_WAREHOUSE", f"duckdb://{tmp_path}/other.duckdb")
    assert load_settings().warehouse_path == tmp_path / "other.duckdb"
    monkeypatch.setenv("HIBAYES_WAREHOUSE", "postgresql://hibayes:secret@db.internal:5433/warehouse")
    store = open_warehouse(load_settings().warehouse)
    assert isinstance(store, PostgresWarehouse) and not store.single_writer
    assert store.display_location == "postgresql://hibayes@db.internal:5433/warehouse"
    for bad in ("warehouse.duckdb", "duckdb://relative.duckdb", "mysql://h/db", "postgresql://host"):
        monkeypatch.setenv("HIBAYES_WAREHOUSE", bad)
        with pytest.raises(SettingsError, match="HIBAYES_WAREHOUSE=.*duckdb:///absolute.*postgresql://"):
            load_settings()
