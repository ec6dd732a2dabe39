"""The nightly refit: every fit of every analysis, forced, so that new library versions and
anything else that changed is picked up; the planner re-renders the reports after them."""


import dagster as dg

from hibayes.settings import load_settings
from hibayes_assets.partitions import fit_partitions, split_fit_key
from hibayes_assets.planner import read_analyses
from hibayes_assets.resources import ProjectPaths

refit_job = dg.define_asset_job(
    "refit_job",
    selection=dg.AssetSelection.assets("model_fit"),
    partitions_def=fit_partitions,
    description="Refit one fit partition (`<analysis>/<model>`); run config `force: true` skips the reuse of an unchanged fit.",
)


def refit_requests(context: dg.ScheduleEvaluationContext, project: ProjectPaths) -> list[dg.RunRequest]:
    """One forced refit per registered fit partition (the analysis_configs sensor registers them)
    whose analysis file still validates; the planner re-renders the reports afterwards."""
    tick = context.scheduled_execution_time.isoformat()
    configs, _ = read_analyses(project.analyses_path)
    return [
        dg.RunRequest(
            run_key=f"{key}@{tick}",
            partition_key=key,
            run_config={"ops": {"model_fit": {"config": {"force": True}}}},
            tags={"hibayes/trigger": "nightly_refit"},
        )
        for key in context.instance.get_dynamic_partitions(fit_partitions.name)
        if split_fit_key(key)[0] in configs
    ]


@dg.schedule(
    name="nightly_refit",
    cron_schedule=load_settings().refit_cron,
    job=refit_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refits every fit partition (cron from HIBAYES_REFIT_CRON, default 02:00).",
)
def nightly_refit(context: dg.ScheduleEvaluationContext, project: ProjectPaths):
    return refit_requests(context, project) or dg.SkipReason("no analyses to refit")
