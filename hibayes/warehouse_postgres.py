"""The warehouse in a PostgreSQL database: the shared, multi-writer backend (HIBAYES_WAREHOUSE=
postgresql://user@host:port/database).

The same tables, columns and calls as the DuckDB file (`hibayes.warehouse.Warehouse`), with what
PostgreSQL does differently:

- Concurrent writers: each write is one transaction, and PostgreSQL's row locks and MVCC let
  processes (and machines) write disjoint partitions at once and read while others write: a reader
  sees the last committed rows, never half a write. A client killed mid-write leaves nothing: the
  server rolls its transaction back when the connection drops. So no pool slot serialises the
  steps that write it (`single_writer = False`).
- Schema changes (a table's creation, a new column, a table or view replaced) take a transaction
  advisory lock per table, so two writers never race to create or alter the same table (PostgreSQL's
  `CREATE TABLE IF NOT EXISTS` is not safe against a concurrent twin); rows are written without it.
- Types: the project declares DuckDB's type names (`TABLE_SCHEMAS`, the DDL); they are mapped to
  PostgreSQL's here, and `column_types` maps them back. A frame's column types come from pandas.
- Callers' SQL uses `?` placeholders (DuckDB's); they become psycopg2's `%s` here.
- `replace_table` drops the old table with its dependent views (`irt_responses_wide`): the asset
  that replaces the table creates its view again right after.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import psycopg2
import psycopg2.extensions
from psycopg2.extras import execute_values

from hibayes.warehouse import (
    ALL_DDL,
    INGEST_TABLES,
    TABLE_SCHEMAS,
    UNTYPED,
    Warehouse,
    _column_type,
    _partition_counts,
    _quote,
    _rows_of,
    _table_columns,
)

INSERT_PAGE_ROWS = 1000  # rows per INSERT statement (execute_values)
# DuckDB type names the project declares -> PostgreSQL's. Others (BIGINT, INTEGER, BOOLEAN,
# TIMESTAMP, VARCHAR) are spelled alike.
TO_POSTGRES = {"DOUBLE": "DOUBLE PRECISION", "FLOAT": "REAL"}
# information_schema.columns.data_type -> DuckDB's name, for `column_types`.
FROM_POSTGRES = {
    "character varying": "VARCHAR",
    "text": "VARCHAR",
    "double precision": "DOUBLE",
    "real": "FLOAT",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "boolean": "BOOLEAN",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
    "numeric": "DECIMAL",
}
# Result column type OIDs (pg_type) -> the pandas dtype `query` gives them, as DuckDB's `.df()`
# does: a numpy dtype, or pandas' nullable one when the column holds NULLs.
_INTEGER_DTYPES = {20: "int64", 23: "int32", 21: "int16"}  # int8, int4, int2 (pandas' nullable: capitalised)
_FLOAT_OIDS = {700, 701, 1700}  # float4, float8, numeric
_BOOLEAN_OID = 16
_TIMESTAMP_OIDS = {1114, 1184}
# A SQL string literal or quoted name (where a `?` is text, not a placeholder), or a `?`, or a `%`.
_PLACEHOLDER_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[?%]")


class PostgresWarehouse(Warehouse):
    """The warehouse's tables in one PostgreSQL database (`url`: postgresql://user@host:port/db)."""

    single_writer = False

    def __init__(self, url: str, connect_retries: int = 8):
        super().__init__(url, connect_retries)
        self._schema_ready = False

    def exists(self) -> bool:
        return True  # the server holds it; reading an empty database creates the tables

    @property
    def display_location(self) -> str:
        """The URL without its password."""
        parts = urlsplit(self.database)
        host = parts.netloc.rsplit("@", 1)[-1]
        user = parts.username and f"{parts.username}@"
        return urlunsplit(parts._replace(netloc=f"{user or ''}{host}"))

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[psycopg2.extensions.connection]:
        """A connection (psycopg2: statements run in a transaction until commit or rollback);
        the ingest tables are created on this object's first connection. `read_only` changes
        nothing: readers and writers do not exclude each other here."""
        conn = self._open()
        try:
            if not self._schema_ready:
                with conn, conn.cursor() as cursor:
                    _lock_schema(cursor, "ingest tables")
                    for ddl in ALL_DDL:
                        cursor.execute(_postgres_types(ddl))
                self._schema_ready = True
            yield conn
        finally:
            conn.close()

    def _open(self) -> psycopg2.extensions.connection:
        """Connect, retrying a while when the server refuses (starting, or at its connection limit)."""
        delay, attempt = 0.1, 0
        while True:
            try:
                return psycopg2.connect(self.database)
            except psycopg2.OperationalError:
                if attempt == self.connect_retries:
                    raise
            attempt += 1
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def replace_partitions(
        self,
        key_column: str,
        frames_by_key: Mapping[str, Mapping[str, pd.DataFrame]],
        tables: Sequence[str] | None = None,
    ) -> dict[str, dict[str, int]]:
        if not frames_by_key:
            return {}
        keys = list(frames_by_key)
        tables, counts = _partition_counts(frames_by_key, tables)
        with self.connect() as conn, conn, conn.cursor() as cursor:
            for table in tables:
                cursor.execute(f"DELETE FROM {_quote(table)} WHERE {_quote(key_column)} = ANY(%s)", [keys])
                incoming = _rows_of(frames_by_key, table)
                if incoming is not None:
                    _insert(cursor, table, incoming)
        return counts

    def replace_rows(self, table: str, key_column: str, key: str, frame: pd.DataFrame) -> int:
        frame = frame.assign(**{key_column: key})
        schema = TABLE_SCHEMAS.get(table, {})
        incoming = frame_types(frame)
        with self.connect() as conn, conn, conn.cursor() as cursor:
            _ensure_columns(cursor, table, schema, incoming)
            cursor.execute(f"DELETE FROM {_quote(table)} WHERE {_quote(key_column)} = %s", [key])
            if len(frame):
                _insert(cursor, table, frame)
        return len(frame)

    def replace_table(self, table: str, frame: pd.DataFrame) -> int:
        columns = _table_columns(TABLE_SCHEMAS.get(table, {}), frame_types(frame), frame_first=True)
        with self.connect() as conn, conn, conn.cursor() as cursor:
            _lock_schema(cursor, table)
            cursor.execute(f"DROP TABLE IF EXISTS {_quote(table)} CASCADE")
            cursor.execute(f"CREATE TABLE {_quote(table)} ({_columns_sql(columns)})")
            if len(frame.columns) and len(frame):
                _insert(cursor, table, frame)
        return len(frame)

    def replace_view(self, view: str, select_sql: str) -> None:
        # CREATE OR REPLACE VIEW cannot drop or rename a view's columns here: drop it first.
        with self.connect() as conn, conn, conn.cursor() as cursor:
            _lock_schema(cursor, view)
            cursor.execute(f"DROP VIEW IF EXISTS {_quote(view)}")
            cursor.execute(f"CREATE VIEW {_quote(view)} AS {select_sql}")

    def column_types(self, table: str) -> dict[str, str]:
        with self.connect() as conn, conn.cursor() as cursor:
            return _columns(cursor, table)

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(*_placeholders(sql, params))
            rows = cursor.fetchall()
            return pd.DataFrame(
                {column.name: _column_values([row[n] for row in rows], column.type_code) for n, column in enumerate(cursor.description)},
                index=pd.RangeIndex(len(rows)),
            )

    def records(self, sql: str, params: list | None = None) -> list[dict[str, Any]]:
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(*_placeholders(sql, params))
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def count_rows(self, tables: tuple[str, ...] = INGEST_TABLES) -> dict[str, int]:
        with self.connect() as conn, conn.cursor() as cursor:
            counts = {}
            for table in tables:
                cursor.execute(f"SELECT count(*) FROM {_quote(table)}")
                counts[table] = cursor.fetchone()[0]
            return counts


def _placeholders(sql: str, params: list | None) -> tuple[str, list | None]:
    """DuckDB's `?` placeholders (outside string literals and quoted names) as psycopg2's `%s`, and
    every `%` as `%%` (psycopg2 reads them in literals too). Without parameters psycopg2 reads no
    placeholders: the SQL is kept."""
    if not params:
        return sql, None

    def swap(token: re.Match[str]) -> str:
        text = token.group(0)
        return "%s" if text == "?" else text.replace("%", "%%")

    return _PLACEHOLDER_TOKENS.sub(swap, sql), list(params)


def _postgres_types(sql: str) -> str:
    """The project's DDL (DuckDB's type names) in PostgreSQL's."""
    return re.sub(r"\b(DOUBLE|FLOAT)\b(?! PRECISION)", lambda m: TO_POSTGRES[m.group(1)], sql)


def _columns_sql(columns: Mapping[str, str]) -> str:
    return ", ".join(f"{_quote(name)} {_postgres_types(column_type)}" for name, column_type in columns.items())


def _lock_schema(cursor: psycopg2.extensions.cursor, table: str) -> None:
    """Hold the lock on `table`'s schema until the transaction ends."""
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"hibayes warehouse schema: {table}"])


def _columns(cursor: psycopg2.extensions.cursor, table: str) -> dict[str, str]:
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND table_schema = current_schema() ORDER BY ordinal_position",
        [table],
    )
    return {name: FROM_POSTGRES.get(data_type, data_type.upper()) for name, data_type in cursor.fetchall()}


def _ensure_columns(
    cursor: psycopg2.extensions.cursor, table: str, schema: Mapping[str, str], incoming: Mapping[str, str]
) -> None:
    """Create `table` (declared columns, then the frame's others) or add the declared and frame
    columns it lacks. Checked without the schema lock first: most writes change nothing."""
    wanted = [*schema, *incoming]
    if set(wanted) <= set(_columns(cursor, table)):
        return
    _lock_schema(cursor, table)
    existing = _columns(cursor, table)  # again: a writer that held the lock may have made them
    if not existing:
        columns = _table_columns(schema, incoming, frame_first=False)
        cursor.execute(f"CREATE TABLE {_quote(table)} ({_columns_sql(columns)})")
        return
    for name in dict.fromkeys(wanted):
        if name not in existing:
            column_type = _postgres_types(_column_type(name, schema, incoming))
            cursor.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(name)} {column_type}")


def frame_types(frame: pd.DataFrame) -> dict[str, str]:
    """Column -> DuckDB type name of a frame's columns, as DuckDB would type it when registered:
    an object column by its values, `UNTYPED` when it has none."""
    return {str(name): _series_type(frame[name]) for name in frame.columns}


def _series_type(series: pd.Series) -> str:
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind == "empty":
        # An empty column of a numeric or boolean dtype keeps its type; an object one has none.
        kind = {"i": "integer", "u": "integer", "f": "floating", "b": "boolean", "M": "datetime64"}.get(series.dtype.kind, "empty")
    return {
        "integer": "BIGINT",
        "floating": "DOUBLE",
        "mixed-integer-float": "DOUBLE",
        "decimal": "DOUBLE",
        "boolean": "BOOLEAN",
        "datetime64": "TIMESTAMP",
        "datetime": "TIMESTAMP",
        "empty": UNTYPED,
    }.get(kind, "VARCHAR")


def _insert(cursor: psycopg2.extensions.cursor, table: str, frame: pd.DataFrame) -> None:
    columns = ", ".join(_quote(str(name)) for name in frame.columns)
    execute_values(cursor, f"INSERT INTO {_quote(table)} ({columns}) VALUES %s", _python_rows(frame), page_size=INSERT_PAGE_ROWS)


def _python_rows(frame: pd.DataFrame) -> list[tuple]:
    """The frame's rows as tuples of values psycopg2 can send: Python scalars, None for every
    missing value (NaN, NaT, pd.NA)."""
    plain = frame.astype(object)
    return list(plain.where(frame.notna(), None).itertuples(index=False, name=None))


def _column_values(values: list, type_code: int) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """A result column as DuckDB's `.df()` types it: numbers, booleans and timestamps as numpy
    dtypes, or pandas' nullable ones when NULLs are among them; text as objects."""
    has_null = any(value is None for value in values)
    if type_code in _INTEGER_DTYPES:
        dtype = _INTEGER_DTYPES[type_code]
        return pd.array(values, dtype=dtype.capitalize()) if has_null else np.array(values, dtype=dtype)
    if type_code in _FLOAT_OIDS:
        return np.array([np.nan if value is None else float(value) for value in values], dtype="float64")
    if type_code == _BOOLEAN_OID:
        return pd.array(values, dtype="boolean") if has_null else np.array(values, dtype=bool)
    if type_code in _TIMESTAMP_OIDS:
        return pd.to_datetime(pd.Series(values, dtype=object)).to_numpy()
    return np.array(values, dtype=object)
