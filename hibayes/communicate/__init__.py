"""Communicators: forest, trace, pair and model-comparison plots and summary tables; and
`compare_models`, the comparison (and best-model rule) behind them."""

from hibayes.communicate.communicators import COMMUNICATORS, CommunicateResult, Communicator, communicate
from hibayes.communicate.comparison import compare_models, pick_best, plot_comparison, pointwise_table, write_pointwise_per_observation
from hibayes.communicate.naming import display_name

__all__ = [
    "COMMUNICATORS", "CommunicateResult", "Communicator", "communicate", "compare_models", "display_name", "pick_best",
    "plot_comparison", "pointwise_table", "write_pointwise_per_observation",
]
