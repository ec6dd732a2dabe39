"""One registry pattern for every stage: a YAML name maps to a builder, YAML kwargs become the
builder's arguments, and the builder returns an inner function of the stage's fixed signature.

    @process                      # registers under the function's name
    def groupby(groupby_columns=None): ...
        def inner(state, display): ...
        return inner

    processor = PROCESSORS.build("groupby", {"groupby_columns": ["model"]})
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

Inner = TypeVar("Inner", bound=Callable[..., Any])


class UnknownComponentError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


class Registry(Generic[Inner]):
    """Builders of one stage ("extractor", "processor", "model", "checker", "communicator")."""

    def __init__(self, kind: str):
        self.kind = kind
        self._builders: dict[str, Callable[..., Inner]] = {}

    def register(self, builder: Callable[..., Inner], name: str | None = None) -> Callable[..., Inner]:
        self._builders[name or builder.__name__] = builder
        return builder

    def names(self) -> list[str]:
        return sorted(self._builders)

    def __contains__(self, name: str) -> bool:
        return name in self._builders

    def builder(self, name: str) -> Callable[..., Inner]:
        try:
            return self._builders[name]
        except KeyError:
            raise UnknownComponentError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._builders)}; "
                f"available: {', '.join(self.names())}"
            ) from None

    def build(self, name: str, kwargs: Mapping[str, Any] | None = None) -> Inner:
        builder = self.builder(name)
        kwargs = dict(kwargs or {})
        check_kwargs(builder, kwargs, f"{self.kind} '{name}'")
        return builder(**kwargs)


def check_kwargs(func: Callable[..., Any], kwargs: Mapping[str, Any], what: str) -> None:
    """Raise a TypeError naming each argument `func` does not take, with a suggestion."""
    params = inspect.signature(func).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    unknown = [k for k in kwargs if k not in known]
    if unknown:
        parts = [f"'{k}'{did_you_mean(k, known)}" for k in unknown]
        raise TypeError(f"{what} got unknown argument(s) {', '.join(parts)}; it takes: {', '.join(known) or 'nothing'}")


def did_you_mean(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def make_decorator(registry: Registry[Any]) -> Callable[..., Any]:
    """`@decorator` or `@decorator(name=...)`: register a builder in `registry`."""

    def decorator(func: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
        if func is None:
            return lambda f: registry.register(f, name)
        return registry.register(func, name)

    return decorator
