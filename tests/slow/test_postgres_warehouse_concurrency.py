"""The shared warehouse under concurrent writers (issue 16, item 3): on a PostgreSQL database, 4
processes ingest disjoint sets of logs (each log twice) while 2 others refit analyses (read the
samples, replace their rows of `check_results` and their whole `analysis_data_<name>` table), with no
pool or lock of ours between them: no process fails, and every table holds exactly the rows it
should, none lost or twice. Then a process killed (SIGKILL) in the middle of a partition write: the
table holds the old rows, not half the new, and the write done again lands."""

import multiprocessing
import os
import signal
import time
import traceback
from contextlib import closing
from pathlib import Path

import pandas as pd
import psycopg2
import pytest

from hibayes.load.copies import ingest_logs
from hibayes.load.inspect_reader import read_log
from hibayes.load.warehouse_extract import SAMPLES_SQL
from hibayes.warehouse import INGEST_TABLES, open_warehouse
from tests.conftest import example_log_files
from tests.postgres import PostgresDatabase

N_INGESTS = 4
LOGS_PER_INGEST = 6
ANALYSES = ("alpha", "beta")
REFITS = 12  # rounds of each analysis's writes
CHECKS_PER_FIT = 3
KILLED_APP = "hibayes-killed-writer"
BIG_COPIES = 400  # the killed write: one log's rows repeated, 12,000 samples and as many scores or more
FORK = multiprocessing.get_context("fork")  # the children start with this process's imports and logs read


def _ingest(url: str, paths: list[str], start, errors) -> None:
    try:
        store = open_warehouse(url)
        start.wait()
        for _ in range(2):  # every log twice: the second write replaces the first
            for path in paths:
                ingest_logs(store, {Path(path).name: Path(path)})
    except BaseException:
        errors.put(traceback.format_exc())


def _checks(analysis: str, refit: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"model": [f"{analysis}_{n}" for n in range(CHECKS_PER_FIT)], "name": "r_hat", "status": "pass", "value": float(refit)}
    )


def _refit(url: str, analysis: str, start, errors) -> None:
    try:
        store = open_warehouse(url)
        start.wait()
        for refit in range(REFITS):
            samples = store.query(SAMPLES_SQL)  # read while the ingests write: committed rows only
            store.replace_table(f"analysis_data_{analysis}", samples[["log_key", "sample_id", "epoch"]].head(refit + 1))
            store.replace_rows("check_results", "analysis", analysis, _checks(analysis, refit))
    except BaseException:
        errors.put(traceback.format_exc())


def _write_big(url: str, key: str, frames: dict[str, pd.DataFrame]) -> None:
    open_warehouse(f"{url}?application_name={KILLED_APP}").replace_logs({key: frames})


def _inserting(url: str) -> bool:
    """Whether the killed writer's connection is running an INSERT into `samples` (its transaction
    has deleted the log's rows from `evals` and `samples` and written some of the new ones)."""
    with closing(psycopg2.connect(url)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state = 'active' AND query LIKE %s",
            [KILLED_APP, 'INSERT INTO "samples"%'],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.slow
def test_concurrent_ingests_and_refits_then_a_killed_write(postgres_database: PostgresDatabase):
    url = postgres_database.url
    paths = example_log_files()[: N_INGESTS * LOGS_PER_INGEST]
    expected = {path.name: {table: len(frame) for table, frame in read_log(path, path.name).frames().items()} for path in paths}
    store = open_warehouse(url)
    store.count_rows()  # the tables, made before the writers race

    start, errors = FORK.Barrier(N_INGESTS + len(ANALYSES)), FORK.Queue()
    workers = [
        FORK.Process(target=_ingest, args=(url, [str(p) for p in paths[n::N_INGESTS]], start, errors)) for n in range(N_INGESTS)
    ] + [FORK.Process(target=_refit, args=(url, analysis, start, errors)) for analysis in ANALYSES]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    seconds = time.perf_counter() - began
    failures = [errors.get() for _ in range(errors.qsize())]
    assert not failures, "\n".join(failures)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)

    for table in INGEST_TABLES:
        per_log = {row["log_key"]: row["n"] for row in store.records(f"SELECT log_key, count(*) AS n FROM {table} GROUP BY log_key")}
        assert per_log == {key: counts[table] for key, counts in expected.items() if counts[table]}, table
    twice = store.records("SELECT log_key, sample_uuid, epoch FROM samples GROUP BY 1, 2, 3 HAVING count(*) > 1")
    assert twice == []
    checks = store.query("SELECT analysis, model, value FROM check_results ORDER BY analysis, model")
    assert checks.values.tolist() == [[a, f"{a}_{n}", REFITS - 1.0] for a in ANALYSES for n in range(CHECKS_PER_FIT)]
    for analysis in ANALYSES:
        assert len(store.table(f"analysis_data_{analysis}")) == REFITS
    print(f"{N_INGESTS} ingests x {LOGS_PER_INGEST} logs x 2 and {len(ANALYSES)} x {REFITS} refits: {seconds:.1f} s")

    # A write killed while it inserts: the transaction rolls back, the old rows stay, the retry lands.
    key = paths[0].name
    frames = read_log(paths[0], key).frames()
    big = {table: pd.concat([frame] * BIG_COPIES, ignore_index=True) if table in ("samples", "scores") else frame for table, frame in frames.items()}
    before = store.count_rows()
    writer = FORK.Process(target=_write_big, args=(url, key, big))
    writer.start()
    deadline = time.monotonic() + 30
    while not (inserting := _inserting(url)) and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(writer.pid, signal.SIGKILL)
    assert inserting, "the writer was never seen inserting"
    writer.join()
    assert writer.exitcode == -signal.SIGKILL  # killed, not finished
    assert store.count_rows() == before
    assert store.records("SELECT count(*) AS n FROM samples WHERE log_key = ?", [key]) == [{"n": expected[key]["samples"]}]

    store.replace_logs({key: big})  # waits, if need be, for the server to end the dead connection's transaction
    after = store.count_rows()
    assert after == {table: before[table] - expected[key][table] + len(big[table]) for table in INGEST_TABLES}
