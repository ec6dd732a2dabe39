"""The nightly refit: every fit of every analysis, forced, so that new library versions and
anything else that changed is picked up, and each analysis's checks and report after its fits."""


from pathlib import Path

import dagster as dg

from hibayes.settings import load_settings
from hibayes_assets.partitions import analysis_partitions, contiguous_ranges, range_tags
from hibayes_assets.planner import RESULT_ASSETS, read_analyses
from hibayes_assets.resources import ProjectPaths

refit_job = dg.define_asset_job(
    "refit_job",
    selection=dg.AssetSelection.assets(*RESULT_ASSETS),
    partitions_def=analysis_partitions,
    description="Refit the analyses of a partition range, then render their checks, comparisons and reports; run "
    "config `force: true` skips the reuse of unchanged fits.",
)
FORCE = {"ops": {"analysis": {"config": {"force": True}}}}


def refit_ranges(instance: dg.DagsterInstance, analyses_dir: Path) -> list[tuple[str, str]]:
    """The stretches of registered analyses whose files still validate (usually one): a forced
    refit's runs, the schedule's and `make demo --force-refit`'s alike."""
    configs, _ = read_analyses(analyses_dir)
    return contiguous_ranges(list(instance.get_dynamic_partitions(analysis_partitions.name)), set(configs))


def refit_requests(context: dg.ScheduleEvaluationContext, project: ProjectPaths) -> list[dg.RunRequest]:
    """One forced run per stretch of `refit_ranges`."""
    tick = context.scheduled_execution_time.isoformat()
    return [
        dg.RunRequest(
            run_key=f"{start}..{end}@{tick}",
            partition_key=start if start == end else None,
            run_config=FORCE,
            tags={"hibayes/trigger": "nightly_refit", **({} if start == end else range_tags(start, end))},
        )
        for start, end in refit_ranges(context.instance, project.analyses_path)
    ]


@dg.schedule(
    name="nightly_refit",
    cron_schedule=load_settings().refit_cron,
    job=refit_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refits every analysis's models, then its report (cron from HIBAYES_REFIT_CRON, default 02:00).",
)
def nightly_refit(context: dg.ScheduleEvaluationContext, project: ProjectPaths):
    return refit_requests(context, project) or dg.SkipReason("no analyses to refit")
