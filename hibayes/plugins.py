"""Importing users' custom Python files (the `path:` entries of a config), so their `@extractor`,
`@process`, `@model`, `@checker` and `@communicate` builders register themselves."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType


class CustomFileError(ImportError):
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
        raise CustomFileError(f"{path}: {_where(err, path)}{type(err).__name__}: {err}") from err
    _loaded[path] = module
    return module


def _where(err: Exception, path: Path) -> str:
    if isinstance(err, SyntaxError) and err.lineno:
        return f"line {err.lineno}: "
    frames = [f for f in traceback.extract_tb(err.__traceback__) if Path(f.filename).resolve() == path]
    return f"line {frames[-1].lineno}: " if frames else ""
