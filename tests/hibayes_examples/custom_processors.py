"""Test version of the llm-as-a-judge examples' custom processor, written against HiBayES's
import surface as a HiBayES user writes one."""

import re

from hibayes.analysis_state import AnalysisState
from hibayes.process import DataProcessor, process


@process
def add_categorical_column(
    new_column: str,
    source_column: str,
    mapping_rules: dict[str, str],
    default_value: str = "unknown",
    case_sensitive: bool = False,
) -> DataProcessor:
    """A new categorical column: the category of the first pattern found in `source_column`,
    else `default_value`."""
    flags = 0 if case_sensitive else re.IGNORECASE
    rules = [(re.compile(pattern, flags), category) for pattern, category in mapping_rules.items()]

    def categorise(value: object) -> str:
        for pattern, category in rules:
            if pattern.search(str(value)):
                return category
        return default_value

    def inner(state: AnalysisState, display=None) -> AnalysisState:
        data = state.processed_data
        if source_column not in data.columns:
            raise ValueError(f"add_categorical_column: no column '{source_column}' in {list(data.columns)}")
        data = data.copy()
        data[new_column] = data[source_column].map(categorise)
        state.processed_data = data
        if display is not None:
            display.logger.info(f"added {new_column}: {data[new_column].value_counts().to_dict()}")
        return state

    return inner
