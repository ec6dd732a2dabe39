"""Partitions: one per log file and one per analysis YAML. An analysis's fits are one partition of
`model_fit`, the analysis's own (one file per model it lists), so there is no grid of (analysis,
model) pairs that cannot be fitted, and one run takes an analysis from its data to its report.

Analysis and model names become partition keys, folder and file names (HIBAYES_HOME/fits/<analysis>/
<model>.nc, features/<analysis>, artifacts/<analysis>) and text in the UI's partition selector, so
they keep to `NAME_RULE` (see `name_problem`); a file whose names do not is reported, not used."""

import re

import dagster as dg

log_partitions = dg.DynamicPartitionsDefinition(name="inspect_logs")
analysis_partitions = dg.DynamicPartitionsDefinition(name="analyses")

# Letters, digits, '_', '-' and '.': what survives every place a name goes. Dagster forbids '...' (its
# range syntax) and control characters in partition keys (INVALID_PARTITION_SUBSTRINGS, enforced for
# static keys only: a dynamic key is stored as it is and breaks later); the UI's partition text lists
# keys with ',' and ranges as '[a...b]'; '/' is a path separator; spaces, quotes, '|' and the like need quoting in shell commands and URLs; a leading
# '.' makes '.' or '..' (folders above the one meant) or a hidden folder.
NAME_RULE = "ASCII letters, digits, '_', '-' and '.', starting with a letter, a digit or '_', and without '...'"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_NAME_CHARACTER = re.compile(r"[A-Za-z0-9_.-]")
# Folders of the HAL and IRT groups, beside the analyses' own (HIBAYES_HOME/artifacts/hal, fits/irt, ...).
RESERVED_NAMES = {"hal": "the HAL group", "irt": "the IRT group"}


def name_problem(name: str, what: str = "analysis name") -> str | None:
    """Why `name` (an analysis's file name, or a model's name with its tag) cannot name a partition,
    its folders and files, or None when it can."""
    if _NAME.fullmatch(name) and "..." not in name:
        if name.lower() in RESERVED_NAMES:
            return f"{what} '{name}' is taken: {RESERVED_NAMES[name.lower()]} keeps its files under that name; choose another"
        return None
    if not name:
        return f"{what} is empty; use {NAME_RULE}"
    bad = sorted({character for character in name if not _NAME_CHARACTER.fullmatch(character)})
    if bad:
        found = "the character" + ("s " if len(bad) > 1 else " ") + " ".join(repr(c) for c in bad)
    elif "..." in name:
        found = "'...' (Dagster's partition range syntax)"
    else:
        found = f"{name[0]!r} first"
    return f"{what} {name!r} has {found}; a name may hold only {NAME_RULE}"


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
