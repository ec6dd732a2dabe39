"""The HAL assets with a real instance: on the example logs (token usage x prices), and on HAL's
own published metrics CSV from ../shared."""

import pandas as pd

from hibayes.warehouse import Warehouse
from hibayes_assets.resources import ProjectPaths
from tests.conftest import PROJECT_ROOT

HAL_ASSETS = ["run_metrics", "cost_frontier", "win_rates", "hal_report"]


def test_hal_assets_on_the_example_logs(project):
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())
    project.add_logs(keys)
    for key in keys:
        assert project.ingest(key).success
    project.resources["project"] = ProjectPaths(**{**project.resources["project"].__dict__, "prices": str(PROJECT_ROOT / "examples" / "prices.yaml")})
    result = project.materialize(HAL_ASSETS, None)
    assert result.success
    warehouse = Warehouse(project.settings.warehouse_path)
    runs = warehouse.table("hal_run_metrics")
    assert len(runs) == len(keys)  # each example log is one model x task x scaffold run
    assert runs["total_cost"].gt(0).all() and runs["accuracy"].between(0, 1).all()
    frontier = warehouse.table("hal_cost_frontier")
    assert frontier["on_convex_frontier"].le(frontier["on_pareto_set"]).all()  # hull vertices are Pareto
    files = result.asset_materializations_for_node("hal_report")[0].metadata["files"].value
    assert any("frontier_cost_accuracy" in f for f in files) and len(files) >= 10


def test_missing_prices_are_reported_never_zero(project, tmp_path):
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())[:2]
    project.add_logs(keys)
    for key in keys:
        assert project.ingest(key).success
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  mockllm/nobody: {input: 1.0, output: 1.0}\n")
    project.resources["project"] = ProjectPaths(**{**project.resources["project"].__dict__, "prices": str(prices)})
    assert project.materialize(["run_metrics"], None).success
    warehouse = Warehouse(project.settings.warehouse_path)
    assert warehouse.table("hal_run_metrics")["total_cost"].isna().all()
    errors = warehouse.query("SELECT * FROM hal_errors WHERE stage = 'run_metrics' AND severity = 'error'")
    assert errors["field"].eq("prices").any() and errors["message"].str.contains("mockllm/").any()


def test_hal_assets_on_the_published_hal_csv(project, shared_fixtures):
    csv = shared_fixtures / "hal" / "cleaned_all_metrics.csv"
    project.resources["project"] = ProjectPaths(**{**project.resources["project"].__dict__, "hal_csv": str(csv)})
    result = project.materialize(HAL_ASSETS, None)
    assert result.success
    warehouse = Warehouse(project.settings.warehouse_path)

    published = pd.read_csv(shared_fixtures / "hal" / "model_win_rates_max.csv")
    ours = warehouse.query("SELECT model, win_rate_mean FROM hal_win_rates WHERE summary = 'max_accuracy'")
    merged = published.merge(ours, left_on="model_name_short", right_on="model", suffixes=("_published", ""))
    assert len(merged) == len(published)
    assert (merged["win_rate_mean_published"] - merged["win_rate_mean"]).abs().max() < 1e-9
