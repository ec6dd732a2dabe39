"""HiBayES's loading stage: extractors, the `data_loader:` config and `load_data`.

Users' custom extractor files import from here: `from hibayes.load import Extractor, extractor,
DataLoaderConfig`. Importing this package loads pandas but neither inspect_ai nor JAX.
"""

from hibayes.load.extractors import EXTRACTORS, Extractor, ExtractorWarning, extractor
from hibayes.load.loader import (
    DataLoaderConfig,
    LoadReport,
    MixedTypesError,
    load_data,
    load_data_with_report,
)

__all__ = [
    "EXTRACTORS",
    "DataLoaderConfig",
    "Extractor",
    "ExtractorWarning",
    "LoadReport",
    "MixedTypesError",
    "extractor",
    "load_data",
    "load_data_with_report",
]
