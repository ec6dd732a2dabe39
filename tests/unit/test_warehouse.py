from hibayes.load.inspect_reader import read_log
from hibayes.warehouse import Warehouse
from tests.conftest import example_log_files


def test_replacing_a_partition_twice_never_duplicates_rows(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    first, second = example_log_files()[:2]
    for path in (first, second, first, first):
        rows = read_log(path, path.name)
        warehouse.replace_partition("log_key", path.name, rows.frames())
    counts = warehouse.count_rows()
    expected = len(read_log(first, first.name).samples) + len(read_log(second, second.name).samples)
    assert counts["samples"] == expected
    assert counts["evals"] == 2
    per_log = warehouse.query("SELECT log_key, count(*) AS n FROM samples GROUP BY 1 ORDER BY 1")
    assert list(per_log["log_key"]) == sorted([first.name, second.name])


def test_a_failed_write_leaves_the_partition_as_it_was(tmp_path):
    import pandas as pd
    import pytest

    warehouse = Warehouse(tmp_path / "w.duckdb")
    path = example_log_files()[0]
    rows = read_log(path, path.name)
    warehouse.replace_partition("log_key", path.name, rows.frames())
    before = warehouse.count_rows()
    broken = rows.frames() | {"scores": pd.DataFrame({"epoch": ["not an integer"]})}
    with pytest.raises(Exception):
        warehouse.replace_partition("log_key", path.name, broken)
    assert warehouse.count_rows() == before


def test_a_table_written_by_an_older_version_takes_the_new_columns(tmp_path):
    """A results table created before a column was added (the model comparison's `label`) is
    extended, not rejected: rows already there get NULL."""
    import pandas as pd

    store = Warehouse(tmp_path / "w.duckdb")
    store.replace_rows("model_comparison", "analysis", "old", pd.DataFrame({"model": ["a"], "rank": [0]}))
    store.replace_rows("model_comparison", "analysis", "new", pd.DataFrame({"model": ["b"], "rank": [0], "label": ["b (tag)"]}))
    table = store.table("model_comparison").set_index("analysis")
    assert table.loc["new", "label"] == "b (tag)" and pd.isna(table.loc["old", "label"])
