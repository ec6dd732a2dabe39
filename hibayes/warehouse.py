"""The warehouse: schema and idempotent, partition-scoped writes.

This module is the one seam between the project and its storage. Everything that reads or writes
the tables goes through a `Warehouse`, which `open_warehouse` picks from where the warehouse is
(HIBAYES_WAREHOUSE): a local DuckDB file (`Warehouse`, the default) or a PostgreSQL database that
several processes and machines write at once (`hibayes.warehouse_postgres.PostgresWarehouse`). Both
take the same calls and the same SQL from callers: plain SQL that both dialects run (`?` for
parameters, `= ANY(?)` for a list). Connections are opened per call and closed at once: DuckDB allows
one writer process, and Dagster runs steps in several processes. Reads open the file read-only, so
they go on beside other readers (a DuckDB CLI or notebook session included); a writer waits for
the lock a while, then raises `WarehouseLockedError` naming the process that holds it. (In one
process DuckDB refuses a read-only and a read-write connection to one file at the same time: a
read-only connection is never opened while this process holds a read-write one.)
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from hibayes.settings import is_postgres_url

# One row per run: the log file whose rows stand for it (a Dagster partition of `inspect_log`). A
# second file holding the same run (a copy) has no rows here, in `samples` or in `scores`: it is
# recorded in `log_files` and `ingest_errors` instead, so every reader counts each sample once.
EVALS_DDL = """
CREATE TABLE IF NOT EXISTS evals (
    log_key            VARCHAR PRIMARY KEY,  -- partition key: path relative to the log dir
    log_path           VARCHAR,
    sha256             VARCHAR,
    size_bytes         BIGINT,
    mtime              DOUBLE,
    eval_id            VARCHAR,
    run_id             VARCHAR,
    eval_set_id        VARCHAR,
    task               VARCHAR,
    task_id            VARCHAR,
    dataset            VARCHAR,
    model              VARCHAR,               -- full model name, e.g. "openai/gpt-4o"
    solver             VARCHAR,               -- the plan's solver chain, e.g. "generate" or "system_message,generate"
    scaffold           VARCHAR,               -- agent scaffold: eval/task metadata "scaffold", else the solver
    status             VARCHAR,               -- success | error | cancelled | started
    error_message      VARCHAR,
    created            VARCHAR,
    started_at         VARCHAR,
    completed_at       VARCHAR,
    epochs             INTEGER,
    total_samples      INTEGER,
    completed_samples  INTEGER,
    n_samples          INTEGER,               -- rows ingested into `samples`
    n_sample_errors    INTEGER,               -- of which have `error` set
    scorers            VARCHAR,               -- JSON list of scorer names, in log order
    metadata           VARCHAR,               -- JSON
    task_args          VARCHAR,               -- JSON
    inspect_version    VARCHAR,
    ingested_at        TIMESTAMP
)
"""

# One row per sample x epoch.
SAMPLES_DDL = """
CREATE TABLE IF NOT EXISTS samples (
    log_key            VARCHAR,
    eval_id            VARCHAR,
    sample_uuid        VARCHAR,
    sample_id          VARCHAR,               -- dataset id, as text
    epoch              INTEGER,
    model              VARCHAR,
    task               VARCHAR,
    dataset            VARCHAR,
    scaffold           VARCHAR,
    input              VARCHAR,               -- the prompt as text (as Inspect's summaries keep it)
    target             VARCHAR,               -- str() of the target, as HiBayES's base_extractor gives it
    input_tokens       BIGINT,
    output_tokens      BIGINT,
    total_tokens       BIGINT,
    cache_read_tokens  BIGINT,
    cache_write_tokens BIGINT,
    reasoning_tokens   BIGINT,
    total_cost         DOUBLE,                -- as logged by Inspect, NULL when it did not price the call
    total_time         DOUBLE,                -- seconds
    working_time       DOUBLE,                -- seconds
    message_count      INTEGER,
    error              VARCHAR,               -- NULL when the sample ran cleanly
    has_error          BOOLEAN,
    limit_type         VARCHAR,
    score              DOUBLE,                -- numeric value of the first scorer (NULL if not numeric)
    metadata           VARCHAR                -- JSON
)
"""

# One row per sample x epoch x scorer.
SCORES_DDL = """
CREATE TABLE IF NOT EXISTS scores (
    log_key            VARCHAR,
    eval_id            VARCHAR,
    sample_uuid        VARCHAR,
    sample_id          VARCHAR,
    epoch              INTEGER,
    model              VARCHAR,
    task               VARCHAR,
    dataset            VARCHAR,
    scorer             VARCHAR,
    scorer_rank        INTEGER,               -- 0 for the sample's first scorer
    value              DOUBLE,                -- numeric value, NULL when the raw value has none
    raw_value          VARCHAR,               -- JSON of the value as logged
    value_type         VARCHAR,               -- letter | number | bool | string | dict | list | nan | null
    answer             VARCHAR,
    reason             VARCHAR
)
"""

INGEST_ERRORS_DDL = """
CREATE TABLE IF NOT EXISTS ingest_errors (
    log_key            VARCHAR,
    log_path           VARCHAR,
    sample_id          VARCHAR,               -- NULL for errors about the whole log
    epoch              INTEGER,
    field              VARCHAR,               -- what was wrong: file, header, status, sample.error, score.<scorer>, ...
    message            VARCHAR,
    recorded_at        TIMESTAMP
)
"""

# Provenance: one row per log file read, whether its rows are used or it is a copy of a run that
# another file already holds (same eval_id, or the same bytes). The first file ingested keeps the
# run; a copy is read again whenever its partition is, so it takes over once the kept file's rows go.
LOG_FILES_DDL = """
CREATE TABLE IF NOT EXISTS log_files (
    log_key            VARCHAR,
    log_path           VARCHAR,
    sha256             VARCHAR,
    eval_id            VARCHAR,               -- NULL when the file is not a readable log
    status             VARCHAR,               -- the log's status, or unreadable
    read_from          VARCHAR,               -- summaries | full samples: where its sample rows came from
    used_log_key       VARCHAR                -- the file whose rows stand for this run: log_key itself, or the kept copy
)
"""

INGEST_TABLES = ("evals", "samples", "scores", "ingest_errors", "log_files")
ALL_DDL = (EVALS_DDL, SAMPLES_DDL, SCORES_DDL, INGEST_ERRORS_DDL, LOG_FILES_DDL)

# The declared columns of the results tables written with `replace_rows` (rows replaced per key,
# the table kept across runs) and `replace_table`. A table is created with these types whatever the
# first frame holds: DuckDB types each column of an empty frame (or of an all-None object column)
# "NULL", and a table created with such columns rejects every later value ("Unimplemented type for
# cast (VARCHAR -> "NULL")"). Columns a frame has beyond these are added with the frame's types;
# an untyped ("NULL") column that nothing declares is VARCHAR (pandas object columns hold text).
TABLE_SCHEMAS: dict[str, dict[str, str]] = {
    # hibayes_assets.assets.analysis.check_results: one row per checker outcome of every fit.
    "check_results": {
        "analysis": "VARCHAR",
        "model": "VARCHAR",
        "name": "VARCHAR",
        "status": "VARCHAR",
        "value": "DOUBLE",
        "threshold": "DOUBLE",
        "message": "VARCHAR",
    },
    # hibayes_assets.assets.analysis.model_comparison: hibayes.communicate.compare_models' table
    # (elpd_/p_ columns of LOO or of WAIC).
    "model_comparison": {
        "analysis": "VARCHAR",
        "model": "VARCHAR",
        "label": "VARCHAR",
        "rank": "BIGINT",
        "elpd_loo": "DOUBLE",
        "p_loo": "DOUBLE",
        "elpd_waic": "DOUBLE",
        "p_waic": "DOUBLE",
        "elpd_diff": "DOUBLE",
        "weight": "DOUBLE",
        "se": "DOUBLE",
        "dse": "DOUBLE",
        "warning": "BOOLEAN",
        "scale": "VARCHAR",
        "verdict": "VARCHAR",
    },
    # hibayes_assets.assets.analysis.comparisons: hibayes.comparisons.COMPARISON_COLUMNS per analysis
    # (written out: importing that module here would load SciPy into every sensor process).
    "comparisons": {
        "analysis": "VARCHAR",
        "model_a": "VARCHAR",
        "model_b": "VARCHAR",
        "n_items": "BIGINT",
        "n_clusters": "DOUBLE",
        "binary": "BOOLEAN",
        "mean_a": "DOUBLE",
        "mean_b": "DOUBLE",
        "difference": "DOUBLE",
        "se_naive": "DOUBLE",
        "naive_low": "DOUBLE",
        "naive_high": "DOUBLE",
        "se_clustered": "DOUBLE",
        "clustered_low": "DOUBLE",
        "clustered_high": "DOUBLE",
        "se_paired": "DOUBLE",
        "paired_low": "DOUBLE",
        "paired_high": "DOUBLE",
        "se_paired_clustered": "DOUBLE",
        "paired_clustered_low": "DOUBLE",
        "paired_clustered_high": "DOUBLE",
        "p_paired_t": "DOUBLE",
        "n_a_better": "BIGINT",
        "n_b_better": "BIGINT",
        "test": "VARCHAR",
        "p_value": "DOUBLE",
        "p_holm": "DOUBLE",
        "p_bh": "DOUBLE",
        "min_detectable_difference": "DOUBLE",
        "items_needed": "DOUBLE",
        "posterior_mean": "DOUBLE",
        "posterior_hdi_low": "DOUBLE",
        "posterior_hdi_high": "DOUBLE",
        "p_a_better": "DOUBLE",
    },
    # hibayes_assets.assets.hal._record_errors: hibayes.hal.errors.ERROR_COLUMNS per HAL stage.
    "hal_errors": {
        "stage": "VARCHAR",
        "source": "VARCHAR",
        "severity": "VARCHAR",
        "benchmark": "VARCHAR",
        "model": "VARCHAR",
        "scaffold": "VARCHAR",
        "field": "VARCHAR",
        "message": "VARCHAR",
        "count": "BIGINT",
    },
}


class WarehouseLockedError(OSError):
    """Another process holds the warehouse's lock: the message names it (PID and command line) and
    what to close."""

    def __init__(self, database: str, duckdb_message: str, read_only: bool):
        pid = re.search(r"\(PID (\d+)\)", duckdb_message)
        holder = f"PID {pid.group(1)}{_command_line(int(pid.group(1)))}" if pid else "another process"
        wanted = "read" if read_only else "write"
        super().__init__(
            f"the warehouse {database} is locked by {holder}, so it cannot be opened to {wanted}. Close that "
            "process's DuckDB connection to the file (a DuckDB shell, a notebook, another `make demo` or "
            "`make ui`) and run again. DuckDB said: " + duckdb_message.splitlines()[0]
        )


def _command_line(pid: int) -> str:
    """ ` (the command line)` of a process, from /proc, when this host can see it."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return ""
    command = " ".join(" ".join(word.decode(errors="replace").split()) for word in words)
    return f" ({command[:300]})" if command else ""


def open_warehouse(location: str | Path) -> Warehouse:
    """The warehouse at `location`: a `postgresql://` URL, else a DuckDB file's path
    (`hibayes.settings.Settings.warehouse` gives one from HIBAYES_WAREHOUSE)."""
    if is_postgres_url(str(location)):
        from hibayes.warehouse_postgres import PostgresWarehouse  # psycopg2 only where it is used

        return PostgresWarehouse(str(location))
    return Warehouse(location)


class Warehouse:
    """A DuckDB file with short-lived connections and partition-scoped replace writes."""

    # DuckDB lets one process write a file at a time: the steps that write it share one pool slot
    # (hibayes_assets.slots.warehouse_pool). A backend that takes concurrent writers sets False.
    single_writer = True

    def __init__(self, database: str | Path, connect_retries: int = 8):
        self.database = str(database)
        self.connect_retries = connect_retries

    def exists(self) -> bool:
        """Whether the warehouse was ever written (reading it would create it)."""
        return Path(self.database).exists()

    @property
    def display_location(self) -> str:
        """Where the warehouse is, to print."""
        return self.database

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the file, retrying while another process holds a lock that excludes this connection
        (any lock for a writer; a writer's for a reader), then raising `WarehouseLockedError`."""
        if read_only and not Path(self.database).exists():
            read_only = False  # DuckDB cannot open a missing file read-only; create it empty instead.
        conn = self._open(read_only)
        if read_only and not _has_ingest_tables(conn):
            conn.close()  # a file no writer of ours made yet: create the tables every reader expects
            conn, read_only = self._open(False), False
        try:
            if not read_only:
                for ddl in ALL_DDL:
                    conn.execute(ddl)
            yield conn
        finally:
            conn.close()

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        if not read_only:
            Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        delay, attempt = 0.1, 0
        while True:
            try:
                return duckdb.connect(self.database, read_only=read_only)
            except duckdb.IOException as err:
                if "lock" not in str(err).lower():
                    raise
                if attempt == self.connect_retries:
                    raise WarehouseLockedError(self.database, str(err), read_only) from err
            attempt += 1
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def replace_partition(
        self, key_column: str, key: str, frames: Mapping[str, pd.DataFrame]
    ) -> dict[str, int]:
        """Delete `key`'s rows from each table and insert the new ones, in one transaction.

        Re-running with the same input leaves the tables exactly as they were: this is what makes
        every partition write idempotent.
        """
        return self.replace_partitions(key_column, {key: frames})[key]

    def replace_partitions(
        self,
        key_column: str,
        frames_by_key: Mapping[str, Mapping[str, pd.DataFrame]],
        tables: Sequence[str] | None = None,
    ) -> dict[str, dict[str, int]]:
        """`replace_partition` for many keys at once: one connection, one transaction, and one
        DELETE and one INSERT per table, since opening the file and each statement cost more than
        writing a small log's rows. `tables` (default: those the frames name) are the tables whose
        rows of these keys are replaced: a key without a frame for one of them loses its rows there."""
        if not frames_by_key:
            return {}
        keys = list(frames_by_key)
        tables, counts = _partition_counts(frames_by_key, tables)
        with self.connect() as conn, _transaction(conn):
            for table in tables:
                conn.execute(f"DELETE FROM {table} WHERE {key_column} IN (SELECT unnest(?))", [keys])
                incoming = _rows_of(frames_by_key, table)
                if incoming is not None:
                    conn.register("incoming", incoming)
                    conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
                    conn.unregister("incoming")
        return counts

    def replace_logs(
        self, frames_by_key: Mapping[str, Mapping[str, pd.DataFrame]], removed: Collection[str] = ()
    ) -> dict[str, dict[str, int]]:
        """Each log's rows in every ingest table replaced by its frames, and every row of the
        `removed` logs (files that are gone) deleted, in one transaction."""
        return self.replace_partitions("log_key", {**frames_by_key, **{key: {} for key in removed}}, INGEST_TABLES)

    def replace_rows(self, table: str, key_column: str, key: str, frame: pd.DataFrame) -> int:
        """Replace the rows of `table` whose `key_column` equals `key`, in one transaction. The
        table is created on first use with its declared columns (`TABLE_SCHEMAS`) and the frame's
        others; a table written by an older version gets the columns a newer frame has, and one
        created with untyped ("NULL") columns from an empty frame is repaired."""
        frame = frame.assign(**{key_column: key})
        schema = TABLE_SCHEMAS.get(table, {})
        with self.connect() as conn:
            conn.register("incoming", frame)
            try:
                incoming = _incoming_types(conn)
                if not _table_exists(conn, table):
                    columns = _table_columns(schema, incoming, frame_first=False)
                    conn.execute(f"CREATE TABLE IF NOT EXISTS {_quote(table)} ({_columns_sql(columns)})")
                _repair_untyped_columns(conn, table, schema, incoming)
                _add_missing_columns(conn, table, schema, incoming)
                with _transaction(conn):
                    conn.execute(f"DELETE FROM {_quote(table)} WHERE {_quote(key_column)} = ?", [key])
                    if len(frame):
                        conn.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT * FROM incoming")
            finally:
                conn.unregister("incoming")
        return len(frame)

    def table(self, table: str) -> pd.DataFrame:
        return self.query(f'SELECT * FROM "{table}"')

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        """Create or replace a whole table (used for per-analysis tables). Its columns are the
        frame's, with their types; a column the frame leaves untyped (empty, or all None) takes
        its declared type (`TABLE_SCHEMAS`, else VARCHAR), and declared columns the frame lacks
        are added, so an empty result still gives a table of the right shape."""
        schema = TABLE_SCHEMAS.get(table, {})
        with self.connect() as conn:
            conn.register("incoming", frame)
            try:
                incoming = _incoming_types(conn)
                columns = _table_columns(schema, incoming, frame_first=True)
                if columns == incoming or not columns:  # nothing to type: DuckDB's own copy
                    conn.execute(f"CREATE OR REPLACE TABLE {_quote(table)} AS SELECT * FROM incoming")
                else:
                    with _transaction(conn):
                        conn.execute(f"CREATE OR REPLACE TABLE {_quote(table)} ({_columns_sql(columns)})")
                        if incoming and len(frame):
                            conn.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT * FROM incoming")
            finally:
                conn.unregister("incoming")
        return len(frame)

    def replace_view(self, view: str, select_sql: str) -> None:
        """Create or replace the view `view` as `select_sql`."""
        with self.connect() as conn:
            conn.execute(f"CREATE OR REPLACE VIEW {_quote(view)} AS {select_sql}")

    def has_table(self, table: str) -> bool:
        """Whether a table or view of that name exists."""
        return bool(self.records(
            "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
            [table],
        )[0]["n"])

    def column_types(self, table: str) -> dict[str, str]:
        """Column -> type, in DuckDB's names (VARCHAR, DOUBLE, BIGINT, ...), whatever the backend."""
        return {row["column_name"]: row["column_type"] for row in self.records(f"DESCRIBE {_quote(table)}")}

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connect(read_only=True) as conn:
            return conn.execute(sql, params or []).df()

    def records(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        """Rows as dicts of plain Python values (a BIGINT column with NULLs stays ints and None,
        where a dataframe would turn it into floats)."""
        with self.connect(read_only=True) as conn:
            cursor = conn.execute(sql, params or [])
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def kept_runs(self) -> pd.DataFrame:
        """The file that stands for each run in the tables readers use: log_key, log_path, eval_id,
        sha256."""
        return self.query("SELECT log_key, log_path, eval_id, sha256 FROM evals")

    def orphaned_copies(self) -> list[str]:
        """Keys of copies whose kept file no longer holds their run (it was re-ingested with another
        run, or its rows went): ingesting them again makes them count."""
        return list(
            self.query(
                """
                SELECT f.log_key FROM log_files f
                WHERE f.used_log_key <> f.log_key
                  AND NOT EXISTS (SELECT 1 FROM evals e WHERE e.log_key = f.used_log_key AND e.eval_id = f.eval_id)
                ORDER BY f.log_key
                """
            )["log_key"]
        )

    def count_rows(self, tables: tuple[str, ...] = INGEST_TABLES) -> dict[str, int]:
        with self.connect(read_only=True) as conn:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def _partition_counts(
    frames_by_key: Mapping[str, Mapping[str, pd.DataFrame]], tables: Sequence[str] | None
) -> tuple[list[str], dict[str, dict[str, int]]]:
    """The tables a partition write replaces (default: those the frames name) and the rows it
    writes per key and table."""
    if tables is None:
        tables = list(dict.fromkeys(table for frames in frames_by_key.values() for table in frames))
    counts = {key: {table: len(frames.get(table, ())) for table in tables} for key, frames in frames_by_key.items()}
    return list(tables), counts


def _rows_of(frames_by_key: Mapping[str, Mapping[str, pd.DataFrame]], table: str) -> pd.DataFrame | None:
    """Every key's rows for `table` in one frame, or None when no key has any."""
    parts = [frames[table] for frames in frames_by_key.values() if len(frames.get(table, ()))]
    return pd.concat(parts, ignore_index=True) if parts else None


UNTYPED = "NULL"  # DuckDB's type of a column with no values to infer one from (DESCRIBE says '"NULL"')


def _untyped(column_type: str) -> bool:
    return column_type.strip('"') == UNTYPED


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _columns_sql(columns: Mapping[str, str]) -> str:
    return ", ".join(f"{_quote(name)} {column_type}" for name, column_type in columns.items())


def _incoming_types(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Column -> DuckDB type of the registered `incoming` frame."""
    return {row[0]: row[1] for row in conn.execute("DESCRIBE SELECT * FROM incoming").fetchall()}


def _has_ingest_tables(conn: duckdb.DuckDBPyConnection) -> bool:
    found = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name IN (SELECT unnest(?)) AND table_schema = current_schema()",
        [list(INGEST_TABLES)],
    ).fetchone()[0]
    return found == len(INGEST_TABLES)


def _table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
            [table],
        ).fetchone()[0]
    )


def _column_type(name: str, schema: Mapping[str, str], incoming: Mapping[str, str]) -> str:
    """The type a new column gets: declared, else the frame's, else (untyped) VARCHAR."""
    if name in schema:
        return schema[name]
    found = incoming.get(name, UNTYPED)
    return "VARCHAR" if _untyped(found) else found


def _table_columns(schema: Mapping[str, str], incoming: Mapping[str, str], frame_first: bool) -> dict[str, str]:
    """Columns of a new table. `frame_first=False`: the declared columns with their declared types,
    then the frame's others. `frame_first=True` (a whole table replaced by every write): the frame's
    columns with their own types where DuckDB could infer one, then the declared ones it lacks."""
    if not frame_first:
        return {**dict(schema), **{name: _column_type(name, schema, incoming) for name in incoming if name not in schema}}
    columns = {
        name: _column_type(name, schema, incoming) if _untyped(found) else found for name, found in incoming.items()
    }
    return {**columns, **{name: kind for name, kind in schema.items() if name not in columns}}


def _repair_untyped_columns(
    conn: duckdb.DuckDBPyConnection, table: str, schema: Mapping[str, str], incoming: Mapping[str, str]
) -> None:
    """Give the untyped ("NULL") columns of a table first created from an empty frame their type:
    every value such a column holds is NULL, so the change loses nothing."""
    for name, column_type, *_ in conn.execute(f"DESCRIBE {_quote(table)}").fetchall():
        if _untyped(column_type):
            wanted = _column_type(name, schema, incoming)
            conn.execute(f"ALTER TABLE {_quote(table)} ALTER COLUMN {_quote(name)} TYPE {wanted}")


@contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """The statements in the block commit together or not at all."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _add_missing_columns(
    conn: duckdb.DuckDBPyConnection, table: str, schema: Mapping[str, str] | None = None, incoming: Mapping[str, str] | None = None
) -> None:
    """Declared columns and columns of the registered `incoming` frame that `table` lacks (a table
    written by an older version of the project), added with their declared types, else the frame's
    (VARCHAR where the frame has none): rows already there get NULL."""
    schema = schema or {}
    incoming = _incoming_types(conn) if incoming is None else incoming
    existing = {row[0] for row in conn.execute(f"DESCRIBE {_quote(table)}").fetchall()}
    for name in [*schema, *incoming]:
        if name not in existing:
            conn.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(name)} {_column_type(name, schema, incoming)}")
            existing.add(name)
