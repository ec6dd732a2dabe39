"""The nightly refit: every fit of every analysis, forced, so that new library versions and
anything else that changed is picked up; the reports follow by automation."""


import dagster as dg

from hibayes.config import ConfigError, list_analyses, load_analysis
from hibayes.settings import load_settings
from hibayes_assets.partitions import analysis_partitions, fit_key, fit_partitions, model_partitions
from hibayes_assets.resources import ProjectPaths

refit_job = dg.define_asset_job(
    "refit_job",
    selection=dg.AssetSelection.assets("model_fit"),
    partitions_def=fit_partitions,
    description="Refit one analysis x model partition (run config `force: true` skips the reuse of an unchanged fit).",
)


def refit_requests(context: dg.ScheduleEvaluationContext, project: ProjectPaths) -> list[dg.RunRequest]:
    """One forced refit per model of each registered analysis (the analysis_configs sensor registers them)."""
    tick = context.scheduled_execution_time.isoformat()
    registered = set(context.instance.get_dynamic_partitions(analysis_partitions.name))
    registered_models = set(context.instance.get_dynamic_partitions(model_partitions.name))
    requests = []
    for path in list_analyses(project.analyses_path):
        if path.stem not in registered:
            continue
        try:
            config = load_analysis(path)
        except ConfigError as err:
            context.log.error(f"skipping {path}: {err}")
            continue
        for model_name in (m for m in config.model_names if m in registered_models):
            requests.append(
                dg.RunRequest(
                    run_key=f"{config.name}|{model_name}@{tick}",
                    partition_key=fit_key(config.name, model_name),
                    run_config={"ops": {"model_fit": {"config": {"force": True}}}},
                    tags={"hibayes/trigger": "nightly_refit"},
                )
            )
    return requests


@dg.schedule(
    name="nightly_refit",
    cron_schedule=load_settings().refit_cron,
    job=refit_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refits every analysis x model partition (cron from HIBAYES_REFIT_CRON, default 02:00).",
)
def nightly_refit(context: dg.ScheduleEvaluationContext, project: ProjectPaths):
    return refit_requests(context, project) or dg.SkipReason("no analyses to refit")
