"""What each processor makes and each model needs, declared on their builders from the builder's
arguments, so that a config can be checked before any data is read or any model is fitted.

    @process
    @declare_produces(lambda args: {"obs"})
    def extract_observed_feature(feature_name="score", test=None): ...

A builder without a declaration (most custom ones) is simply unknown to the check.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

Builder = TypeVar("Builder", bound=Callable[..., Any])
Declaration = Callable[[Mapping[str, Any]], set[str]]


def declare_produces(produces: Declaration) -> Callable[[Builder], Builder]:
    """Attach `produces(arguments) -> feature names` to a processor builder."""

    def attach(builder: Builder) -> Builder:
        builder.produces = produces  # type: ignore[attr-defined]
        return builder

    return attach


def declare_requires(requires: Declaration) -> Callable[[Builder], Builder]:
    """Attach `requires(arguments) -> feature names` to a model builder."""

    def attach(builder: Builder) -> Builder:
        builder.requires = requires  # type: ignore[attr-defined]
        return builder

    return attach


def declared(builder: Callable[..., Any], attribute: str, kwargs: Mapping[str, Any]) -> set[str] | None:
    """Evaluate a builder's declaration on its YAML kwargs with the builder's defaults filled in;
    None when it declares nothing or the kwargs are invalid (building it reports why)."""
    declaration = getattr(builder, attribute, None)
    if declaration is None:
        return None
    try:
        bound = inspect.signature(builder).bind_partial(**kwargs)
        bound.apply_defaults()
        return set(declaration(bound.arguments))
    except (TypeError, ValueError):
        return None
