"""Models: the @model registry, the built-in NumPyro models, fitting and the features check."""

import importlib
from typing import Any

# Imported on first use (PEP 562), so that `hibayes.model.platform`, which every process imports
# before JAX, does not pull in NumPyro and ArviZ: a Dagster run or sensor that fits nothing starts
# seconds sooner. `from hibayes.model import model, MODELS` works as before.
_HOMES = {
    "FitConfig": ("hibayes.config", "FitConfig"),
    "ModelConfig": ("hibayes.config", "ModelSpec"),
    "FitResult": ("hibayes.model.sampling", "FitResult"),
    "fit": ("hibayes.model.sampling", "fit"),
    "fit_spec": ("hibayes.model.sampling", "fit_spec"),
    "MODELS": ("hibayes.model.models", "MODELS"),
    "MissingFeatureError": ("hibayes.model.models", "MissingFeatureError"),
    "Model": ("hibayes.model.models", "Model"),
    "check_features": ("hibayes.model.models", "check_features"),
    "model": ("hibayes.model.models", "model"),
    "required_features": ("hibayes.model.models", "required_features"),
    "missing_features": ("hibayes.model.requirements", "missing_features"),
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'hibayes.model' has no attribute '{name}'")
    module, attribute = _HOMES[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


__all__ = [
    "MODELS",
    "FitConfig",
    "FitResult",
    "MissingFeatureError",
    "Model",
    "ModelConfig",
    "check_features",
    "fit",
    "fit_spec",
    "missing_features",
    "model",
    "required_features",
]
