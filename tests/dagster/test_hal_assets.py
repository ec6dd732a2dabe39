"""The HAL assets with a real instance: on the example logs (token usage x prices), and on HAL's
own published metrics CSV from ../shared."""

import shutil

import pandas as pd

from hibayes.hal import RUN_COLUMNS
from hibayes.warehouse import Warehouse
from hibayes_assets.assets.hal import PREVIEW_COLUMNS
from hibayes_assets.resources import ProjectPaths
from tests.conftest import PROJECT_ROOT
from tests.dagster.conftest import materializations
from tests.logfactory import write_error_log

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
    # The preview shows the library's own columns, the accuracy interval among them.
    (metadata,) = materializations(result, "run_metrics")
    header = metadata["preview"].splitlines()[0]
    assert set(PREVIEW_COLUMNS) <= set(RUN_COLUMNS)
    assert all(f" {column} " in header for column in ("accuracy_lo", "accuracy_hi"))
    assert metadata["incomplete_logs"] == 0 and metadata["runs_with_unpriced_samples"] == 0


def test_logs_that_did_not_finish_are_left_out_unless_the_price_file_keeps_them(project, tmp_path):
    logs = project.settings.log_dir
    shutil.copy(write_error_log(tmp_path / "error_logs"), logs / "status_error.eval")
    keys = ["status_error.eval", sorted(p.name for p in logs.iterdir() if p.name != "status_error.eval")[0]]
    project.add_logs(keys)
    for key in keys:
        assert project.ingest(key).success
    prices = tmp_path / "prices.yaml"
    base = (PROJECT_ROOT / "examples" / "prices.yaml").read_text().replace("include_incomplete_logs: false\n", "")
    base += "  mockllm/odd: {input: 1.0, output: 2.0}\n"
    project.resources["project"] = ProjectPaths(**{**project.resources["project"].__dict__, "prices": str(prices)})
    warehouse = Warehouse(project.settings.warehouse_path)

    prices.write_text(base)
    (left_out,) = materializations(project.materialize(["run_metrics"], None), "run_metrics")
    assert "explodes" not in set(warehouse.table("hal_run_metrics")["benchmark"])
    assert left_out["incomplete_logs"] == 1 and left_out["incomplete_logs_policy"].startswith("left out")

    prices.write_text("include_incomplete_logs: true\n" + base)
    (kept,) = materializations(project.materialize(["run_metrics"], None), "run_metrics")
    runs = warehouse.table("hal_run_metrics").set_index("benchmark")
    assert runs.loc["explodes", "n_incomplete_log_rows"] == runs.loc["explodes", "n_sample_epochs"] > 0
    assert kept["incomplete_logs"] == 1 and kept["incomplete_logs_policy"].startswith("kept")


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
