"""The analysis YAML: HiBayES's config format, validated, with did-you-mean errors.

Sections: data_loader, data_process, model, check, communicate, platform. Every component list may
be written as a list of names, a list of one-key mappings `{name: {kwargs}}`, or a mapping
`{name: kwargs}`; models may also be `{name: ..., config: {...}}`. Relative paths are tried against
the YAML file's folder, then the working directory.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hibayes.registry import did_you_mean

SECTIONS = ("data_loader", "data_process", "model", "check", "communicate", "platform")
SECTION_KEYS = {
    "data_loader": ("paths", "extractors", "include_errored_samples", "include_incomplete_logs"),
    "data_process": ("path", "processors"),
    "model": ("path", "models"),
    "check": ("path", "checkers"),
    "communicate": ("path", "communicators"),
    "platform": ("device_type", "num_devices", "gpu_memory_fraction", "chain_method", "mem_on_demand"),
}
PATHS_KEYS = ("files_to_process", "extracted_data", "cache_path", "output_dir")
EXTRACTOR_KEYS = ("path", "enabled")
FIT_KEYS = (
    "method",
    "samples",
    "warmup",
    "chains",
    "seed",
    "progress_bar",
    "target_accept",
    "max_tree_depth",
    "init_strategy",
    "aggregate_rows",
)
MODEL_CONFIG_RESERVED = ("tag", "main_effect_params", "link_function", "fit", "extra_kwargs", "path")

# Unlike the original, the defaults fit together: with no data_process and no model, an analysis
# compares models' accuracy with the default two-level binomial model.
DEFAULT_PROCESSORS: list[tuple[str, dict[str, Any]]] = [
    ("map_columns", {"column_mapping": {"model": "group"}}),
    ("groupby", {"groupby_columns": ["group"]}),
    ("extract_features", {"categorical_features": ["group"], "continuous_features": ["n_total"]}),
    ("extract_observed_feature", {"feature_name": "n_correct"}),
]
DEFAULT_MODEL = "two_level_group_binomial"
DEFAULT_CHECKERS: list[tuple[str, dict[str, Any]]] = [
    ("r_hat", {}),
    ("ess_bulk", {}),
    ("divergences", {}),
]
DEFAULT_COMMUNICATORS: list[tuple[str, dict[str, Any]]] = [
    ("forest_plot", {}),
    ("summary_table", {}),
]


class ConfigError(ValueError):
    """A config problem, with the file and the key in the message."""


@dataclass(frozen=True)
class FitConfig:
    method: str = "NUTS"
    samples: int = 2000
    warmup: int = 1000
    chains: int = 4
    seed: int = 0
    progress_bar: bool = False
    target_accept: float = 0.95
    max_tree_depth: int = 10
    init_strategy: str = "median"
    # Sample identical rows once, weighted by their count (same posterior; see hibayes.model.aggregate).
    aggregate_rows: bool = True


@dataclass(frozen=True)
class ModelSpec:
    """One model entry: the registry name, its builder kwargs and its fit settings."""

    name: str
    tag: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    fit: FitConfig = field(default_factory=FitConfig)
    main_effect_params: tuple[str, ...] = ()
    link_function: str = "identity"

    @property
    def model_name(self) -> str:
        """HiBayES's naming: the model function's name directly followed by its tag."""
        return f"{self.name}{self.tag}"

    def digest(self) -> str:
        return stable_hash(
            {"name": self.name, "tag": self.tag, "kwargs": self.kwargs, "fit": self.fit.__dict__}
        )


@dataclass(frozen=True)
class PlatformConfig:
    device_type: str = "cpu"
    num_devices: int | None = None
    chain_method: str = "parallel"


@dataclass(frozen=True)
class AnalysisConfig:
    name: str
    source: Path | None
    files_to_process: tuple[str, ...]
    extractors: list[tuple[str, dict[str, Any]]]
    processors: list[tuple[str, dict[str, Any]]]
    models: list[ModelSpec]
    checkers: list[tuple[str, dict[str, Any]]]
    communicators: list[tuple[str, dict[str, Any]]]
    platform: PlatformConfig
    include_errored_samples: bool = False
    include_incomplete_logs: bool = False
    # Users' custom code per stage (the `path:` entries), as written in the YAML.
    custom_paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path | None:
        """Where relative paths are tried first (HiBayES's rule: then the working directory)."""
        return self.source.parent if self.source else None

    def model(self, model_name: str) -> ModelSpec:
        for spec in self.models:
            if spec.model_name == model_name:
                return spec
        raise ConfigError(
            f"{self.where}: no model named '{model_name}'{did_you_mean(model_name, self.model_names)}; "
            f"the models are: {', '.join(self.model_names)}"
        )

    @property
    def model_names(self) -> list[str]:
        return [spec.model_name for spec in self.models]

    @property
    def where(self) -> str:
        return str(self.source) if self.source else f"analysis '{self.name}'"

    def digest(self) -> str:
        return stable_hash(self.raw)

    def checker_kwargs(self, name: str) -> dict[str, Any]:
        for checker, kwargs in self.checkers:
            if checker == name:
                return kwargs
        return {}


def stable_hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_analysis(path: Path) -> AnalysisConfig:
    """Read and validate one analysis YAML; the analysis is named after the file's stem."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    return parse_analysis(raw, name=path.stem, source=path)


def parse_analysis(raw: dict[str, Any], name: str, source: Path | None = None) -> AnalysisConfig:
    where = str(source) if source else f"analysis '{name}'"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of sections, got {type(raw).__name__}")
    _check_keys(raw, SECTIONS, where, "top-level key")
    sections = {key: raw.get(key) or {} for key in SECTIONS}
    for key, value in sections.items():
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: section '{key}' must be a mapping, got {type(value).__name__}")
        _check_keys(value, SECTION_KEYS[key], where, f"key in '{key}'")

    loader = sections["data_loader"]
    paths = loader.get("paths") or {}
    _check_keys(paths, PATHS_KEYS, where, "key in 'data_loader.paths'")
    extractors_section = loader.get("extractors") or {}
    _check_keys(extractors_section, EXTRACTOR_KEYS, where, "key in 'data_loader.extractors'")
    files = paths.get("files_to_process") or []
    if isinstance(files, str):
        files = [files]

    platform = sections["platform"]
    return AnalysisConfig(
        name=name,
        source=source,
        files_to_process=tuple(str(f) for f in files),
        extractors=_components(extractors_section.get("enabled"), where, "data_loader.extractors.enabled")
        or [("base_extractor", {})],
        processors=_components(sections["data_process"].get("processors"), where, "data_process.processors")
        or list(DEFAULT_PROCESSORS),
        models=_models(sections["model"].get("models"), where) or [ModelSpec(DEFAULT_MODEL)],
        checkers=_components(sections["check"].get("checkers"), where, "check.checkers") or list(DEFAULT_CHECKERS),
        communicators=_components(sections["communicate"].get("communicators"), where, "communicate.communicators")
        or list(DEFAULT_COMMUNICATORS),
        platform=PlatformConfig(
            device_type=platform.get("device_type") or "cpu",
            num_devices=platform.get("num_devices"),
            chain_method=platform.get("chain_method") or "parallel",
        ),
        include_errored_samples=bool(loader.get("include_errored_samples", False)),
        include_incomplete_logs=bool(loader.get("include_incomplete_logs", False)),
        custom_paths={
            "extractor": _paths(extractors_section.get("path")),
            "processor": _paths(sections["data_process"].get("path")),
            "model": _paths(sections["model"].get("path")),
            "checker": _paths(sections["check"].get("path")),
            "communicator": _paths(sections["communicate"].get("path")),
        },
        raw=raw,
    )


def _paths(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return (str(value),) if isinstance(value, (str, Path)) else tuple(str(v) for v in value)


def _check_keys(mapping: dict[str, Any], allowed: tuple[str, ...], where: str, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown {what} '{key}'{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}"
            )


def _components(value: Any, where: str, what: str) -> list[tuple[str, dict[str, Any]]]:
    """Normalise the three HiBayES list forms to [(name, kwargs), ...], keeping order and repeats."""
    if not value:
        return []
    if isinstance(value, dict):
        return [(str(name), dict(kwargs or {})) for name, kwargs in value.items()]
    if not isinstance(value, list):
        raise ConfigError(f"{where}: '{what}' must be a list or a mapping, got {type(value).__name__}")
    out: list[tuple[str, dict[str, Any]]] = []
    for entry in value:
        if isinstance(entry, str):
            out.append((entry, {}))
        elif isinstance(entry, dict) and len(entry) == 1:
            (name, kwargs), = entry.items()
            if kwargs is not None and not isinstance(kwargs, dict):
                raise ConfigError(f"{where}: arguments of '{name}' in '{what}' must be a mapping")
            out.append((str(name), dict(kwargs or {})))
        else:
            raise ConfigError(f"{where}: entry {entry!r} in '{what}' must be a name or a one-key mapping")
    return out


def _models(value: Any, where: str) -> list[ModelSpec]:
    if not value:
        return []
    entries: list[tuple[str, dict[str, Any]]] = []
    if isinstance(value, dict):
        entries = [(str(name), dict(cfg or {})) for name, cfg in value.items()]
    elif isinstance(value, list):
        for entry in value:
            if isinstance(entry, str):
                entries.append((entry, {}))
            elif isinstance(entry, dict) and "name" in entry:
                extra = set(entry) - {"name", "config"}
                if extra:
                    key = sorted(extra)[0]
                    raise ConfigError(
                        f"{where}: unknown key '{key}' in model entry '{entry['name']}'"
                        f"{did_you_mean(key, ('name', 'config'))}; a model entry has 'name' and 'config'"
                    )
                entries.append((str(entry["name"]), dict(entry.get("config") or {})))
            elif isinstance(entry, dict) and len(entry) == 1:
                (name, cfg), = entry.items()
                entries.append((str(name), dict(cfg or {})))
            else:
                raise ConfigError(f"{where}: model entry {entry!r} must be a name or have a 'name' key")
    else:
        raise ConfigError(f"{where}: 'model.models' must be a list or a mapping")

    specs = []
    for name, cfg in entries:
        fit = cfg.get("fit") or {}
        if not isinstance(fit, dict):
            raise ConfigError(f"{where}: 'fit' of model '{name}' must be a mapping")
        _check_keys(fit, FIT_KEYS, where, f"key in 'fit' of model '{name}'")
        kwargs = {k: v for k, v in cfg.items() if k not in MODEL_CONFIG_RESERVED}
        kwargs.update(cfg.get("extra_kwargs") or {})
        specs.append(
            ModelSpec(
                name=name,
                tag=str(cfg.get("tag") or ""),
                kwargs=kwargs,
                fit=FitConfig(**{**fit, **fit_override()}),
                main_effect_params=tuple(cfg.get("main_effect_params") or ()),
                link_function=str(cfg.get("link_function") or "identity"),
            )
        )
    names = [spec.model_name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{where}: model name '{duplicates[0]}' appears twice; give each a different 'tag'")
    return specs


def fit_override() -> dict[str, Any]:
    """Sampler settings that replace every model's own, from `HIBAYES_FIT_OVERRIDE`
    (e.g. `samples=200,warmup=200`): for smoke tests of configs that must stay unchanged. The
    override is part of each model's digest, so its fits are never mistaken for full ones."""
    text = os.environ.get("HIBAYES_FIT_OVERRIDE", "").strip()
    if not text:
        return {}
    override: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in FIT_KEYS:
            raise ConfigError(
                f"HIBAYES_FIT_OVERRIDE: '{part.strip()}' is not key=value with a key from {', '.join(FIT_KEYS)}"
                f"{did_you_mean(key, FIT_KEYS)}"
            )
        override[key] = yaml.safe_load(value)
    return override


def list_analyses(analyses_dir: Path) -> list[Path]:
    if not analyses_dir.is_dir():
        return []
    return sorted(p for p in analyses_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
