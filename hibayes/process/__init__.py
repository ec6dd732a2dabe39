"""Processors: dataframe -> features, coords and dims for the models."""

from hibayes.analysis_state import Coords, Dims, Features
from hibayes.process.processors import PROCESSORS, DataProcessor, process, run_processors

__all__ = ["PROCESSORS", "Coords", "DataProcessor", "Dims", "Features", "process", "run_processors"]
