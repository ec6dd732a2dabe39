"""The Dagster code location (workspace.yaml points here)."""

from hibayes.model.platform import configure_host_devices, pin_hash_seed_for_workers

# Every Dagster process (code server, run worker, step) imports this module before any asset code,
# so this is the one place to ask XLA for host devices before JAX is imported, and to fix the hash
# seed of the run workers the code server starts.
configure_host_devices()
pin_hash_seed_for_workers()

import os  # noqa: E402

import dagster as dg  # noqa: E402

from hibayes.settings import executor_name  # noqa: E402
from hibayes_assets.assets import analysis, hal, ingest, irt  # noqa: E402
from hibayes_assets.resources import build_resources  # noqa: E402
from hibayes_assets.schedules import nightly_refit, refit_job  # noqa: E402
from hibayes_assets.sensors import analysis_configs, new_inspect_logs, record_run_failures, refresh_results  # noqa: E402


def executor(name: str) -> dg.ExecutorDefinition:
    """The executor HIBAYES_EXECUTOR names. In one process is the default: one JAX import per run,
    and a fit run's one step fits a whole range of partitions, so steps in pods of their own gain
    little; runs on machines of their own come from the run launcher (deploy/helm/values.yaml)."""
    if name == "k8s_job":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as err:
            raise ImportError("HIBAYES_EXECUTOR=k8s_job needs dagster-k8s in the image (deploy/Dockerfile installs it)") from err
        return k8s_job_executor
    return dg.multiprocess_executor if name == "multiprocess" else dg.in_process_executor


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest, analysis, hal, irt]),
    asset_checks=dg.load_asset_checks_from_modules([ingest, analysis]),
    jobs=[refit_job],
    schedules=[nightly_refit],
    sensors=[new_inspect_logs, analysis_configs, refresh_results, record_run_failures],
    resources=build_resources(),
    executor=executor(executor_name(os.environ.get("HIBAYES_EXECUTOR", ""))),
)
