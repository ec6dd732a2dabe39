"""Stage 1: one row per run (benchmark x model x scaffold) with accuracy, cost and latency.

Two sources produce the same ``run_metrics`` schema (`RUN_COLUMNS`):

- `run_metrics_from_samples`: the warehouse ``samples`` table (one row per sample x epoch) and a
  price table (`hibayes.hal.io.load_prices`);
- `run_metrics_from_hal`: HAL's published metrics CSV (`hibayes.hal.io.read_hal_metrics_csv`),
  which has no per-sample data.

Definitions (samples source)
----------------------------
- **Accuracy** = mean over samples of the sample's mean numeric ``score`` over its scored epochs
  (each sample weighs the same however many epochs it has). Samples with ``has_error`` are left
  out of accuracy by default and counted in ``n_errors``; samples with no numeric score are left
  out and counted in ``n_unscored``.
- **Score scale** (``score_scale``): ``proportion`` when every score of the benchmark lies in
  [0, 1], so the mean is an accuracy; ``own`` otherwise (a 0-10 judge rating, say). An ``own``
  benchmark's ``accuracy`` column holds its mean score on the scorer's own scale: it is kept, not
  dropped, because its cost-score trade-off and its within-benchmark comparisons are still
  meaningful, but the plots show it apart from accuracy, on its own axis and colour scale
  (`hibayes.hal.plots`), and an info row says so. The scale is decided per benchmark, not per run,
  so a judge run whose ratings happen to be all 0 or 1 is not mistaken for an accuracy.
- **Accuracy interval**: on the ``proportion`` scale, the equal-tailed interval of the
  Beta(1 + k, 1 + n - k) posterior (uniform prior), with n = scored samples and k = sum of the
  per-sample mean scores (fractional for partial credit) -- the same model the frontier
  probabilities draw from (`hibayes.hal.uncertainty`). On the ``own`` scale a normal interval
  mean +- z * sd / sqrt(n) over per-sample scores (and no ``successes``, so no frontier
  probabilities).
- **Unfinished logs**: samples of logs whose status (from `evals`) is not ``success``
  (``error``, ``cancelled``, ``started``) are left out by default, as the analyses and IRT leave
  them out: a cancelled run's missing items are not wrong answers, and its cost covers only part of
  the benchmark. ``include_incomplete_logs=True`` keeps them. Either way ``n_incomplete_log_rows``
  counts them per run and an errors-table row (field ``log_status``) says what was done.
- **Cost** = sum over the samples of the run that have token usage, errored ones included (they
  were paid for), of ``(input_tokens * input + output_tokens * output + cache_read_tokens *
  cache_read + cache_write_tokens * cache_write) / 1e6`` with prices in USD per million tokens.
  Inspect's ``input_tokens`` exclude cache reads and writes and its ``output_tokens`` include
  reasoning tokens, so the four terms do not double count (this is Inspect's own
  ``compute_model_cost``). The whole sample is priced at the run's ``model``. A NULL cache count is
  0. A sample-epoch without an input or output count (typically one that errored before any model
  call) is not priced: ``n_priced`` / ``n_unpriced`` count both kinds, ``cost_incomplete`` flags
  the run and a warning row says how many; only when no sample has usage is the cost NaN. A
  negative or non-numeric count is corrupt data, not missing usage: the run's cost is NaN with an
  error row. A model missing from the price table is never priced at zero: its cost is NaN with an
  error row. A run whose cost is exactly 0 gets a warning row.
- **Cost per task** = total cost / ``n_priced``: the mean cost of a sample-epoch whose cost is
  known.
- **Latency** = mean (and median) over sample-epochs of ``working_time`` (configurable:
  ``total_time``), in seconds, errored samples included; NULL values are skipped with a warning
  row, negative values are skipped with an error row.
- **Scaffold type**: see `classify_scaffold`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from hibayes.hal.errors import error_row, make_errors

GENERALIST = "generalist"
TASK_SPECIFIC = "task_specific"
SCAFFOLD_TYPES = (GENERALIST, TASK_SPECIFIC)

RUN_KEY: tuple[str, ...] = ("benchmark", "model", "scaffold")

RUN_COLUMNS: tuple[str, ...] = (
    "benchmark",
    "model",
    "scaffold",
    "scaffold_type",
    "run_id",
    "source",
    "n_samples",
    "n_sample_epochs",
    "n_incomplete_log_rows",
    "n_errors",
    "n_unscored",
    "n_scored",
    "accuracy",
    "successes",
    "accuracy_lo",
    "accuracy_hi",
    "interval_method",
    "score_scale",
    "total_cost",
    "cost_per_task",
    "n_priced",
    "n_unpriced",
    "cost_incomplete",
    "logged_total_cost",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "mean_latency",
    "median_latency",
    "latency_field",
)

REQUIRED_SAMPLE_COLUMNS: tuple[str, ...] = (
    "model",
    "task",
    "scaffold",
    "sample_id",
    "epoch",
    "score",
    "has_error",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
)

PROPORTION = "proportion"
OWN_SCALE = "own"

_INT_COLUMNS = ("n_samples", "n_sample_epochs", "n_incomplete_log_rows", "n_errors", "n_unscored", "n_scored",
                "n_priced", "n_unpriced")
_BOOL_COLUMNS = ("cost_incomplete",)
_FLOAT_COLUMNS = (
    "accuracy",
    "successes",
    "accuracy_lo",
    "accuracy_hi",
    "total_cost",
    "cost_per_task",
    "logged_total_cost",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "mean_latency",
    "median_latency",
)


def classify_scaffold(name: Any, mapping: Mapping[str, str] | None = None) -> str:
    """Scaffold type of a scaffold name: ``"generalist"`` or ``"task_specific"``.

    Rule: an exact entry of `mapping` wins (values ``"generalist"``, ``"task_specific"`` or
    ``"task-specific"``); otherwise a scaffold whose name contains ``generalist`` (any case) is
    generalist -- e.g. ``generalist``, ``HAL Generalist Agent`` -- and every other scaffold,
    including a missing one, is task-specific.
    """
    if mapping is not None and name in mapping:
        value = str(mapping[name]).strip().lower().replace("-", "_").replace(" ", "_")
        if value not in SCAFFOLD_TYPES:
            raise ValueError(
                f"scaffold_types[{name!r}] must be 'generalist' or 'task_specific', got {mapping[name]!r}"
            )
        return value
    if isinstance(name, str) and GENERALIST in name.lower():
        return GENERALIST
    return TASK_SPECIFIC


def classify_scaffolds(names: Iterable[Any], mapping: Mapping[str, str] | None = None) -> list[str]:
    """`classify_scaffold` applied to each name."""
    return [classify_scaffold(n, mapping) for n in names]


def beta_interval(
    successes: float | np.ndarray, n: float | np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed `confidence` interval of the Beta(1 + k, 1 + n - k) posterior of a proportion.

    `successes` may be fractional (partial-credit scores). NaN where n is NaN. When k = 0 the lower
    end is set to 0, and when k = n the upper end to 1 (the equal-tailed interval would otherwise
    exclude the observed 0 % or 100 %; the same modification Brown, Cai and DasGupta make to the
    Jeffreys interval).
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(n, dtype=float)
    alpha = 1.0 - confidence
    with np.errstate(invalid="ignore"):
        lo = stats.beta.ppf(alpha / 2, 1.0 + k, 1.0 + n - k)
        hi = stats.beta.ppf(1.0 - alpha / 2, 1.0 + k, 1.0 + n - k)
    lo = np.where(k == 0, 0.0, lo)
    hi = np.where(k == n, 1.0, hi)
    return lo, hi


def _finish_runs(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    for column in _INT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    for column in _FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    for column in _BOOL_COLUMNS:
        frame[column] = frame[column].astype("boolean")
    return frame


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks required column(s) {missing}")


def _metadata_value(text: Any, key: str) -> Any:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    try:
        data = json.loads(text) if isinstance(text, str) else text
    except (TypeError, ValueError):
        return None
    if isinstance(data, Mapping):
        value = data.get(key)
        return None if value is None else str(value)
    return None


def _price_lookup(prices: pd.DataFrame) -> dict[str, dict[str, float]]:
    _require_columns(
        prices,
        ("model", "input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok"),
        "price table",
    )
    if prices["model"].duplicated().any():
        dup = sorted(prices.loc[prices["model"].duplicated(), "model"].unique())
        raise ValueError(f"price table: model listed more than once: {dup}")
    return {
        row.model: {
            "input": float(row.input_per_mtok),
            "output": float(row.output_per_mtok),
            "cache_read": float(row.cache_read_per_mtok),
            "cache_write": float(row.cache_write_per_mtok),
        }
        for row in prices.itertuples(index=False)
    }


def _check_fields(latency_field: str, scaffold_field: str) -> None:
    if latency_field not in ("working_time", "total_time"):
        raise ValueError(f"latency_field must be 'working_time' or 'total_time', got {latency_field!r}")
    if not scaffold_field == "scaffold" and not scaffold_field.startswith("metadata."):
        raise ValueError(f"scaffold_field must be 'scaffold' or 'metadata.<key>', got {scaffold_field!r}")


def sample_columns(latency_field: str = "working_time", scaffold_field: str = "scaffold") -> tuple[str, ...]:
    """The warehouse ``samples`` columns `run_metrics_from_samples` reads with these settings: a
    reader selects these instead of the whole table (its prompt and target texts are most of it)."""
    _check_fields(latency_field, scaffold_field)
    optional = ("total_cost", "sample_uuid", "log_key", "error")
    metadata = ("metadata",) if scaffold_field.startswith("metadata.") else ()
    return (*REQUIRED_SAMPLE_COLUMNS, latency_field, *optional, *metadata)


def run_metrics_from_samples(
    samples: pd.DataFrame,
    prices: pd.DataFrame,
    *,
    evals: pd.DataFrame | None = None,
    scaffold_types: Mapping[str, str] | None = None,
    scaffold_field: str = "scaffold",
    latency_field: str = "working_time",
    exclude_errors: bool = True,
    include_incomplete_logs: bool = False,
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run metrics from the warehouse ``samples`` table; returns ``(run_metrics, errors)``.

    `hibayes.hal.warehouse_metrics.run_metrics_from_warehouse` computes the same tables in the
    warehouse itself (SQL), without reading the sample rows.

    Parameters
    ----------
    samples:
        The ``samples`` table (one row per sample x epoch); needs `REQUIRED_SAMPLE_COLUMNS`, the
        `latency_field` column, and optionally ``total_cost`` (Inspect's own price),
        ``sample_uuid``, ``log_key``, ``error``, ``metadata``.
    prices:
        A price table from `hibayes.hal.io.load_prices`.
    evals:
        Optional ``evals`` table (``log_key``, ``model``, ``task``, ``scaffold``, ``status``): each
        sample's log status comes from it (matched on ``log_key``; without `evals` every sample
        counts as from a finished log), and a run listed there with no sample in `samples` still
        gets a row (``n_samples`` 0, NaN metrics) and an error row.
    scaffold_types:
        Optional scaffold name -> ``"generalist"`` / ``"task_specific"`` map (`classify_scaffold`).
    scaffold_field:
        ``"scaffold"`` (the warehouse column: eval/task metadata "scaffold", else the solver) or
        ``"metadata.<key>"`` to read the scaffold from the sample metadata JSON; samples whose
        metadata lacks the key fall back to the ``scaffold`` column (info row).
    latency_field:
        ``"working_time"`` or ``"total_time"`` (seconds).
    exclude_errors:
        Leave samples with ``has_error`` out of accuracy (default; they are still counted, priced
        and timed).
    include_incomplete_logs:
        Keep the samples of logs whose status is not ``success`` (default: left out; counted in
        ``n_incomplete_log_rows`` either way).

    Returns
    -------
    run_metrics:
        One row per run, columns `RUN_COLUMNS`, sorted by benchmark, model, scaffold:
        ``benchmark`` (the samples' ``task``), ``model``, ``scaffold``, ``scaffold_type``,
        ``run_id`` (``benchmark|model|scaffold``), ``source`` (``"samples"``), ``n_samples``
        (distinct samples), ``n_sample_epochs`` (rows), ``n_incomplete_log_rows`` (rows from logs
        that did not finish, kept or left out per `include_incomplete_logs`), ``n_errors`` (rows
        with ``has_error``), ``n_unscored`` (clean rows without a numeric score), ``n_scored``
        (samples with at least one usable score: the n of the interval), ``accuracy`` (the mean
        score), ``successes`` (k: sum of per-sample mean scores), ``accuracy_lo`` /
        ``accuracy_hi`` (the `confidence` interval), ``interval_method`` (``beta`` or
        ``normal``), ``score_scale`` (``proportion`` or ``own``), ``total_cost`` (USD, from the
        price table, over the priced rows), ``cost_per_task`` (USD per priced sample-epoch),
        ``n_priced`` / ``n_unpriced`` (rows with / without token usage), ``cost_incomplete``
        (True when some rows could not be priced), ``logged_total_cost`` (sum of Inspect's own
        ``total_cost`` when every sample has one, else NaN), token sums, ``mean_latency`` /
        ``median_latency`` (seconds) and ``latency_field``.
    errors:
        The errors table (`hibayes.hal.errors`), source ``run_metrics``.
    """
    _check_fields(latency_field, scaffold_field)
    _require_columns(samples, (*REQUIRED_SAMPLE_COLUMNS, latency_field), "samples")
    if scaffold_field != "scaffold":
        _require_columns(samples, ("metadata",), f"samples (scaffold_field={scaffold_field!r})")
    if evals is not None:
        _require_columns(evals, ("log_key", "model", "task", "scaffold", "status"), "evals")
        _require_columns(samples, ("log_key",), "samples (with evals)")
    price_of = _price_lookup(prices)
    rows_err: list[dict[str, Any]] = []
    src = "run_metrics"

    df = samples.copy()
    df["_row"] = np.arange(len(df))

    # -- scaffold ---------------------------------------------------------------------------
    if scaffold_field.startswith("metadata."):
        key = scaffold_field.split(".", 1)[1]
        from_meta = df["metadata"].map(lambda t: _metadata_value(t, key))
        fell_back = from_meta.isna() & df["scaffold"].notna()
        if fell_back.any():
            rows_err.append(
                error_row(src, "info", scaffold_field,
                          f"metadata has no {key!r}; scaffold column used instead",
                          count=int(fell_back.sum()))
            )
        df["scaffold"] = from_meta.where(from_meta.notna(), df["scaffold"])
    no_scaffold = df["scaffold"].isna()
    rows_err += no_scaffold_rows(df[no_scaffold].groupby(["task", "model"], dropna=False).size().reset_index(name="n"))
    df.loc[no_scaffold, "scaffold"] = UNKNOWN_SCAFFOLD

    # -- rows that cannot be attributed to a run ------------------------------------------
    no_key = df["model"].isna() | df["task"].isna()
    rows_err += unattributed_rows(int(no_key.sum()))
    df = df[~no_key]

    # -- samples of logs that did not finish ----------------------------------------------------
    status = _log_status(df, evals)
    incomplete = status != "success"
    incomplete_counts = (df[incomplete].assign(status=status[incomplete])
                         .groupby([*_SAMPLE_RUN_KEY, "status"], sort=True)
                         .agg(n_rows=("status", "size"), n_logs=("log_key", "nunique")).reset_index())
    rows_err += incomplete_log_messages(incomplete_counts, include_incomplete_logs)
    if not include_incomplete_logs:
        df = df[~incomplete]

    # -- numeric coercion -------------------------------------------------------------------
    numeric = ["score", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
               latency_field]
    if "total_cost" in df.columns:
        numeric.append("total_cost")
    for column in numeric:
        coerced = pd.to_numeric(df[column], errors="coerce")
        bad_text = coerced.isna() & df[column].notna()
        if bad_text.any():
            rows_err.append(
                error_row(src, "error", column, "non-numeric values treated as missing",
                          count=int(bad_text.sum()))
            )
        df[column] = coerced.astype(float)
    has_error = df["has_error"].astype("boolean")
    if "error" in df.columns:
        has_error = has_error.fillna(df["error"].notna())
    df["has_error"] = has_error.fillna(False).astype(bool)
    sample_key = df["sample_id"].astype("object")
    if "sample_uuid" in df.columns:
        sample_key = sample_key.where(sample_key.notna(), df["sample_uuid"])
    df["_sample"] = sample_key.where(sample_key.notna(), "row-" + df["_row"].astype(str))

    sums = _run_sums(df, latency_field, exclude_errors)
    runs, errs = runs_from_sums(sums, incomplete_counts, price_of, evals=evals, scaffold_types=scaffold_types,
                                latency_field=latency_field, exclude_errors=exclude_errors,
                                include_incomplete_logs=include_incomplete_logs, confidence=confidence)
    return runs, make_errors(rows_err + errs)


_SAMPLE_RUN_KEY: tuple[str, ...] = ("task", "model", "scaffold")
UNKNOWN_SCAFFOLD = "unknown"  # the run of samples with no scaffold recorded


def _log_status(samples: pd.DataFrame, evals: pd.DataFrame | None) -> pd.Series:
    """Each row's log status from `evals` (matched on ``log_key``). Without `evals`, or for a log
    `evals` does not list, nothing says the log did not finish, so the row counts as ``success``."""
    if evals is None:
        return pd.Series("success", index=samples.index)
    by_log = evals.drop_duplicates("log_key").set_index("log_key")["status"]
    return samples["log_key"].map(by_log).fillna("success")


def no_scaffold_rows(counts: pd.DataFrame) -> list[dict[str, Any]]:
    """One warning row per (task, model) with sample rows that have no scaffold: `counts` has
    columns task, model, n (rows), in any order; rows without a task or model come last."""
    ordered = counts.sort_values(["task", "model"], na_position="last", kind="stable")
    return [error_row("run_metrics", "warning", "scaffold", f"no scaffold recorded; grouped as '{UNKNOWN_SCAFFOLD}'",
                      benchmark=r.task, model=r.model, count=int(r.n)) for r in ordered.itertuples(index=False)]


def unattributed_rows(count: int) -> list[dict[str, Any]]:
    """The error row for sample rows without a model or task, when there are any."""
    if not count:
        return []
    return [error_row("run_metrics", "error", "model/task",
                      "sample rows without a model or task cannot be attributed to a run; left out", count=count)]


def incomplete_log_messages(counts: pd.DataFrame, included: bool) -> list[dict[str, Any]]:
    """One errors-table row per run with samples from unfinished logs, saying what was done.
    `counts`: one row per run and log status, columns task, model, scaffold, status, n_rows,
    n_logs (distinct logs: a log has one status, so a run's logs are the sum over its statuses)."""
    messages = []
    for (task, model, scaffold), part in counts.groupby(list(_SAMPLE_RUN_KEY), sort=True):
        statuses = "/".join(sorted(part["status"].unique()))
        n_rows = int(part["n_rows"].sum())
        what = f"{n_rows} sample-epochs from {int(part['n_logs'].sum())} log(s) with status '{statuses}'"
        if included:
            severity, message = "warning", f"{what} kept (include_incomplete_logs): the run may lack samples and cost"
        else:
            severity, message = "info", (f"{what} left out, as the analyses and IRT leave them out "
                                         "(include_incomplete_logs keeps them)")
        messages.append(error_row("run_metrics", severity, "log_status", message, benchmark=task, model=model,
                                  scaffold=scaffold, count=n_rows))
    return messages


def _benchmarks_on_their_own_scale(sums: pd.DataFrame) -> dict[Any, tuple[float, float, int]]:
    """Benchmark -> (lowest, highest score, scored rows) for each benchmark with a score outside
    [0, 1]: its mean score is not a proportion. Decided over the whole benchmark, so that every run
    of it is on the same scale."""
    scored = sums[sums["n_finite_scores"] > 0]
    ranges = scored.groupby("task").agg(min=("score_min", "min"), max=("score_max", "max"),
                                        size=("n_finite_scores", "sum"))
    off = ranges[(ranges["min"] < 0) | (ranges["max"] > 1)]
    return {task: (float(r["min"]), float(r["max"]), int(r["size"])) for task, r in off.iterrows()}


# Error rows of one run come in this order (the order the checks are listed in `_runs_from_sums`).
_CHECKS = ("has_error", "duplicate", "unscored", "no_score", "negative_input_tokens", "negative_output_tokens",
           "negative_cache_read_tokens", "negative_cache_write_tokens", "prices", "token_usage", "zero_cost",
           "negative_logged_cost", "latency_missing", "latency_negative", "no_latency")
_TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")

# What both sources reduce the cleaned sample rows to, one row per run (task, model, scaffold):
# `_run_sums` from a frame, `hibayes.hal.warehouse_metrics` in SQL. Every metric and error row is
# computed from these, so the two sources differ only in how they sum. Rows are "clean": attributed
# to a run, from finished logs unless those are kept; a usable score is numeric, finite and (with
# exclude_errors) not from an errored sample.
RUN_SUM_COLUMNS: tuple[str, ...] = (
    *_SAMPLE_RUN_KEY,
    "n_rows",
    "n_samples",  # distinct sample keys (sample_id, else sample_uuid, else the row itself)
    "n_duplicate_rows",  # rows whose sample and epoch appear more than once in the run
    "n_errors",
    "n_unscored",  # rows without a finite score and without an error
    "n_scored",  # samples with a usable score
    "successes",  # sum over those samples of their mean usable score
    "sd_sample_score",  # sample standard deviation of those means (NaN below two)
    "score_min",  # lowest and highest finite score, and how many rows have one
    "score_max",
    "n_finite_scores",
    *(f"{kind}_{column}" for column in _TOKEN_COLUMNS for kind in ("n", "sum", "n_negative")),
    "n_with_usage",  # rows with input and output counts: the priced rows
    *(f"priced_{column}" for column in _TOKEN_COLUMNS),  # token sums over those rows (a NULL cache count is 0)
    "n_negative_logged_cost",
    "n_finite_logged_cost",
    "sum_logged_cost",
    "n_latency_missing",
    "n_latency_negative",
    "n_latency",  # usable times: finite and >= 0
    "sum_latency",
    "median_latency",
)


def _run_sums(df: pd.DataFrame, latency_field: str, exclude_errors: bool) -> pd.DataFrame:
    """`RUN_SUM_COLUMNS` of cleaned sample rows: grouped sums over all rows at once (numpy
    ``bincount`` by run), so the work grows with the rows, not with rows x a per-run Python step."""
    grouped = df.groupby(list(_SAMPLE_RUN_KEY), sort=True)
    run = grouped.ngroup().to_numpy()
    keys = grouped.size().index
    n_runs = len(keys)

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(run[mask], minlength=n_runs)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(run, weights=values, minlength=n_runs)

    def per_run(values: pd.Series) -> np.ndarray:
        return values.reindex(range(n_runs)).to_numpy(float)

    sums: dict[str, Any] = {name: keys.get_level_values(i).to_numpy(object) for i, name in enumerate(_SAMPLE_RUN_KEY)}
    sums["n_rows"] = count(np.ones(len(df), dtype=bool))
    sample = pd.factorize(df["_sample"])[0]
    pairs = np.unique(run.astype(np.int64) * (sample.max(initial=0) + 1) + sample)
    sums["n_samples"] = np.bincount(pairs // (sample.max(initial=0) + 1), minlength=n_runs)
    sums["n_duplicate_rows"] = count(df.assign(_run=run).duplicated(["_run", "_sample", "epoch"], keep=False).to_numpy())
    errored = df["has_error"].to_numpy(bool)
    sums["n_errors"] = count(errored)
    score = df["score"].to_numpy(float)
    finite = np.isfinite(score)
    sums["n_unscored"] = count(~finite & ~errored)
    usable = finite & ~errored if exclude_errors else finite
    per_sample = pd.Series(score[usable]).groupby([run[usable], sample[usable]], sort=True).mean()
    sample_run = per_sample.index.get_level_values(0).to_numpy()
    sums["n_scored"] = np.bincount(sample_run, minlength=n_runs)
    sums["successes"] = np.bincount(sample_run, weights=per_sample.to_numpy(), minlength=n_runs)
    sums["sd_sample_score"] = per_run(per_sample.groupby(level=0).std(ddof=1))
    finite_scores = pd.Series(score[finite]).groupby(run[finite])
    sums["score_min"], sums["score_max"] = per_run(finite_scores.min()), per_run(finite_scores.max())
    sums["n_finite_scores"] = count(finite)

    tokens = {c: df[c].to_numpy(float) for c in _TOKEN_COLUMNS}
    for column, values in tokens.items():
        sums[f"n_{column}"] = count(np.isfinite(values))
        sums[f"sum_{column}"] = np.where(sums[f"n_{column}"] > 0, total(np.where(np.isnan(values), 0.0, values)), np.nan)
        sums[f"n_negative_{column}"] = count(values < 0)
    has_usage = np.isfinite(tokens["input_tokens"]) & np.isfinite(tokens["output_tokens"])
    sums["n_with_usage"] = count(has_usage)
    for column, values in tokens.items():
        sums[f"priced_{column}"] = total(np.where(has_usage, np.nan_to_num(values, nan=0.0), 0.0))
    logged = df["total_cost"].to_numpy(float) if "total_cost" in df.columns else np.full(len(df), np.nan)
    sums["n_negative_logged_cost"] = count(logged < 0)
    sums["n_finite_logged_cost"] = count(np.isfinite(logged))
    sums["sum_logged_cost"] = total(np.where(np.isfinite(logged), logged, 0.0))

    latency = df[latency_field].to_numpy(float)
    sums["n_latency_missing"] = count(np.isnan(latency))
    sums["n_latency_negative"] = count(latency < 0)
    good = np.isfinite(latency) & (latency >= 0)
    sums["n_latency"] = count(good)
    sums["sum_latency"] = total(np.where(good, latency, 0.0))
    sums["median_latency"] = per_run(pd.Series(latency[good]).groupby(run[good]).median())
    return pd.DataFrame(sums, columns=list(RUN_SUM_COLUMNS))


def runs_from_sums(
    sums: pd.DataFrame,
    incomplete_counts: pd.DataFrame,
    price_of: Mapping[str, Mapping[str, float]],
    *,
    evals: pd.DataFrame | None,
    scaffold_types: Mapping[str, str] | None,
    latency_field: str,
    exclude_errors: bool,
    include_incomplete_logs: bool,
    confidence: float,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The ``run_metrics`` table and its error rows (score scales, per-run checks, runs with no
    samples) from `RUN_SUM_COLUMNS` and the per-run, per-status counts of unfinished logs' rows
    (`incomplete_log_messages`)."""
    src = "run_metrics"
    sums = sums.sort_values(list(_SAMPLE_RUN_KEY), kind="stable").reset_index(drop=True)
    own_scale = _benchmarks_on_their_own_scale(sums)
    rows_err = [
        error_row(src, "info", "score",
                  f"scores from {lo:g} to {hi:g} are not proportions (a rating, say): 'accuracy' is the mean score on "
                  f"its own scale (score_scale '{OWN_SCALE}'), with a normal interval and no frontier probabilities; "
                  "the plots show it apart from accuracy", benchmark=task, count=count)
        for task, (lo, hi, count) in own_scale.items()
    ]
    measured, errs = _measured_runs(sums, price_of, latency_field, exclude_errors, confidence, set(own_scale))
    measured["scaffold_type"] = classify_scaffolds(measured["scaffold"], scaffold_types)
    incomplete_rows = incomplete_counts.groupby(list(_SAMPLE_RUN_KEY))["n_rows"].sum()
    run_keys = pd.MultiIndex.from_frame(measured[["benchmark", "model", "scaffold"]])
    measured["n_incomplete_log_rows"] = incomplete_rows.reindex(run_keys, fill_value=0).to_numpy() \
        if len(incomplete_rows) else 0
    rows: list[dict[str, Any]] = measured.to_dict("records")
    rows_err.extend(errs)

    if evals is not None:
        seen = {(r["benchmark"], r["model"], r["scaffold"]) for r in rows}
        finished = evals if include_incomplete_logs else evals[evals["status"] == "success"]
        for ev in finished[["task", "model", "scaffold"]].drop_duplicates().itertuples(index=False):
            scaffold = ev.scaffold if isinstance(ev.scaffold, str) else UNKNOWN_SCAFFOLD
            key = (ev.task, ev.model, scaffold)
            if key in seen or pd.isna(ev.task) or pd.isna(ev.model):
                continue
            seen.add(key)
            rows.append(
                {
                    "benchmark": ev.task, "model": ev.model, "scaffold": scaffold,
                    "scaffold_type": classify_scaffold(scaffold, scaffold_types),
                    "run_id": f"{ev.task}|{ev.model}|{scaffold}", "source": "samples",
                    "n_samples": 0, "n_sample_epochs": 0, "n_incomplete_log_rows": 0, "n_errors": 0,
                    "n_unscored": 0, "n_scored": 0, "n_priced": 0, "n_unpriced": 0,
                    "latency_field": latency_field,
                }
            )
            rows_err.append(
                error_row(src, "error", "samples",
                          "run is in the evals table but has no samples; all metrics NaN",
                          benchmark=ev.task, model=ev.model, scaffold=scaffold, count=0)
            )
    runs = _finish_runs(rows).sort_values(list(RUN_KEY), kind="stable").reset_index(drop=True)
    return runs, rows_err


def _measured_runs(
    sums: pd.DataFrame,
    price_of: Mapping[str, Mapping[str, float]],
    latency_field: str,
    exclude_errors: bool,
    confidence: float,
    own_scale: set[Any],
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Every run's accuracy, cost and latency columns and its error rows, from `RUN_SUM_COLUMNS`
    (runs in (task, model, scaffold) order); see the module docstring for the definitions."""
    n_runs = len(sums)
    benchmarks, models, scaffolds = (sums[c].to_numpy(object) for c in _SAMPLE_RUN_KEY)

    def column(name: str) -> np.ndarray:
        return sums[name].to_numpy(float)

    def counts(name: str) -> np.ndarray:
        return sums[name].to_numpy(np.int64)

    out: dict[str, Any] = {"benchmark": benchmarks, "model": models, "scaffold": scaffolds}
    out["run_id"] = [f"{t}|{m}|{s}" for t, m, s in zip(benchmarks, models, scaffolds)]
    out["source"] = "samples"
    out["latency_field"] = latency_field
    n_rows = counts("n_rows")
    out["n_sample_epochs"] = n_rows
    out["n_samples"] = counts("n_samples")
    flags: dict[str, np.ndarray] = {}  # check -> per-run count (> 0: an error row)

    # -- accuracy ---------------------------------------------------------------------------
    out["n_errors"] = flags["has_error"] = counts("n_errors")
    flags["duplicate"] = counts("n_duplicate_rows")
    out["n_unscored"] = flags["unscored"] = counts("n_unscored")
    n, k = counts("n_scored"), column("successes")
    out["n_scored"] = n
    flags["no_score"] = np.where(n == 0, n_rows, 0)
    scored = n > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(scored, k / n, np.nan)
    own = np.isin(benchmarks, list(own_scale)) if own_scale else np.zeros(n_runs, dtype=bool)
    lo, hi = beta_interval(k, n, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(n > 1, stats.norm.ppf(0.5 + confidence / 2) * column("sd_sample_score") / np.sqrt(n), np.nan)
    out["accuracy"] = accuracy
    out["successes"] = np.where(scored & ~own, k, np.nan)
    out["accuracy_lo"] = np.where(~scored, np.nan, np.where(own, accuracy - half, lo))
    out["accuracy_hi"] = np.where(~scored, np.nan, np.where(own, accuracy + half, hi))
    out["interval_method"] = np.where(~scored, None, np.where(own, "normal", "beta"))
    out["score_scale"] = np.where(own, OWN_SCALE, PROPORTION)

    # -- cost -------------------------------------------------------------------------------
    for token in _TOKEN_COLUMNS:
        out[token] = np.where(counts(f"n_{token}") > 0, column(f"sum_{token}"), np.nan)
        flags[f"negative_{token}"] = counts(f"n_negative_{token}")
    corrupt = sum(flags[f"negative_{c}"] for c in _TOKEN_COLUMNS) > 0
    priced_model = np.array([m in price_of for m in models], dtype=bool)
    flags["prices"] = np.where(priced_model, 0, n_rows)
    n_without = n_rows - counts("n_with_usage")
    flags["token_usage"] = n_without
    priceable = priced_model & ~corrupt & (n_without < n_rows)
    n_priced = np.where(priceable, n_rows - n_without, 0)
    out.update(n_priced=n_priced, n_unpriced=n_rows - n_priced, cost_incomplete=n_priced < n_rows)
    # The whole run is priced at its model, so its cost is each kind's token sum x that kind's price.
    price = {field: np.array([price_of.get(m, {}).get(field, np.nan) for m in models], dtype=float)
             for field in ("input", "output", "cache_read", "cache_write")}
    cost_sum = (column("priced_input_tokens") * price["input"] + column("priced_output_tokens") * price["output"]
                + column("priced_cache_read_tokens") * price["cache_read"]
                + column("priced_cache_write_tokens") * price["cache_write"])
    run_cost = np.where(priceable, cost_sum / 1e6, np.nan)
    out["total_cost"] = run_cost
    with np.errstate(invalid="ignore", divide="ignore"):
        out["cost_per_task"] = np.where(priceable, run_cost / n_priced, np.nan)
    flags["zero_cost"] = np.where(priceable & (run_cost == 0), n_rows, 0)
    flags["negative_logged_cost"] = counts("n_negative_logged_cost")
    all_finite = counts("n_finite_logged_cost") == n_rows
    out["logged_total_cost"] = np.where((flags["negative_logged_cost"] == 0) & all_finite,
                                        np.nan_to_num(column("sum_logged_cost"), nan=0.0), np.nan)

    # -- latency ----------------------------------------------------------------------------
    flags["latency_missing"] = counts("n_latency_missing")
    flags["latency_negative"] = counts("n_latency_negative")
    n_good = counts("n_latency")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_latency"] = np.where(n_good > 0, column("sum_latency") / n_good, np.nan)
    out["median_latency"] = column("median_latency")
    flags["no_latency"] = np.where(n_good == 0, n_rows, 0)

    errors = _run_error_rows(flags, benchmarks, models, scaffolds, n_rows, latency_field, exclude_errors)
    return pd.DataFrame(out), errors


def _run_error_rows(
    flags: Mapping[str, np.ndarray],
    benchmarks: np.ndarray,
    models: np.ndarray,
    scaffolds: np.ndarray,
    n_rows: np.ndarray,
    latency_field: str,
    exclude_errors: bool,
) -> list[dict[str, Any]]:
    """The error rows of `_measured_runs`, run by run and, within a run, in `_CHECKS` order."""
    src = "run_metrics"
    kept = "left out of accuracy" if exclude_errors else "kept in accuracy (exclude_errors=False)"

    def describe(check: str, i: int, count: int) -> tuple[str, str, str]:
        if check.startswith("negative_") and check != "negative_logged_cost":
            return "error", check.removeprefix("negative_"), "negative token counts: run cost not computed (NaN)"
        if check == "token_usage":
            if count == n_rows[i]:
                return "error", "token_usage", "no sample-epoch has token usage: run cost NaN"
            priced = n_rows[i] - count
            return "warning", "token_usage", (
                f"{count} of {n_rows[i]} sample-epochs have no input/output token usage (an error before any model "
                f"call, say): total_cost sums the {priced} with usage and cost_per_task is their mean")
        return {
            "has_error": ("info", "has_error", f"samples with an error {kept}; still priced and timed"),
            "duplicate": ("warning", "sample_id/epoch",
                          "the same sample and epoch appears more than once (several logs?); all rows kept"),
            "unscored": ("warning", "score", "samples without a numeric score left out of accuracy"),
            "no_score": ("error", "score", "run has no usable scored sample; accuracy is NaN"),
            "prices": ("error", "prices", f"model {models[i]!r} is not in the price table; run not priced (cost NaN, "
                                          "never zero)"),
            "zero_cost": ("warning", "total_cost", "run cost is exactly 0: check the prices and token counts"),
            "negative_logged_cost": ("error", "total_cost", "negative logged (Inspect) cost; logged_total_cost NaN"),
            "latency_missing": ("warning", latency_field, "missing times skipped in the latency mean"),
            "latency_negative": ("error", latency_field, "negative times skipped in the latency mean"),
            "no_latency": ("error", latency_field, "no usable time: latency NaN"),
        }[check]

    found = [(i, rank, check) for rank, check in enumerate(_CHECKS) for i in np.flatnonzero(flags[check])]
    rows = []
    for i, _, check in sorted(found):
        severity, field, message = describe(check, i, int(flags[check][i]))
        rows.append(error_row(src, severity, field, message, count=int(flags[check][i]), benchmark=benchmarks[i],
                              model=models[i], scaffold=scaffolds[i]))
    return rows


def run_metrics_from_hal(
    hal: pd.DataFrame,
    *,
    n_tasks: Mapping[str, int] | None = None,
    scaffold_types: Mapping[str, str] | None = None,
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run metrics from HAL's metrics CSV (`hibayes.hal.io.read_hal_metrics_csv`).

    Each CSV row is one run, kept in file order (HAL's tie-breaking depends on it); ``run_id``
    is HAL's run id. ``accuracy``, ``total_cost`` and ``mean_latency`` are taken as published
    (``latency_field`` = ``hal_first_to_last_call``); ``median_latency`` is the median of
    ``latencies_per_task`` when present.

    The CSV has no per-task results, so n is unknown. `n_tasks` (benchmark -> number of tasks)
    supplies it: ``n_scored`` = ``n_samples`` = n, ``successes`` = accuracy * n, a Beta interval
    and ``cost_per_task`` = total_cost / n. Without it those columns are NA/NaN and one ``info`` row
    per benchmark says the uncertainty was skipped and why.

    Bad values get a row in the errors table (source ``hal_csv``): NaN or negative accuracy or
    cost, accuracy above 1, negative latency (set to NaN, severity error); total cost exactly 0
    (kept, warning: hal-harness prices unknown models at 0); several runs for one
    (benchmark, model, scaffold) (kept, info: the per-scaffold win rate uses the first, as
    hal-analysis does).
    """
    _require_columns(hal, ("benchmark_name", "agent_name_short", "model_name_short", "accuracy",
                           "total_cost", "mean_latency"), "HAL metrics table")
    src = "hal_csv"
    errs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    n_tasks = dict(n_tasks or {})
    for benchmark in n_tasks:
        value = n_tasks[benchmark]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"n_tasks[{benchmark!r}] must be a positive integer, got {value!r}")
    for i, rec in enumerate(hal.to_dict("records")):
        ctx = {"benchmark": rec["benchmark_name"], "model": rec["model_name_short"],
               "scaffold": rec["agent_name_short"]}
        if any(pd.isna(v) for v in ctx.values()):
            errs.append(error_row(src, "error", "benchmark_name/model_name_short/agent_name_short",
                                  f"CSV row {i} lacks a benchmark, model or scaffold; left out", count=1))
            continue
        acc = pd.to_numeric(pd.Series([rec["accuracy"]]), errors="coerce").iloc[0]
        cost = pd.to_numeric(pd.Series([rec["total_cost"]]), errors="coerce").iloc[0]
        lat = pd.to_numeric(pd.Series([rec["mean_latency"]]), errors="coerce").iloc[0]
        if not np.isfinite(acc) or acc < 0 or acc > 1:
            errs.append(error_row(src, "error", "accuracy",
                                  f"CSV row {i}: accuracy {rec['accuracy']!r} is not in [0, 1]; set to NaN",
                                  count=1, **ctx))
            acc = np.nan
        if not np.isfinite(cost) or cost < 0:
            errs.append(error_row(src, "error", "total_cost",
                                  f"CSV row {i}: total_cost {rec['total_cost']!r} is missing or negative; set to NaN",
                                  count=1, **ctx))
            cost = np.nan
        elif cost == 0:
            errs.append(error_row(src, "warning", "total_cost",
                                  f"CSV row {i}: total_cost is exactly 0 (hal-harness prices models missing "
                                  "from its price dict at 0); kept", count=1, **ctx))
        latencies = rec.get("latencies_per_task")
        if not np.isfinite(lat) and isinstance(latencies, list) and latencies:
            lat = float(np.mean(latencies))
        if np.isfinite(lat) and lat < 0:
            errs.append(error_row(src, "error", "mean_latency", f"CSV row {i}: negative mean latency; set to NaN",
                                  count=1, **ctx))
            lat = np.nan
        elif not np.isfinite(lat):
            errs.append(error_row(src, "warning", "mean_latency", f"CSV row {i}: no latency", count=1, **ctx))
            lat = np.nan
        median = float(np.median(latencies)) if isinstance(latencies, list) and latencies else np.nan
        n = n_tasks.get(ctx["benchmark"])
        row = {
            **ctx,
            "scaffold_type": classify_scaffold(ctx["scaffold"], scaffold_types),
            "run_id": rec.get("run_id") if isinstance(rec.get("run_id"), str) else f"hal-row-{i}",
            "source": "hal_csv",
            "accuracy": acc,
            "total_cost": cost,
            "mean_latency": lat,
            "median_latency": median,
            "latency_field": "hal_first_to_last_call",
            "interval_method": None,
            "score_scale": PROPORTION,  # checked above: an accuracy in [0, 1]
        }
        if n is not None and np.isfinite(acc):
            lo, hi = beta_interval(acc * n, n, confidence)
            row.update(n_samples=n, n_scored=n, successes=acc * n, accuracy_lo=float(lo),
                       accuracy_hi=float(hi), interval_method="beta",
                       cost_per_task=cost / n if np.isfinite(cost) else np.nan)
        rows.append(row)
    runs = _finish_runs(rows)
    missing_n = sorted(set(runs["benchmark"]) - set(n_tasks))
    for benchmark in missing_n:
        errs.append(error_row(src, "info", "n_tasks",
                              "no task count for this benchmark (the HAL CSV has no per-task results): "
                              "accuracy intervals and frontier probabilities skipped; pass n_tasks",
                              benchmark=benchmark, count=int((runs["benchmark"] == benchmark).sum())))
    dups = runs.groupby(list(RUN_KEY), sort=True).size()
    for key, count in dups[dups > 1].items():
        errs.append(error_row(src, "info", "run_id",
                              f"{count} runs for this benchmark/model/scaffold: all kept; max-accuracy uses the "
                              "best, the per-scaffold win rate the first (as hal-analysis does)",
                              count=int(count), **dict(zip(RUN_KEY, key))))
    return runs, make_errors(errs)


def model_cost_latency(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cross-benchmark mean cost and latency per model (hal-analysis ``get_mean_cost``).

    ``mean_cost`` = mean over benchmarks of (mean ``total_cost`` over the model's runs on that
    benchmark); ``mean_latency`` likewise from ``mean_latency``. Runs whose value is NaN are left
    out of the inner mean with a warning row; ``n_benchmarks_cost`` / ``n_benchmarks_latency``
    count the benchmarks that contributed. Returns ``(table, errors)``; table columns
    ``model, mean_cost, mean_latency, n_benchmarks_cost, n_benchmarks_latency``.
    """
    errs: list[dict[str, Any]] = []
    out = []
    for model, part in runs.groupby("model", sort=True):
        rec: dict[str, Any] = {"model": model}
        for column, name in (("total_cost", "mean_cost"), ("mean_latency", "mean_latency")):
            missing = part[column].isna()
            if missing.any():
                errs.append(error_row("model_means", "warning", column,
                                      f"runs with no {column} left out of the model's {name}",
                                      model=model, count=int(missing.sum())))
            per_bench = part[~missing].groupby("benchmark")[column].mean()
            rec[name] = float(per_bench.mean()) if len(per_bench) else np.nan
            rec[f"n_benchmarks_{'cost' if name == 'mean_cost' else 'latency'}"] = len(per_bench)
        out.append(rec)
    table = pd.DataFrame(out, columns=["model", "mean_cost", "mean_latency", "n_benchmarks_cost",
                                       "n_benchmarks_latency"])
    return table, make_errors(errs)


__all__ = [
    "GENERALIST",
    "OWN_SCALE",
    "PROPORTION",
    "RUN_COLUMNS",
    "TASK_SPECIFIC",
    "beta_interval",
    "classify_scaffold",
    "classify_scaffolds",
    "model_cost_latency",
    "run_metrics_from_hal",
    "run_metrics_from_samples",
    "sample_columns",
]
