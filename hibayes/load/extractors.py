"""HiBayES's extractors: per-sample functions that turn an Inspect sample into dataframe columns.

Each extractor is a *builder* registered under its name: YAML kwargs become the builder's arguments,
and the builder returns `inner(sample, eval_log) -> dict` whose keys become columns. Users write
their own exactly as in HiBayES:

    from hibayes.load import Extractor, extractor

    @extractor
    def domains_extractor(default_domain: str = "other") -> Extractor:
        def inner(sample, eval_log):
            return {"domain": sample.metadata.get("domain", default_domain)}
        return inner

Differences from the original, on purpose:
- `base_extractor` converts every Inspect score convention (C/I/P/N, numbers, bools, numeric
  strings) through `hibayes.load.scores.convert_score` instead of raising on "P" or "N"; values it
  cannot read become NaN with an `ExtractorWarning`. Its `task` column holds the task name (the
  original put the sample id there), and the sample id has its own column, `sample_id`.
- `base_extractor` and `score_normalizer` take an optional `scorer` to read another scorer than the
  first one, and an optional `key` to read one key of a scorer that returns a dict (Inspect's
  `Score(value={"accuracy": "C", "f1": 0.5})`); a dict read without a key is NaN with a warning
  saying which keys there are.
- `score_normalizer` leaves values it cannot read as NaN with an `ExtractorWarning` instead of 0.0.
- `cyber_extractor` leaves absent fields as None instead of crashing on a missing `max_messages`
  or writing the string "None".

The loader counts each `ExtractorWarning` against the extractor that raised it and reports the
first messages, so no value is dropped silently.

Reading full samples is the slow part of loading, so a builder marked with `reads_summaries = True`
is run on Inspect's sample summaries (`read_eval_log_sample_summaries`) instead, with the log's
header as `eval_log` (no `eval_log.samples`). The summaries thin some fields: long strings and
large metadata values are cut or removed, and top-level metadata strings have their whitespace runs
collapsed to single spaces. Logs whose writer left fields out of the summaries (metadata and usage
before inspect_ai 0.3.93, the message count in some later versions) are read in full
(`hibayes.load.inspect_reader.summaries_complete`). Where a marked extractor meets a cut value it
raises `SummaryTooThin`, and that log's full samples are read instead. A custom builder may set
the same attribute when it only reads summary fields: id, epoch, target, scores, metadata,
model_usage, message_count, error, total_time, working_time.

One definition, two paths: every built-in that reads summary fields only is a `FactsExtractor`, a
function of `SampleFacts` (the values it reads from one sample). HiBayES's loader builds the facts
from Inspect's sample objects (`sample_facts`); the assets build them from the warehouse rows
(`hibayes.load.warehouse_extract`), and both run the same function and the same thinning guard.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from hibayes.load.inspect_reader import (
    dataset_name,
    error_text,
    message_count,
    scaffold_of,
    target_text,
    usage_totals,
)
from hibayes.load.scores import convert_score
from hibayes.registry import Registry, did_you_mean, make_decorator

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalSample

Extractor = Callable[["EvalSample", "EvalLog"], dict]
EXTRACTORS: Registry[Extractor] = Registry("extractor")
extractor = make_decorator(EXTRACTORS)

Builder = TypeVar("Builder", bound=Callable[..., Extractor])

# What Inspect's summary thinning leaves behind (inspect_ai/log/_util.py).
REMOVED_FROM_SUMMARY = "Key removed from summary (> 1k)"
TARGET_TRUNCATED_SUFFIX = "(content truncated)"
# token_extractor's columns, named as the warehouse's `samples` table names them.
TOKEN_COLUMNS = ("total_tokens", "input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens")
# Score kinds (hibayes.load.scores) that are Inspect's "unscored" rather than a mistake.
UNSCORED_KINDS = ("nan", "null")


class ExtractorWarning(UserWarning):
    """A value an extractor could not read; the loader counts these per extractor."""


class SummaryTooThin(Exception):
    """A sample summary lacks a value that the full sample holds: read the full samples."""


def reads_summaries(builder: Builder) -> Builder:
    """Mark a builder whose extractor gives the same result on sample summaries."""
    builder.reads_summaries = True  # type: ignore[attr-defined]
    return builder


@dataclass(frozen=True)
class SampleFacts:
    """What the built-in extractors read from one sample, whichever path supplies it."""

    log_path: str
    model: str  # the full model name, e.g. "openai/gpt-4o"
    dataset: str | None
    task: str
    scaffold: str | None
    id: str  # the sample id, as text
    epoch: int
    target: str  # `target_text` of the target
    scores: Mapping[str, Any]  # each scorer's raw value, in the log's order
    metadata: Mapping[str, Any]
    usage: Mapping[str, int] | None  # TOKEN_COLUMNS summed over the sample's models; None without usage
    message_count: int | None
    error: str | None
    from_summary: bool  # read from a thinned summary: a cut value raises SummaryTooThin


def sample_facts(sample: Any, eval_log: Any) -> SampleFacts:
    """The facts of an Inspect sample (a full sample or a summary) of `eval_log`."""
    spec = eval_log.eval
    usage = usage_totals(sample.model_usage)
    return SampleFacts(
        log_path=eval_log.location,
        model=spec.model,
        dataset=dataset_name(spec),
        task=spec.task,
        scaffold=scaffold_of(spec, eval_log.plan),
        id=str(sample.id),
        epoch=sample.epoch,
        target=target_text(sample.target),
        scores={name: score.value for name, score in (sample.scores or {}).items()},
        metadata=sample.metadata or {},
        usage=None if usage["total_tokens"] is None else {column: usage[column] for column in TOKEN_COLUMNS},
        message_count=message_count(sample),
        error=error_text(sample),
        from_summary=_is_summary(sample),
    )


@dataclass(frozen=True)
class FactsExtractor:
    """A built-in extractor defined on `SampleFacts`: the loader calls it as HiBayES's
    `inner(sample, eval_log)`, the warehouse path with the facts it built as `sample`."""

    columns: Callable[[SampleFacts], dict[str, Any]]

    def __call__(self, sample: Any, eval_log: Any) -> dict[str, Any]:
        facts = sample if isinstance(sample, SampleFacts) else sample_facts(sample, eval_log)
        return self.columns(facts)


def _is_summary(sample: Any) -> bool:
    from inspect_ai.log import EvalSampleSummary

    return isinstance(sample, EvalSampleSummary)


@dataclass(frozen=True)
class _PickedScore:
    """The raw value an extractor reads as the score: a scorer's value, or one key of its dict."""

    scorer: str
    key: str | None
    raw: Any

    def described(self) -> str:
        return f"scorer '{self.scorer}'" if self.key is None else f"key '{self.key}' of scorer '{self.scorer}'"


def _pick_score(facts: SampleFacts, scorer: str | None, key: str | None, who: str) -> _PickedScore | None:
    """The chosen scorer's value (the first scorer's by default, as in HiBayES), or the chosen key
    of it when `key` is given.

    None when there is nothing to read: a sample that errored before scoring (not worth a warning:
    the loader reports errored samples), one without the named scorer or key, or one whose value is
    not a dict where a key was chosen (each a warning).
    """
    scores = facts.scores
    if not scores:
        if not facts.error:
            warnings.warn(f"{who}: sample {facts.id} epoch {facts.epoch} has no scores", ExtractorWarning)
        return None
    if scorer is None:
        scorer = next(iter(scores))
    elif scorer not in scores:
        warnings.warn(
            f"{who}: sample {facts.id} epoch {facts.epoch} has no scorer '{scorer}'"
            f"{did_you_mean(scorer, scores)}; its scorers: {', '.join(scores)}",
            ExtractorWarning,
        )
        return None
    raw = scores[scorer]
    if key is None:
        return _PickedScore(scorer, None, raw)
    if not isinstance(raw, Mapping):
        converted = convert_score(raw)
        if converted.kind in UNSCORED_KINDS:  # Inspect's "unscored" has no keys: NaN, not a mistake
            return _PickedScore(scorer, None, raw)
        warnings.warn(
            f"{who}: sample {facts.id} epoch {facts.epoch}: score {converted.raw_json} of scorer "
            f"'{scorer}' is not a dict, so it has no key '{key}'",
            ExtractorWarning,
        )
        return None
    if key not in raw:
        warnings.warn(
            f"{who}: sample {facts.id} epoch {facts.epoch}: score of scorer '{scorer}' has no key '{key}'"
            f"{did_you_mean(key, raw)}; its keys: {', '.join(map(str, raw))}",
            ExtractorWarning,
        )
        return None
    return _PickedScore(scorer, key, raw[key])


def _score_value(facts: SampleFacts, scorer: str | None, key: str | None, who: str) -> float:
    picked = _pick_score(facts, scorer, key, who)
    return math.nan if picked is None else _to_float(facts, picked, who)


def _to_float(facts: SampleFacts, picked: _PickedScore, who: str) -> float:
    converted = convert_score(picked.raw)
    if converted.value is not None:
        return converted.value
    where = f"{who}: sample {facts.id} epoch {facts.epoch}: score {converted.raw_json} of {picked.described()}"
    # A dict under a chosen key is nested: no key of it can be chosen, so it is only "not numeric".
    if converted.kind == "dict" and picked.key is None:
        keys = [str(key) for key in picked.raw]
        warnings.warn(
            f"{where} is a dict: choose one of its keys ({', '.join(keys)}) in the analysis YAML, e.g. "
            f"{who}: {{scorer: {picked.scorer}, key: {keys[0] if keys else 'KEY'}}}; left NaN",
            ExtractorWarning,
        )
    elif converted.kind not in UNSCORED_KINDS:
        warnings.warn(
            f"{where} is not numeric (expected a number, bool, numeric string or C/I/P/N); left NaN",
            ExtractorWarning,
        )
    return math.nan


def _message_count(facts: SampleFacts) -> int | None:
    if facts.message_count is None and facts.from_summary:  # a summary whose writer did not count
        raise SummaryTooThin("message count missing from the sample summary")
    return facts.message_count


def _target(facts: SampleFacts) -> str:
    # Truncation ends the (or a list target's) text with the suffix: `str()` of a list keeps it inside.
    if facts.from_summary and TARGET_TRUNCATED_SUFFIX in facts.target:
        raise SummaryTooThin("target truncated in the sample summary")
    return facts.target


def _checked_metadata_value(facts: SampleFacts, value: Any) -> Any:
    """`value` read from sample metadata, refusing what summary thinning may have cut."""
    if facts.from_summary and isinstance(value, str) and (value == REMOVED_FROM_SUMMARY or value.endswith("...")):
        raise SummaryTooThin("metadata value cut in the sample summary")
    return value


@extractor
@reads_summaries
def base_extractor(scorer: str | None = None, key: str | None = None) -> Extractor:
    """score, target, model, model_raw, dataset, task (the task name), sample_id, epoch,
    num_messages, log_path and scaffold (the eval's `scaffold` metadata, else its solver chain).
    `score` comes from the first scorer, or from `scorer`; from its dict value's `key` when given
    (Inspect scorers may return `{"accuracy": "C", "f1": 0.5}`)."""

    def columns(facts: SampleFacts) -> dict[str, Any]:
        return {
            "score": _score_value(facts, scorer, key, "base_extractor"),
            "target": _target(facts),
            "model": facts.model.split("/")[-1],
            "model_raw": facts.model,
            "dataset": facts.dataset,
            "task": facts.task,
            "sample_id": facts.id,
            "epoch": facts.epoch,
            "num_messages": _message_count(facts),
            "log_path": facts.log_path,
            "scaffold": facts.scaffold,
        }

    return FactsExtractor(columns)


@extractor
@reads_summaries
def cyber_extractor() -> Extractor:
    """Fields of `sample.metadata["challenge_metadata"]`, plus one column per capability holding its
    level as a string; nothing when the sample has no such metadata."""

    def columns(facts: SampleFacts) -> dict[str, Any]:
        metadata = _checked_metadata_value(facts, facts.metadata.get("challenge_metadata"))
        if not metadata:
            return {}
        max_messages = metadata.get("max_messages")
        row: dict[str, Any] = {
            "max_messages": int(max_messages) if max_messages is not None else None,
            "full_name": str(metadata.get("full_name", facts.id)),
        }
        for key in ("category", "split", "description", "source"):
            value = metadata.get(key)
            row[key] = str(value) if value is not None else None
        for capability in metadata.get("capabilities") or []:
            if isinstance(capability, dict) and "name" in capability and "level" in capability:
                row[capability["name"]] = str(capability["level"])
        return row

    return FactsExtractor(columns)


@extractor
@reads_summaries
def tools_extractor() -> Extractor:
    """`tools`: the names of the tools given to the solvers in the eval plan, or `[None]`."""

    def inner(sample: EvalSample, eval_log: EvalLog) -> dict[str, Any]:
        names: list[str | None] = []
        for step in eval_log.plan.steps if eval_log.plan else []:
            if isinstance(step.params, dict):
                tools = step.params.get("tools") or []
                names.extend(str(tool["name"]) for tool in tools if isinstance(tool, dict) and "name" in tool)
        return {"tools": names or [None]}

    return inner


@extractor
@reads_summaries
def token_extractor() -> Extractor:
    """Token usage summed over the sample's models; nothing when the sample has no usage."""

    def columns(facts: SampleFacts) -> dict[str, Any]:
        return dict(facts.usage) if facts.usage is not None else {}

    return FactsExtractor(columns)


@extractor
def message_count_extractor(
    include_system: bool = True, include_user: bool = True, include_assistant: bool = True
) -> Extractor:
    """Messages per role (needs full samples: summaries only hold the total)."""
    roles = [
        role
        for role, included in (("system", include_system), ("user", include_user), ("assistant", include_assistant))
        if included
    ]

    def inner(sample: EvalSample, eval_log: EvalLog) -> dict[str, Any]:
        row = {f"{role}_messages": sum(1 for m in sample.messages if m.role == role) for role in roles}
        row["total_messages"] = len(sample.messages)
        return row

    return inner


@extractor
@reads_summaries
def metadata_field_extractor(field_path: str, default_value: Any = None, rename_to: str | None = None) -> Extractor:
    """One column, `rename_to` or `field_path` with dots as underscores, holding the value at the
    dotted `field_path` in the sample metadata, or `default_value` where it is absent or None (a key
    present with the value null counts as absent, as in HiBayES)."""
    parts = field_path.split(".")
    column = rename_to or field_path.replace(".", "_")

    def columns(facts: SampleFacts) -> dict[str, Any]:
        value: Any = facts.metadata
        for part in parts:
            value = _checked_metadata_value(facts, value.get(part)) if isinstance(value, Mapping) else None
            if value is None:
                return {column: default_value}
        return {column: value}

    return FactsExtractor(columns)


@extractor
@reads_summaries
def score_normalizer(
    score_field: str = "score",
    normalize_to_01: bool = True,
    custom_mapping: Mapping[Any, float] | None = None,
    scorer: str | None = None,
    key: str | None = None,
) -> Extractor:
    """The first scorer's value (or `scorer`'s; the value at `key` of a dict score) as a float in
    column `score_field`: `custom_mapping` first, then Inspect's conventions (C/CORRECT 1,
    I/INCORRECT 0, P 0.5, N 0, numbers, bools, numeric strings); with `normalize_to_01`, values
    above 1 are taken as percentages and divided by 100."""

    def columns(facts: SampleFacts) -> dict[str, Any]:
        picked = _pick_score(facts, scorer, key, "score_normalizer")
        if picked is None:
            return {score_field: math.nan}
        raw = picked.raw
        if custom_mapping and _hashable(raw) and raw in custom_mapping:
            value = float(custom_mapping[raw])
        else:
            value = _to_float(facts, picked, "score_normalizer")
        if normalize_to_01 and value > 1.0:
            value /= 100.0
            if value > 1.0:
                warnings.warn(
                    f"score_normalizer: sample {facts.id} epoch {facts.epoch}: score {raw!r} is above 100, "
                    "so it is not a percentage; normalised value is still above 1",
                    ExtractorWarning,
                )
        return {score_field: value}

    return FactsExtractor(columns)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
