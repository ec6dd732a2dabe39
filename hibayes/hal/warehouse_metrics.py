"""Run metrics computed in the warehouse: the same tables as `run_metrics_from_samples`, from a
few GROUP BY queries that return one row per run, instead of a million sample rows read into
pandas (at 10k logs that read was most of the step's time and memory).

The SQL reduces the sample rows to `hibayes.hal.metrics.RUN_SUM_COLUMNS`, the sums the pandas
path reduces them to as well, and `runs_from_sums` turns those into the metrics and error rows:
one set of definitions (see `hibayes.hal.metrics`), two ways of summing. The queries are plain
SQL that DuckDB and PostgreSQL both run (GROUP BY, CASE, COALESCE, joins, UNION ALL, CAST,
the ordered-set `percentile_cont`); they reach the store through `Warehouse.query`.

Two rules of the pandas path need care in SQL:
- "finite": NaN compares greater than every number, infinity included, in DuckDB and PostgreSQL
  alike, so ``x > -inf AND x < inf`` holds exactly for finite x (and is NULL for NULL);
  ``x > inf`` holds for NaN only.
- A row with neither ``sample_id`` nor ``sample_uuid`` is a sample of its own (the pandas path
  names it by its row): such rows are not grouped, and never duplicates.
Scores come from ``samples.score`` (the first scorer), as in the pandas path: the ``scores``
table's other scorers do not count, and a copy of a log has no rows in either table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from hibayes.hal.errors import make_errors
from hibayes.hal.metrics import (
    RUN_SUM_COLUMNS,
    UNKNOWN_SCAFFOLD,
    _check_fields,
    _price_lookup,
    incomplete_log_messages,
    no_scaffold_rows,
    run_metrics_from_samples,
    runs_from_sums,
    sample_columns,
    unattributed_rows,
)
from hibayes.warehouse import Warehouse

_INF = "CAST('Infinity' AS DOUBLE PRECISION)"
_MINUS_INF = "CAST('-Infinity' AS DOUBLE PRECISION)"
_RUN = "task, model, scaffold"


def _finite(x: str) -> str:
    return f"({x} > {_MINUS_INF} AND {x} < {_INF})"


def _count(condition: str) -> str:
    return f"CAST(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS BIGINT)"


def _double(expression: str) -> str:
    return f"CAST({expression} AS DOUBLE PRECISION)"


def _status(alias: str) -> str:
    """A log's status; a sample whose log `evals` does not list counts as from a finished log."""
    return f"COALESCE({alias}.status, 'success')"


def _clean_rows_sql(latency_field: str, exclude_errors: bool, include_incomplete_logs: bool) -> str:
    """The cleaned sample rows of `run_metrics_from_samples`, as a CTE ``clean``."""
    finished = "" if include_incomplete_logs else f"AND {_status('e')} = 'success'"
    usable = "score IS NOT NULL AND NOT errored" if exclude_errors else "score IS NOT NULL"
    return f"""
    WITH kept AS (
        SELECT s.task, s.model, COALESCE(s.scaffold, '{UNKNOWN_SCAFFOLD}') AS scaffold,
               COALESCE(s.sample_id, s.sample_uuid) AS sample_key,
               s.epoch,
               COALESCE(s.has_error, s.error IS NOT NULL) AS errored,
               CASE WHEN {_finite('s.score')} THEN s.score END AS score,
               s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens,
               s.input_tokens IS NOT NULL AND s.output_tokens IS NOT NULL AS has_usage,
               s.total_cost AS logged_cost,
               s.{latency_field} AS latency
        FROM samples s LEFT JOIN evals e ON e.log_key = s.log_key
        WHERE s.task IS NOT NULL AND s.model IS NOT NULL {finished}
    ),
    clean AS (SELECT kept.*, {usable} AS usable FROM kept)"""


def _run_sums_sql(latency_field: str, exclude_errors: bool, include_incomplete_logs: bool) -> str:
    """One row per run, columns `RUN_SUM_COLUMNS`."""
    tokens = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
    token_sums = ",\n".join(
        f"COUNT({t}) AS n_{t}, {_double(f'SUM({t})')} AS sum_{t}, {_count(f'{t} < 0')} AS n_negative_{t}"
        for t in tokens
    )
    priced = ",\n".join(
        f"{_double(f'COALESCE(SUM(CASE WHEN has_usage THEN COALESCE({t}, 0) END), 0)')} AS priced_{t}"
        for t in tokens
    )
    good_latency = f"{_finite('latency')} AND latency >= 0"
    sql = _clean_rows_sql(latency_field, exclude_errors, include_incomplete_logs) + f""",
    per_sample AS (
        SELECT {_RUN}, AVG(CASE WHEN usable THEN score END) AS mean_score
        FROM clean WHERE sample_key IS NOT NULL GROUP BY {_RUN}, sample_key
        UNION ALL
        SELECT {_RUN}, CASE WHEN usable THEN score END FROM clean WHERE sample_key IS NULL
    ),
    by_sample AS (
        SELECT {_RUN}, COUNT(*) AS n_samples, COUNT(mean_score) AS n_scored,
               {_double('COALESCE(SUM(mean_score), 0)')} AS successes,
               {_double('STDDEV_SAMP(mean_score)')} AS sd_sample_score
        FROM per_sample GROUP BY {_RUN}
    ),
    duplicates AS (
        SELECT {_RUN}, CAST(SUM(n) AS BIGINT) AS n_duplicate_rows
        FROM (SELECT {_RUN}, COUNT(*) AS n FROM clean WHERE sample_key IS NOT NULL
              GROUP BY {_RUN}, sample_key, epoch HAVING COUNT(*) > 1) d
        GROUP BY {_RUN}
    ),
    by_row AS (
        SELECT {_RUN},
               COUNT(*) AS n_rows,
               {_count('errored')} AS n_errors,
               {_count('score IS NULL AND NOT errored')} AS n_unscored,
               MIN(score) AS score_min, MAX(score) AS score_max, COUNT(score) AS n_finite_scores,
               {token_sums},
               {_count('has_usage')} AS n_with_usage,
               {priced},
               {_count('logged_cost < 0')} AS n_negative_logged_cost,
               {_count(_finite('logged_cost'))} AS n_finite_logged_cost,
               {_double(f"COALESCE(SUM(CASE WHEN {_finite('logged_cost')} THEN logged_cost END), 0)")} AS sum_logged_cost,
               {_count(f'latency IS NULL OR latency > {_INF}')} AS n_latency_missing,
               {_count('latency < 0')} AS n_latency_negative,
               {_count(good_latency)} AS n_latency,
               {_double(f'COALESCE(SUM(CASE WHEN {good_latency} THEN latency END), 0)')} AS sum_latency,
               {_double(f'percentile_cont(0.5) WITHIN GROUP (ORDER BY CASE WHEN {good_latency} THEN latency END)')}
                   AS median_latency
        FROM clean GROUP BY {_RUN}
    )
    SELECT r.task, r.model, r.scaffold, r.n_rows, s.n_samples,
           COALESCE(d.n_duplicate_rows, 0) AS n_duplicate_rows,
           r.n_errors, r.n_unscored, s.n_scored, s.successes, s.sd_sample_score,
           {", ".join(f"r.{c}" for c in RUN_SUM_COLUMNS[RUN_SUM_COLUMNS.index("score_min"):])}
    FROM by_row r
    JOIN by_sample s ON s.task = r.task AND s.model = r.model AND s.scaffold = r.scaffold
    LEFT JOIN duplicates d ON d.task = r.task AND d.model = r.model AND d.scaffold = r.scaffold
    """
    return sql


# Rows of unfinished logs per run and status, before they are left out (or kept).
_INCOMPLETE_SQL = f"""
    SELECT s.task, s.model, COALESCE(s.scaffold, '{UNKNOWN_SCAFFOLD}') AS scaffold, e.status,
           COUNT(*) AS n_rows, COUNT(DISTINCT s.log_key) AS n_logs
    FROM samples s JOIN evals e ON e.log_key = s.log_key
    WHERE s.task IS NOT NULL AND s.model IS NOT NULL AND {_status('e')} <> 'success'
    GROUP BY s.task, s.model, COALESCE(s.scaffold, '{UNKNOWN_SCAFFOLD}'), e.status
"""
_NO_SCAFFOLD_SQL = "SELECT task, model, COUNT(*) AS n FROM samples WHERE scaffold IS NULL GROUP BY task, model"
_UNATTRIBUTED_SQL = "SELECT COUNT(*) AS n FROM samples WHERE task IS NULL OR model IS NULL"


def run_sums(
    warehouse: Warehouse, latency_field: str = "working_time", exclude_errors: bool = True,
    include_incomplete_logs: bool = False,
) -> pd.DataFrame:
    """`RUN_SUM_COLUMNS` of the warehouse's sample rows, one row per run (in no set order)."""
    _check_fields(latency_field, "scaffold")
    sums = warehouse.query(_run_sums_sql(latency_field, exclude_errors, include_incomplete_logs))
    return sums[list(RUN_SUM_COLUMNS)]


def run_metrics_from_warehouse(
    warehouse: Warehouse,
    prices: pd.DataFrame,
    *,
    scaffold_types: Mapping[str, str] | None = None,
    scaffold_field: str = "scaffold",
    latency_field: str = "working_time",
    exclude_errors: bool = True,
    include_incomplete_logs: bool = False,
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`run_metrics_from_samples` on the warehouse's ``samples`` and ``evals`` tables, summed in
    the warehouse; returns ``(run_metrics, errors)``, the same tables. A scaffold read from the
    sample metadata (``scaffold_field="metadata.<key>"``) needs JSON functions, which DuckDB and
    PostgreSQL spell differently, so that setting reads the rows and sums them in pandas."""
    _check_fields(latency_field, scaffold_field)
    settings: dict[str, Any] = dict(scaffold_types=scaffold_types, latency_field=latency_field,
                                    exclude_errors=exclude_errors, include_incomplete_logs=include_incomplete_logs,
                                    confidence=confidence)
    evals = warehouse.table("evals")
    if scaffold_field != "scaffold":
        columns = ", ".join(f'"{c}"' for c in dict.fromkeys(sample_columns(latency_field, scaffold_field)))
        return run_metrics_from_samples(warehouse.query(f"SELECT {columns} FROM samples"), prices, evals=evals,
                                        scaffold_field=scaffold_field, **settings)
    price_of = _price_lookup(prices)
    rows_err: list[dict[str, Any]] = []
    rows_err += no_scaffold_rows(warehouse.query(_NO_SCAFFOLD_SQL))
    rows_err += unattributed_rows(int(warehouse.query(_UNATTRIBUTED_SQL)["n"].iloc[0]))
    incomplete_counts = warehouse.query(_INCOMPLETE_SQL)
    rows_err += incomplete_log_messages(incomplete_counts, include_incomplete_logs)
    sums = run_sums(warehouse, latency_field, exclude_errors, include_incomplete_logs)
    runs, errs = runs_from_sums(sums, incomplete_counts, price_of, evals=evals, **settings)
    return runs, make_errors(rows_err + errs)


__all__ = ["run_metrics_from_warehouse", "run_sums"]
