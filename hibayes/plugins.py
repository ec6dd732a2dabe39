"""Users' custom code: importing the Python files of a config's `path:` entries, so their
`@extractor`, `@process`, `@model`, `@checker` and `@communicate` builders register themselves, and
saying where a component (custom or built-in) failed, by its file and line.

One error family: `ComponentError` is a component that failed, and `CustomFileError`, a custom file
that could not be imported, is one of them. The CLI and the Dagster assets report both with the
same messages."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

MAX_MESSAGE_CHARS = 300  # the first line of an exception's message; the traceback has the rest


class ComponentError(Exception):
    """A component of an analysis (extractor, processor, model, checker, communicator) that failed,
    with its name, file and line in the message."""


class CustomFileError(ComponentError, ImportError):
    """A custom file that could not be imported, with the file, the line and the reason."""


_loaded: dict[Path, ModuleType] = {}


def resolve_path(entry: str | Path, config_dir: Path | None, what: str) -> Path:
    """HiBayES's rule: a relative path is tried against the YAML file's folder, then the working
    directory; a path found in neither is an error naming both places tried."""
    path = Path(entry).expanduser()
    if path.is_absolute():
        if path.exists():
            return path
        raise FileNotFoundError(f"{what} '{entry}' not found")
    tried = []
    for base in ([config_dir] if config_dir else []) + [Path.cwd()]:
        candidate = (base / path).resolve()
        if candidate.exists():
            return candidate
        tried.append(str(candidate))
    raise FileNotFoundError(f"{what} '{entry}' not found; tried {' and '.join(tried)}")


def load_custom_files(entries: str | Iterable[str] | None, config_dir: Path | None, what: str = "custom file") -> list[ModuleType]:
    if not entries:
        return []
    if isinstance(entries, (str, Path)):
        entries = [entries]
    return [import_file(resolve_path(entry, config_dir, what)) for entry in entries]


def import_file(path: Path) -> ModuleType:
    """Import `path` once per process as its own module (re-importing would register twice)."""
    path = path.resolve()
    if path in _loaded:
        return _loaded[path]
    name = f"hibayes_custom_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CustomFileError(f"{path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        line = err.lineno if isinstance(err, SyntaxError) and err.lineno else _last_line_in(err, path)
        raise CustomFileError(f"{path}: {f'line {line}: ' if line else ''}{type(err).__name__}: {err}") from err
    _loaded[path] = module
    return module


def component_failure(kind: str, name: str, component: Callable[..., Any] | None, err: BaseException) -> str:
    """"communicator 'cutpoint_plot' raised TypeError: ... (at /x/custom.py, line 51)": one line
    naming the component, the exception and where in the component's file it was raised."""
    return f"{kind} '{name}' {raised(err, component)}"


def raised(err: BaseException, component: Callable[..., Any] | None) -> str:
    """"raised KeyError: 'x' (at /x/custom.py, line 12)", for a component whose name is said elsewhere."""
    return f"raised {describe_exception(err)}{raised_at(err, component)}"


def describe_exception(err: BaseException) -> str:
    text = str(err).strip()
    first_line = text.splitlines()[0][:MAX_MESSAGE_CHARS] if text else ""
    return f"{type(err).__name__}: {first_line}" if first_line else type(err).__name__


def raised_at(err: BaseException, component: Callable[..., Any] | None) -> str:
    """" (at FILE, line N)": the innermost line of the component's own file in the traceback, which
    is the user's line even when the exception came from a library it called. When the traceback
    never entered that file (say the component got arguments it does not take), the line where the
    component is defined; "" when its source file is unknown."""
    source = _source_of(component)
    if source is None:
        return ""
    path, defined_at = source
    line = _last_line_in(err, path)
    return f" (at {path}, line {line})" if line else f" (defined at {path}, line {defined_at})"


def _source_of(component: Callable[..., Any] | None) -> tuple[Path, int] | None:
    if component is None:
        return None
    code = getattr(inspect.unwrap(component), "__code__", None)
    if code is None:  # a callable object or a builtin: no Python source to point at
        return None
    return Path(code.co_filename).resolve(), code.co_firstlineno


def _last_line_in(err: BaseException, path: Path) -> int | None:
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).resolve() == path]
    return frames[-1].lineno if frames else None
