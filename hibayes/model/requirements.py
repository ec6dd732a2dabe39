"""Checking a config's models against its processors before anything runs: which features a
model needs that no processor makes, and which processor would make them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from hibayes.model.models import required_features
from hibayes.process.processors import feature_hint, produced_features


class ModelEntry(Protocol):
    """What the check reads of a model entry (`ModelConfig`/`ModelSpec` has these)."""

    name: str
    kwargs: dict[str, Any]

    @property
    def model_name(self) -> str: ...


def missing_features(
    processors: Iterable[tuple[str, Mapping[str, Any]]], models: Iterable[ModelEntry]
) -> list[str]:
    """One message per model that needs features none of the processors makes, e.g.

        model 'two_level_group_binomial' needs features that no processor makes: `group_index`,
        `num_group` (extract_features with categorical_features: [group] would make them)

    Returns [] when every model is satisfied, and also when a processor does not declare what it
    makes (a custom one may make anything), since then nothing can be proven missing. Models that
    declare nothing (custom ones) and invalid arguments are left to the build step to report.
    """
    made: set[str] = set()
    for name, kwargs in processors:
        produced = produced_features(name, kwargs)
        if produced is None:
            return []
        made |= produced
    messages = []
    for entry in models:
        needed = required_features(entry.name, entry.kwargs)
        missing = sorted((needed or set()) - made)
        if missing:
            messages.append(f"model '{entry.model_name}' needs features that no processor makes: {_with_hints(missing)}")
    return messages


def _with_hints(missing: list[str]) -> str:
    """Group the missing features by the processor arguments that would make them."""
    by_hint: dict[str, list[str]] = {}
    for feature in missing:
        by_hint.setdefault(feature_hint(feature), []).append(feature)
    parts = []
    for hint, features in by_hint.items():
        names = ", ".join(f"`{f}`" for f in features)
        parts.append(f"{names} ({hint} would make {'them' if len(features) > 1 else 'it'})")
    return "; ".join(parts)
