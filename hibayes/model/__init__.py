"""Models: the @model registry, the built-in NumPyro models, fitting and the features check."""

from hibayes.config import FitConfig, ModelSpec as ModelConfig
from hibayes.model.fit import FitResult, fit, fit_spec
from hibayes.model.models import MODELS, MissingFeatureError, Model, check_features, model, required_features
from hibayes.model.requirements import missing_features

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
