"""Partitions: one per log file, one per analysis YAML, one per analysis x model fit."""

import dagster as dg

log_partitions = dg.DynamicPartitionsDefinition(name="inspect_logs")
analysis_partitions = dg.DynamicPartitionsDefinition(name="analyses")
model_partitions = dg.DynamicPartitionsDefinition(name="models")
fit_partitions = dg.MultiPartitionsDefinition({"analysis": analysis_partitions, "model": model_partitions})


def fit_key(analysis: str, model: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"analysis": analysis, "model": model})
