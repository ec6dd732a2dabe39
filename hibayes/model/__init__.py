"""Models: the @model registry, the built-in NumPyro models and fitting."""

from hibayes.config import FitConfig, ModelSpec as ModelConfig
from hibayes.model.fit import FitResult, fit, fit_spec
from hibayes.model.models import MODELS, Model, check_features, model

__all__ = ["MODELS", "FitConfig", "FitResult", "Model", "ModelConfig", "check_features", "fit", "fit_spec", "model"]
