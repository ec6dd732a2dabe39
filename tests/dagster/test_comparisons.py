"""One question, one answer: the `comparisons` asset, `hibayes compare` and the notebook's
`compare` give the same table for the same config and logs; the report shows it, the warehouse
holds one set of rows per analysis, and the demo's summary prints the headline."""

import numpy as np
import pandas as pd
import yaml

from hibayes.comparisons import COMPARISON_COLUMNS
from hibayes.warehouse import Warehouse
from hibayes_assets.demo import comparison_lines
from tests.dagster.conftest import materializations

MODEL = "simplified_group_binomial_exponential"
SMALL_FIT = {"samples": 300, "warmup": 300, "chains": 2}


def _config(project) -> dict:
    """The test analysis with one model, small fits, and a compare section with a contrast."""
    path = project.settings.analyses_dir / "model_comparison.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["model"]["models"] = [entry for entry in raw["model"]["models"] if entry["name"] == MODEL]
    raw["model"]["models"][0]["config"]["fit"] = SMALL_FIT
    raw["check"]["checkers"] = [{"r_hat": {"threshold": 1.05}}, "divergences"]
    raw["compare"] = {"contrasts": [["borealis", "aurora"], ["aurora", "cirrus"]]}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return raw


def test_the_asset_the_cli_and_the_notebook_give_the_same_comparisons(project, tmp_path, capsys):
    from hibayes.analysis import compare, load_data, model, process_data
    from hibayes.cli import main
    from hibayes.config import load_analysis

    raw = _config(project)
    keys = sorted(p.name for p in project.settings.log_dir.iterdir())
    project.add_logs(keys)
    for key in keys:
        assert project.ingest(key).success, key
    project.register_analyses()
    assert project.materialize(["analysis_data", "analysis_features"], "model_comparison").success
    assert project.materialize(["model_fit"], "model_comparison").success
    run = project.materialize(["comparisons", "analysis_report"], "model_comparison")
    assert run.success
    (meta,) = materializations(run, "comparisons")
    artifacts = project.settings.home / "artifacts" / "model_comparison"
    from_asset = pd.read_csv(artifacts / "comparisons.csv")
    assert (artifacts / "comparisons.png").exists() and "data:image/png;base64," in meta["plot/comparisons"]
    assert [tuple(pair) for pair in from_asset[["model_a", "model_b"]].to_numpy()] == [("borealis", "aurora"), ("aurora", "cirrus")]
    assert meta["headline"].startswith("borealis vs aurora: ") and ", P(better) 0." in meta["headline"]
    assert meta["posterior"].startswith(f"the only fitted model; {MODEL}: each model's accuracy")
    warehouse = Warehouse(project.settings.warehouse_path)
    rows = warehouse.query("SELECT * FROM comparisons WHERE analysis = 'model_comparison'")
    assert len(rows) == 2 and set(COMPARISON_COLUMNS) <= set(rows.columns)
    (report,) = materializations(run, "analysis_report")
    assert report["comparisons/headline"] == meta["headline"] and report["table/comparisons"] == meta["table"]
    assert report["plot/comparisons"] == meta["plot/comparisons"]
    assert comparison_lines(project.instance) == [f"model_comparison: {meta['headline']}"]  # `make demo` prints it
    # Again: one set of rows per analysis.
    assert project.materialize(["comparisons"], "model_comparison").success
    assert len(warehouse.query("SELECT * FROM comparisons")) == 2

    # The notebook reads the same logs through HiBayES's loader and fits in-process; the CLI
    # compares from the state it saved (`--analysis-state`), as after `hibayes model`.
    outside = tmp_path / "outside"
    outside.mkdir()
    raw["data_loader"]["paths"] = {"files_to_process": [str(project.settings.log_dir)]}
    config_path = outside / "model_comparison.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_analysis(config_path)
    state = model(config, process_data(config, load_data(config)))
    from_notebook = compare(config, state)
    state.save(outside / "state")
    capsys.readouterr()
    arguments = ["compare", "--config", str(config_path), "--analysis-state", str(outside / "state"), "--out", str(outside / "out")]
    assert main(arguments, prog="hibayes") == 0
    assert capsys.readouterr().out.rstrip().endswith(meta["headline"])
    assert (outside / "out" / "comparisons.png").exists()
    from_cli = pd.read_csv(outside / "out" / "comparisons.csv")

    for table in (from_cli, from_notebook):
        pd.testing.assert_frame_equal(table.reset_index(drop=True), from_asset, check_dtype=False, rtol=1e-12)
    assert np.isfinite(from_asset["p_a_better"]).all()
