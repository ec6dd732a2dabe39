"""The state an analysis carries from stage to stage, with HiBayES's attribute names.

Custom processors, checkers and communicators read and assign these attributes, so the names and
shapes are part of the public surface: `state.processed_data`, `state.features`, `state.models`,
`state.add_plot(fig, name)`, `model_analysis.inference_data`, `.model_name`, `.is_fitted`, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

Features = dict[str, Any]
Coords = dict[str, list[Any]]
Dims = dict[str, list[str]]


@dataclass
class ModelAnalysisState:
    model_name: str
    model: Callable[..., Any]
    model_config: Any
    features: Features
    coords: Coords = field(default_factory=dict)
    dims: Dims = field(default_factory=dict)
    inference_data: Any = None
    is_fitted: bool = False
    diagnostics: dict[str, Any] = field(default_factory=dict)

    @property
    def prior_features(self) -> Features:
        """Every feature except the observations, with `obs` set to None for prior sampling."""
        return {**{k: v for k, v in self.features.items() if "obs" not in k}, "obs": None}

    def add_diagnostic(self, name: str, value: Any) -> None:
        self.diagnostics[name] = value


@dataclass
class AnalysisState:
    data: pd.DataFrame
    processed_data: pd.DataFrame | None = None
    features: Features = field(default_factory=dict)
    coords: Coords = field(default_factory=dict)
    dims: Dims = field(default_factory=dict)
    test_features: Features = field(default_factory=dict)
    models: list[ModelAnalysisState] = field(default_factory=list)
    plots: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    logs: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.processed_data is None:
            self.processed_data = self.data.copy()

    def get_model(self, name: str) -> ModelAnalysisState:
        for model in self.models:
            if model.model_name == name:
                return model
        raise KeyError(f"no model named '{name}'; the models are: {[m.model_name for m in self.models]}")

    def add_plot(self, fig: Any, name: str) -> None:
        self.plots[name] = fig

    def add_table(self, table: pd.DataFrame, name: str) -> None:
        self.tables[name] = table

    def add_log(self, entry: str, stage: str = "") -> None:
        self.logs.append((stage, entry))
