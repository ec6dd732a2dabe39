"""`ProcessConfig`: the `data_process:` section of an analysis YAML (HiBayES's name for it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hibayes.config import ConfigError, parse_analysis
from hibayes.process.processors import PROCESSORS, DataProcessor


@dataclass(frozen=True)
class ProcessConfig:
    """Custom processor files (`path`) and the processors to run, in order, as (name, kwargs).
    An empty section gets the default processors, which fit the default model."""

    processors: tuple[tuple[str, dict[str, Any]], ...]
    path: tuple[str, ...] = ()
    config_dir: Path | None = None

    @classmethod
    def from_dict(cls, section: dict[str, Any] | None, config_dir: Path | None = None) -> ProcessConfig:
        """Parse the `data_process:` mapping (keys `path` and `processors`), validating it like
        the whole-file parser does."""
        parsed = parse_analysis({"data_process": section or {}}, name="data_process")
        return cls(tuple(parsed.processors), parsed.custom_paths["processor"], config_dir)

    @classmethod
    def from_yaml(cls, path: str | Path) -> ProcessConfig:
        """The `data_process:` section of an analysis YAML file."""
        path = Path(path)
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
        return cls.from_dict(raw.get("data_process"), path.parent)

    @property
    def enabled_processors(self) -> list[DataProcessor]:
        """The built processors, as HiBayES's attribute of that name; imports the custom files
        first (once per process) so that their `@process` builders are registered."""
        from hibayes.plugins import load_custom_files

        load_custom_files(list(self.path), self.config_dir, "data_process.path")
        return [PROCESSORS.build(name, kwargs) for name, kwargs in self.processors]
