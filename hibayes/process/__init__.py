"""Processors: dataframe -> features, coords and dims for the models."""

from hibayes.analysis_state import Coords, Dims, Features
from hibayes.process.config import ProcessConfig
from hibayes.process.encoding import ProcessingError
from hibayes.process.processors import (
    PROCESSORS,
    DataProcessor,
    feature_hint,
    process,
    produced_features,
    run_processors,
)

__all__ = [
    "PROCESSORS",
    "Coords",
    "DataProcessor",
    "Dims",
    "Features",
    "ProcessConfig",
    "ProcessingError",
    "feature_hint",
    "process",
    "produced_features",
    "run_processors",
]
