"""The analysis YAML: HiBayES's config format, validated, with did-you-mean errors.

Sections: data_loader, data_process, model, check, communicate, platform, and our optional
`compare` (the model-against-model comparisons: `CompareConfig`). Every component list may
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

SECTIONS = ("data_loader", "data_process", "model", "check", "communicate", "platform", "compare")
SECTION_KEYS = {
    "data_loader": ("paths", "extractors", "include_errored_samples", "include_incomplete_logs"),
    "data_process": ("path", "processors"),
    "model": ("path", "models"),
    "check": ("path", "checkers"),
    "communicate": ("path", "communicators"),
    "platform": ("device_type", "num_devices", "gpu_memory_fraction", "chain_method", "mem_on_demand"),
    "compare": ("score", "item", "cluster", "contrasts", "posterior"),
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
    "warm_start",
    "warm_start_warmup",
)
MODEL_CONFIG_RESERVED = ("tag", "main_effect_params", "link_function", "fit", "extra_kwargs", "path")

# Fit and platform values are checked here, when the config is parsed: NumPyro, JAX and XLA do not
# check them, and a bad one failed only at fit time, after the data was loaded, with their raw
# errors (`chains: 0` could not start the CPU backend, `chains: 2.5` aborted XLA, `samples: 1e11`
# raised OverflowError). The upper bounds are far above any real analysis and catch a typo (a few
# extra zeros) before it fills the memory or runs for days: NumPyro keeps every draw of every chain
# in memory (samples x chains x parameters), and a warmup step costs as much as a sampling one.
MAX_DRAWS = 1_000_000
# Each parallel chain is one XLA host device (hibayes.model.platform) or one copy of the model in a
# vectorized run; convergence diagnostics gain nothing from more than a few dozen chains.
MAX_CHAINS = 64
# NUTS takes up to 2**depth leapfrog steps per draw (Stan's default depth is 10): past 20, a
# single draw may take a million gradient evaluations, which no model here needs.
MAX_TREE_DEPTH = 20
# Seeds as NumPy takes them; JAX's PRNGKey raises OverflowError past 64 bits.
MAX_SEED = 2**32 - 1
FIT_METHODS = ("NUTS", "HMC")  # any case, as hibayes.model.sampling compares them upper-cased
INIT_STRATEGIES = ("median", "mean", "uniform")  # NumPyro init_to_<name>, as hibayes.model.sampling.fit builds them
CHAIN_METHODS = ("parallel", "sequential", "vectorized")  # NumPyro's MCMC chain_method values
# JAX platforms a fit may run on: whether this machine has the one asked for is known only once JAX
# is imported (hibayes.analysis.check_platform), never when a config is parsed.
DEVICE_TYPES = ("cpu", "gpu")

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
DEFAULT_CLUSTER = "task"


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
    # A refit on changed data starts where the previous fit's chains ended, with this many warmup
    # steps (step size only; see hibayes.model.warm_start); false: every fit is cold.
    warm_start: bool = True
    warm_start_warmup: int = 150


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
class CompareConfig:
    """The `compare:` section: which columns `hibayes.comparisons.compare_models` reads and which
    fit gives the posterior. Column names are the analysis data's (the extractors' columns, before
    any `map_columns` renames them)."""

    score: str = "score"
    # None: the sample id within its task (`task/sample_id`): Inspect's ids repeat across tasks.
    item: str | None = None
    # The default, `task`, is used when the data has that column; an explicit `cluster: null`
    # turns the clustered intervals off.
    cluster: str | None = DEFAULT_CLUSTER
    cluster_given: bool = False
    contrasts: tuple[tuple[str, str], ...] | None = None  # None: every pair of models
    # The fitted model (name with its tag) whose posterior gives P(A > B); None: the best by LOO.
    posterior: str | None = None


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
    compare: CompareConfig = field(default_factory=CompareConfig)
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

    extractors = _components(extractors_section.get("enabled"), where, EXTRACTORS_LIST)
    check_extractor_arguments(extractors, where)
    platform = sections["platform"]
    models = _models(sections["model"].get("models"), where) or [ModelSpec(DEFAULT_MODEL)]
    config = AnalysisConfig(
        name=name,
        source=source,
        files_to_process=tuple(str(f) for f in files),
        extractors=extractors or [("base_extractor", {})],
        processors=_components(sections["data_process"].get("processors"), where, "data_process.processors")
        or list(DEFAULT_PROCESSORS),
        models=models,
        checkers=_components(sections["check"].get("checkers"), where, "check.checkers") or list(DEFAULT_CHECKERS),
        communicators=_components(sections["communicate"].get("communicators"), where, "communicate.communicators")
        or list(DEFAULT_COMMUNICATORS),
        platform=_platform(platform, where),
        compare=_compare(sections["compare"], where, [spec.model_name for spec in models]),
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
    # With custom files, names may come from them, which are not imported here: see
    # check_component_names. Without, only the names written need checking (the defaults exist).
    if not any(config.custom_paths.values()):
        written = {"checker": sections["check"].get("checkers"), "communicator": sections["communicate"].get("communicators")}
        check_component_names(config, tuple(stage for stage, names in written.items() if names))
    return config


# Checkers and communicators named in the config must exist (an unknown name used to become an
# "error" outcome with no reason, replace the default checks, and let the CLI exit 0). The built-in
# names are known when the config is parsed; custom `path:` files register theirs only when they
# are imported, and importing them runs the user's code (and may import JAX, which must wait for
# the host-device set-up in hibayes.model.platform). Parsing never does that: the Dagster sensor
# parses every analysis file on each tick. Any custom file may register any kind of component (the
# decorators register wherever they run: a checker may sit in the custom model's file), so
# parse_analysis checks the names only when the config has no custom files at all, and
# whoever imports the custom files checks them right after (the CLI, after
# hibayes.analysis.import_custom_code, which imports every stage's files). A name that is neither
# built in nor in the custom files is thus a config error in the CLI before anything is read; in
# Dagster, whose steps import the custom files only when they run, such a name is reported by the
# step that runs it (a checker's "error" outcome).
COMPONENT_LISTS = {"checker": "check.checkers", "communicator": "communicate.communicators"}


def check_component_names(config: AnalysisConfig, stages: tuple[str, ...] = tuple(COMPONENT_LISTS)) -> None:
    """Raise a ConfigError for the first checker or communicator of `stages` that is not
    registered, with a did-you-mean. Call it after the config's custom files are imported."""
    for stage in stages:
        if stage == "checker":
            from hibayes.check import CHECKERS as registry
            components = config.checkers
        else:
            from hibayes.communicate import COMMUNICATORS as registry
            components = config.communicators
        for name, _ in components:
            if name not in registry:
                custom = [path for paths in config.custom_paths.values() for path in paths]
                raise ConfigError(
                    f"{config.where}: unknown {stage} '{name}' in '{COMPONENT_LISTS[stage]}'"
                    f"{did_you_mean(name, registry.names())}; "
                    + (f"it is neither built in nor registered by {', '.join(custom)}; " if custom else "")
                    + f"available: {', '.join(registry.names())}"
                )


def _platform(platform: dict[str, Any], where: str) -> PlatformConfig:
    num_devices = platform.get("num_devices")
    if num_devices is not None:
        num_devices = _whole(num_devices, f"{where}: 'platform.num_devices'", 1, MAX_CHAINS)
    return PlatformConfig(
        device_type=_choice(platform.get("device_type") or "cpu", f"{where}: 'platform.device_type'", DEVICE_TYPES),
        num_devices=num_devices,
        chain_method=_choice(platform.get("chain_method") or "parallel", f"{where}: 'platform.chain_method'", CHAIN_METHODS),
    )


def _compare(section: dict[str, Any], where: str, model_names: list[str]) -> CompareConfig:
    columns = {key: _optional_text(section.get(key), f"{where}: 'compare.{key}'") for key in ("score", "item", "cluster")}
    posterior = _optional_text(section.get("posterior"), f"{where}: 'compare.posterior'")
    if posterior is not None and posterior not in model_names:
        raise ConfigError(
            f"{where}: 'compare.posterior' names no model of the analysis: '{posterior}'"
            f"{did_you_mean(posterior, model_names)}; the models are: {', '.join(model_names)}"
        )
    return CompareConfig(
        score=columns["score"] or "score",
        item=columns["item"],
        cluster=columns["cluster"] if "cluster" in section else DEFAULT_CLUSTER,
        cluster_given="cluster" in section,
        contrasts=_contrasts(section.get("contrasts"), where),
        posterior=posterior,
    )


def _contrasts(value: Any, where: str) -> tuple[tuple[str, str], ...] | None:
    """`[[A, B], ...]`: each a pair of model names (as the data's model column has them)."""
    if value is None:
        return None
    what = f"{where}: 'compare.contrasts'"
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{what} must be a non-empty list of [A, B] pairs of model names, got {value!r}")
    pairs = []
    for pair in value:
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(name, str) and name for name in pair):
            raise ConfigError(f"{what}: each entry must be a pair of model names [A, B], got {pair!r}")
        if pair[0] == pair[1]:
            raise ConfigError(f"{what}: the pair {pair!r} compares a model with itself")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)


def _whole(value: Any, what: str, low: int, high: int) -> int:
    """An integer from `low` to `high`; a float with a whole value (YAML `1.0e+3`) counts as one."""
    number = int(value) if isinstance(value, float) and value.is_integer() else value
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
        raise ConfigError(f"{what} must be a whole number from {low} to {high:,}, got {value!r}")
    return number


def _probability(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"{what} must be a number between 0 and 1 (both excluded), got {value!r}")
    return value


def _flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{what} must be true or false, got {value!r}")
    return value


def _choice(value: Any, what: str, options: tuple[str, ...], any_case: bool = False) -> str:
    written = value.upper() if any_case and isinstance(value, str) else value
    if written not in options:
        raise ConfigError(
            f"{what} must be one of {', '.join(options)}, got {value!r}"
            f"{did_you_mean(written, options) if isinstance(written, str) else ''}"
        )
    return value


FIT_CHECKS = {
    "method": lambda value, what: _choice(value, what, FIT_METHODS, any_case=True),
    "samples": lambda value, what: _whole(value, what, 1, MAX_DRAWS),
    "warmup": lambda value, what: _whole(value, what, 0, MAX_DRAWS),
    "chains": lambda value, what: _whole(value, what, 1, MAX_CHAINS),
    "seed": lambda value, what: _whole(value, what, 0, MAX_SEED),
    "progress_bar": _flag,
    "target_accept": _probability,
    "max_tree_depth": lambda value, what: _whole(value, what, 1, MAX_TREE_DEPTH),
    "init_strategy": lambda value, what: _choice(value, what, INIT_STRATEGIES),
    "aggregate_rows": _flag,
    "warm_start": _flag,
    "warm_start_warmup": lambda value, what: _whole(value, what, 1, MAX_DRAWS),
}


def _fit_config(fit: dict[str, Any], override: dict[str, Any], where: str, model: str) -> FitConfig:
    checked = {}
    for key, value in {**fit, **override}.items():
        source = " (from HIBAYES_FIT_OVERRIDE)" if key in override else ""
        checked[key] = FIT_CHECKS[key](value, f"{where}: 'fit.{key}' of model '{model}'{source}")
    return FitConfig(**checked)


def _check_priors(kwargs: dict[str, Any], where: str, model: str) -> None:
    """Models take their priors' parameters as `prior_*` keyword arguments (hibayes.model.models):
    numbers, or lists of numbers for per-level priors. A scale or a rate is positive in every
    distribution that takes one (Normal, HalfNormal, LogNormal, Exponential), and NumPyro does not
    check its arguments: a zero or negative one makes NaN log densities."""
    for key, value in kwargs.items():
        if not key.startswith("prior_"):
            continue
        positive = key.endswith(("_scale", "_rate"))
        for number in _flatten(value):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number != number or abs(number) == float("inf"):
                raise ConfigError(
                    f"{where}: prior '{key}' of model '{model}' must be a number or a list of numbers, got {value!r}"
                )
            if positive and number <= 0:
                raise ConfigError(f"{where}: prior '{key}' of model '{model}' must be positive (a scale or rate), got {value!r}")


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [number for item in value for number in _flatten(item)] if value else [value]
    return [value]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{what} must be text, got {value!r}")
    return value


def _optional_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _optional_mapping(value: Any, what: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise ConfigError(f"{what} must be a mapping, got {value!r}")
    return value


# The arguments of the built-in extractors that read scores, checked when the config is parsed (by
# both the assets' and the loader's parsers): a wrong one used to surface only when the data was
# loaded, as a TypeError naming no file, and a YAML `key: 1` would have matched no dict key.
SCORE_EXTRACTOR_ARGUMENTS = {
    "base_extractor": {"scorer": _optional_text, "key": _optional_text},
    "score_normalizer": {
        "score_field": _text,
        "normalize_to_01": _flag,
        "custom_mapping": _optional_mapping,
        "scorer": _optional_text,
        "key": _optional_text,
    },
}
EXTRACTORS_LIST = "data_loader.extractors.enabled"


def check_extractor_arguments(extractors: list[tuple[str, dict[str, Any]]], where: str) -> None:
    """Raise a ConfigError for the first unknown or mistyped argument of a built-in score extractor."""
    for name, kwargs in extractors:
        checks = SCORE_EXTRACTOR_ARGUMENTS.get(name)
        if checks is None:
            continue
        for argument, value in kwargs.items():
            what = f"{where}: '{argument}' of extractor '{name}' in '{EXTRACTORS_LIST}'"
            if argument not in checks:
                raise ConfigError(
                    f"{where}: unknown argument '{argument}' of extractor '{name}' in '{EXTRACTORS_LIST}'"
                    f"{did_you_mean(argument, checks)}; it takes: {', '.join(checks)}"
                )
            checks[argument](value, what)


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
        _check_priors(kwargs, where, name)
        specs.append(
            ModelSpec(
                name=name,
                tag=str(cfg.get("tag") or ""),
                kwargs=kwargs,
                fit=_fit_config(fit, fit_override(), where, name),
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
