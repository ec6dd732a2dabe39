"""Resources, all in one place: the warehouse (the storage seam) and the project's folders."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from hibayes.artifacts import ArtifactStore, as_location
from hibayes.load.log_locations import LogDir, as_log_dir
from hibayes.settings import Settings, load_settings
from hibayes.warehouse import Warehouse, open_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse: a DuckDB file's path or a PostgreSQL URL (HIBAYES_WAREHOUSE)."""

    database: str

    def get(self) -> Warehouse:
        return open_warehouse(self.database)


def warehouse_pool(settings: Settings | None = None) -> str | None:
    """The pool of the steps that write the warehouse in bulk: `duckdb` (one slot, dagster.yaml)
    when it is a DuckDB file, whose one writer at a time they take turns to be; none when its
    backend takes concurrent writers (PostgreSQL), so that nothing waits for a slot it does not need.
    Read when the code location loads, as the resources are."""
    settings = settings or load_settings()
    return "duckdb" if open_warehouse(settings.warehouse).single_writer else None


# `pool=` of the assets that write the warehouse in bulk (ingest, analysis inputs and results,
# HAL run metrics, the IRT response matrix).
WAREHOUSE_POOL = warehouse_pool()


# A run the daemon starts with this tag (HAL and IRT, which no report waits for) runs its process at
# a lower CPU priority: on a small machine the fits and reports on the way from a new log to the
# analysis reports go first, and the background run uses what they leave.
BACKGROUND_TAG = "hibayes/background"
BACKGROUND_NICENESS = 10


class ProjectPaths(dg.ConfigurableResource):
    """Where logs, analyses and artifacts live (see hibayes.settings for the variables)."""

    log_dir: str  # a folder, or an fsspec URL (s3://bucket/prefix)
    analyses_dir: str
    home: str
    artifacts: str = ""  # HIBAYES_ARTIFACTS: a folder or an fsspec URL (s3://bucket/prefix); empty: `home`
    prices: str = "prices.yaml"
    hal_csv: str = ""  # HAL's published metrics CSV; when set, the HAL assets read it instead of the logs
    irt_config: str = "irt.yaml"  # the IRT settings (an `irt:` section); IRTConfig defaults when the file is missing
    irt_routerdc: str = ""  # comma-separated RouterDC-style JSON files; when set, the IRT assets read them instead of the logs

    log_relist_seconds: float = 60.0  # a remote log dir: how often the sensor lists it in full (see log_locations)
    fit_workers: int = 1  # fits at once: the due fits are split into this many runs, and the `mcmc` pool has as many slots

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.dagster_run
        if run is not None and run.tags.get(BACKGROUND_TAG) == "true":
            lower_priority()

    @property
    def log_path(self) -> LogDir:
        return as_log_dir(self.log_dir)

    @property
    def analyses_path(self) -> Path:
        return Path(self.analyses_dir)

    @property
    def store(self) -> ArtifactStore:
        """Where features, fits and report files live: `artifacts` (a folder or an fsspec URL), else `home`."""
        return ArtifactStore(as_location(self.artifacts) if self.artifacts else Path(self.home))

    @property
    def irt_routerdc_paths(self) -> list[Path]:
        return [Path(part.strip()) for part in self.irt_routerdc.split(",") if part.strip()]

    @property
    def jax_cache_path(self) -> Path:
        return Path(self.home) / "cache" / "jax"


def lower_priority() -> None:
    """This process at BACKGROUND_NICENESS (once: `os.nice` adds to what it has)."""
    if os.getpriority(os.PRIO_PROCESS, 0) < BACKGROUND_NICENESS:
        os.nice(BACKGROUND_NICENESS - os.getpriority(os.PRIO_PROCESS, 0))


def build_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    settings = settings or load_settings()
    return {
        "warehouse": WarehouseResource(database=settings.warehouse),
        "project": ProjectPaths(
            log_dir=str(settings.log_dir),
            log_relist_seconds=settings.log_relist_seconds,
            fit_workers=settings.fit_workers,
            analyses_dir=str(settings.analyses_dir),
            home=str(settings.home),
            artifacts=str(settings.artifacts or ""),
            prices=str(settings.prices_path or "prices.yaml"),
            hal_csv=str(settings.hal_csv or ""),
            irt_config=str(settings.irt_config or "irt.yaml"),
            irt_routerdc=",".join(str(path) for path in settings.irt_routerdc),
        ),
    }
