"""What the Dagster instance remembers: the latest materialization of an asset partition, read by
the assets (to tell whether their output changed) and by the planner (to tell what is due)."""

from __future__ import annotations

from typing import Any

import dagster as dg


def latest_materialization(
    instance: dg.DagsterInstance, asset: str, partition: str | None = None
) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0] if records else None


def latest_metadata(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> dict[str, Any]:
    """The plain values of the latest materialization's metadata ({} when never materialized)."""
    record = latest_materialization(instance, asset, partition)
    if record is None or record.asset_materialization is None:
        return {}
    return {key: value.value for key, value in record.asset_materialization.metadata.items()}


def latest_storage_ids(instance: dg.DagsterInstance, asset: str) -> dict[str, int]:
    """Each partition's latest materialization (its event's storage id), in one query."""
    return dict(
        instance.get_latest_storage_id_by_partition(dg.AssetKey(asset), dg.DagsterEventType.ASSET_MATERIALIZATION)
    )
