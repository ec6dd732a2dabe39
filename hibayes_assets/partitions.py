"""Partitions: one per log file, one per analysis YAML, and one per (analysis, model) fit that
exists. Fit keys are `<analysis>/<model>` (an analysis is named after its file, which cannot hold a
`/`), registered and removed with the analyses, so there is no grid of pairs that cannot be fitted."""

import dagster as dg

log_partitions = dg.DynamicPartitionsDefinition(name="inspect_logs")
analysis_partitions = dg.DynamicPartitionsDefinition(name="analyses")
fit_partitions = dg.DynamicPartitionsDefinition(name="fits")

FIT_KEY_SEPARATOR = "/"


def fit_key(analysis: str, model: str) -> str:
    return f"{analysis}{FIT_KEY_SEPARATOR}{model}"


def split_fit_key(key: str) -> tuple[str, str]:
    analysis, _, model = key.partition(FIT_KEY_SEPARATOR)
    return analysis, model


def contiguous_ranges(order: list[str], wanted: set[str]) -> list[tuple[str, str]]:
    """Group `wanted` keys into runs of consecutive keys in partition order, so that each group
    can be one single-run range instead of one run per key."""
    ranges: list[tuple[str, str]] = []
    start = previous = None
    for key in order:
        if key in wanted:
            start = start or key
            previous = key
        elif start is not None:
            ranges.append((start, previous))
            start = None
    if start is not None:
        ranges.append((start, previous))
    return ranges


def range_tags(start: str, end: str) -> dict[str, str]:
    """Run tags that make a run cover the partitions from `start` to `end` (single-run backfill)."""
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
