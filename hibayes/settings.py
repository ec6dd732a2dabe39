"""Where things live, read from the environment (and a `.env` file in the working directory).

The variable names are a public contract: scripts and deployments set them.

- HIBAYES_LOG_DIR        the folder of Inspect logs that the sensor watches (default `logs/`), or an fsspec URL
                         such as `s3://bucket/prefix` (credentials and endpoint from the usual AWS_* variables)
- HIBAYES_LOG_RELIST_SECONDS  a remote log dir only: seconds between full listings (default 60); ticks between
                         them list only the keys after the last one seen (see hibayes.load.log_locations)
- HIBAYES_ANALYSES_DIR   the folder of analysis YAML files (default `analyses/`)
- HIBAYES_HOME           warehouse.duckdb, fits/, artifacts/, caches (default `.hibayes/`)
- HIBAYES_ARTIFACTS      where features, fits and report files live (hibayes.artifacts): unset for HIBAYES_HOME
                         (features/, fits/, artifacts/ there), another folder, or an fsspec URL such as
                         `s3://bucket/prefix` that workers share (credentials and endpoint from the AWS_* variables)
- HIBAYES_WAREHOUSE      where the warehouse is: unset for HIBAYES_HOME/warehouse.duckdb, `duckdb:///abs/path` for
                         another DuckDB file, `postgresql://user@host:port/database` for a shared PostgreSQL database
- DAGSTER_HOME           the Dagster instance (default `.dagster/`)
- HIBAYES_REFIT_CRON     the nightly refit schedule (default `0 2 * * *`)
- HIBAYES_FIT_WORKERS    how many fits run at once (default 1): the planner splits the due fits into that many
                         runs and the `mcmc` pool gets that many slots (see hibayes_assets.slots.size_pools)
- HIBAYES_PRICES         USD per million tokens per model, for the HAL cost analysis (default `prices.yaml`)
- HIBAYES_HAL_CSV        optional: HAL's published metrics CSV, used by the HAL assets instead of the logs
- HIBAYES_IRT_CONFIG     the IRT settings YAML (`irt:` section; default `irt.yaml`; IRTConfig defaults when missing)
- HIBAYES_IRT_ROUTERDC   optional: comma-separated RouterDC-style JSON files, read by the IRT assets instead of the logs
- XDG_CACHE_HOME         the user's cache folder (default `~/.cache`): the CLI keeps its JAX compilation cache in
                         `hibayes/jax` there, shared by every folder it runs in (the Dagster project keeps its own
                         under HIBAYES_HOME)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from dotenv import load_dotenv

if TYPE_CHECKING:
    from hibayes.artifacts import ArtifactStore, Location
    from hibayes.load.log_locations import LogDir

DEFAULT_REFIT_CRON = "0 2 * * *"
DEFAULT_LOG_RELIST_SECONDS = 60.0
# One fit at a time: each fit's chains run in parallel on forced host devices (4 by default), which
# already fill a small machine's cores; a bigger one raises HIBAYES_FIT_WORKERS to cores / chains.
DEFAULT_FIT_WORKERS = 1
DUCKDB_SCHEME = "duckdb://"
POSTGRES_SCHEMES = ("postgresql", "postgres")


class SettingsError(ValueError):
    """A setting whose value cannot be used: the message names the variable and the forms it takes."""


@dataclass(frozen=True)
class Settings:
    log_dir: LogDir  # a folder, or an fsspec URL
    analyses_dir: Path
    home: Path
    dagster_home: Path
    refit_cron: str = DEFAULT_REFIT_CRON
    prices_path: Path | None = None
    hal_csv: Path | None = None
    irt_config: Path | None = None
    irt_routerdc: tuple[Path, ...] = ()
    log_relist_seconds: float = DEFAULT_LOG_RELIST_SECONDS
    warehouse_url: str = ""  # HIBAYES_WAREHOUSE as set (checked by `warehouse_location`); empty: the local file
    fit_workers: int = DEFAULT_FIT_WORKERS
    artifacts: Location | None = None  # HIBAYES_ARTIFACTS: a folder or an fsspec URL; None: HIBAYES_HOME

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file (the default warehouse, or the `duckdb:///` one HIBAYES_WAREHOUSE names)."""
        location = self.warehouse
        if is_postgres_url(location):
            raise SettingsError("HIBAYES_WAREHOUSE names a PostgreSQL database: there is no warehouse file")
        return Path(location)

    @property
    def warehouse(self) -> str:
        """Where the warehouse is, as `hibayes.warehouse.open_warehouse` takes it: a DuckDB file's
        path or a PostgreSQL URL."""
        return warehouse_location(self.warehouse_url, self.home)

    @property
    def artifact_store(self) -> ArtifactStore:
        """Where features, fits and report files live (HIBAYES_ARTIFACTS, else HIBAYES_HOME)."""
        from hibayes.artifacts import ArtifactStore

        return ArtifactStore(self.home if self.artifacts is None else self.artifacts)

    @property
    def run_failures_path(self) -> Path:
        return self.home / "run_failures.jsonl"


def is_postgres_url(location: str) -> bool:
    return urlsplit(location).scheme in POSTGRES_SCHEMES


def warehouse_location(setting: str, home: Path) -> str:
    """HIBAYES_WAREHOUSE as a DuckDB file's path or a PostgreSQL URL; unset: HOME/warehouse.duckdb."""
    if not setting:
        return str(home / "warehouse.duckdb")
    if setting.startswith(DUCKDB_SCHEME):
        path = setting[len(DUCKDB_SCHEME):]
        if path.startswith("/") and path.strip("/"):
            return path
    elif is_postgres_url(setting) and urlsplit(setting).path.strip("/"):
        return setting
    raise SettingsError(
        f"HIBAYES_WAREHOUSE={setting!r} is not a warehouse this project can open: leave it unset for "
        "HIBAYES_HOME/warehouse.duckdb, or set duckdb:///absolute/path/warehouse.duckdb (a DuckDB file) or "
        "postgresql://user@host:port/database (a PostgreSQL database that exists)"
    )


def fit_workers(setting: str) -> int:
    """HIBAYES_FIT_WORKERS as a number of fits at once; unset or empty: 1."""
    if not setting.strip():
        return DEFAULT_FIT_WORKERS
    try:
        workers = int(setting)
    except ValueError:
        workers = 0
    if workers < 1:
        raise SettingsError(
            f"HIBAYES_FIT_WORKERS={setting!r} is not a number of fits to run at once: set a whole number from 1 "
            "(the default; right for a machine whose cores one fit's chains fill), such as 4 on 16 cores with 4 chains per fit"
        )
    return workers


EXECUTORS = ("in_process", "multiprocess", "k8s_job")


def executor_name(setting: str) -> str:
    """HIBAYES_EXECUTOR: how a run's steps execute; unset: in one process (`in_process`)."""
    name = setting.strip() or EXECUTORS[0]
    if name not in EXECUTORS:
        raise SettingsError(
            f"HIBAYES_EXECUTOR={setting!r} is not an executor: set in_process (the default: every step of a run in "
            "its run's process), multiprocess (a process per step) or k8s_job (a Kubernetes pod per step; needs dagster-k8s)"
        )
    return name


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/hibayes`, or `~/.cache/hibayes`: the XDG rule, under which a relative
    XDG_CACHE_HOME is invalid and ignored."""
    configured = Path(os.environ.get("XDG_CACHE_HOME") or "").expanduser()
    return (configured if configured.is_absolute() else Path.home() / ".cache") / "hibayes"


def load_settings(base: Path | None = None) -> Settings:
    """Read the settings; relative paths are taken against `base` (default: the working directory)."""
    # here: `hibayes.load` brings pandas, the CLI's start needs none
    from hibayes.artifacts import as_location
    from hibayes.load.log_locations import as_log_dir

    load_dotenv(override=False)
    root = (base or Path.cwd()).resolve()

    def resolve(value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else root / path

    def path_of(var: str, default: str) -> Path:
        return resolve(os.environ.get(var) or default)

    home = path_of("HIBAYES_HOME", ".hibayes")
    warehouse_url = os.environ.get("HIBAYES_WAREHOUSE") or ""
    warehouse_location(warehouse_url, home)  # a bad value stops here, naming the variable
    return Settings(
        log_dir=as_log_dir(os.environ.get("HIBAYES_LOG_DIR") or "logs", root),
        analyses_dir=path_of("HIBAYES_ANALYSES_DIR", "analyses"),
        home=home,
        warehouse_url=warehouse_url,
        artifacts=as_location(os.environ["HIBAYES_ARTIFACTS"], root) if os.environ.get("HIBAYES_ARTIFACTS") else None,
        dagster_home=path_of("DAGSTER_HOME", ".dagster"),
        refit_cron=os.environ.get("HIBAYES_REFIT_CRON") or DEFAULT_REFIT_CRON,
        prices_path=path_of("HIBAYES_PRICES", "prices.yaml"),
        hal_csv=path_of("HIBAYES_HAL_CSV", "") if os.environ.get("HIBAYES_HAL_CSV") else None,
        irt_config=path_of("HIBAYES_IRT_CONFIG", "irt.yaml"),
        irt_routerdc=tuple(
            resolve(part.strip())
            for part in (os.environ.get("HIBAYES_IRT_ROUTERDC") or "").split(",")
            if part.strip()
        ),
        log_relist_seconds=float(os.environ.get("HIBAYES_LOG_RELIST_SECONDS") or DEFAULT_LOG_RELIST_SECONDS),
        fit_workers=fit_workers(os.environ.get("HIBAYES_FIT_WORKERS") or ""),
    )
