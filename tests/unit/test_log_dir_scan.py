"""Files in the log dir that are not read (`.txt`, `.EVAL`) are named once, not skipped without a word."""

import dagster as dg

from hibayes.load.inspect_reader import scan_logs, skipped_files
from hibayes_assets.resources import ProjectPaths
from hibayes_assets.sensors import new_inspect_logs, skipped_files_note


def _log_dir(tmp_path):
    logs = tmp_path / "logs"
    (logs / "sub").mkdir(parents=True)
    (logs / ".cache").mkdir()
    for name in ("notes.txt", "RUN.EVAL", "sub/other.Json", ".DS_Store", ".cache/x.txt"):
        (logs / name).write_text("not a log")
    return logs


def test_files_that_are_not_read_are_listed(tmp_path):
    logs = _log_dir(tmp_path)
    assert scan_logs(logs) == {}
    assert skipped_files(logs) == ["RUN.EVAL", "notes.txt", "sub/other.Json"]  # hidden ones are not mentioned
    note = skipped_files_note(logs, skipped_files(logs))
    assert note.startswith(f"3 files in {logs} not read: only .eval and .json files are Inspect logs")
    assert "RUN.EVAL, notes.txt, sub/other.Json" in note and "rename RUN.EVAL, sub/other.Json with a lower-case suffix" in note
    assert skipped_files(tmp_path / "missing") == []


def test_the_sensor_says_so_once_per_set_of_names(tmp_path, capfd):
    logs = _log_dir(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    project = ProjectPaths(log_dir=str(logs), analyses_dir=str(tmp_path / "analyses"), home=str(tmp_path / "home"))

    def tick(cursor):
        context = dg.build_sensor_context(instance=instance, resources={"project": project}, cursor=cursor)
        result = new_inspect_logs(context)
        return result, capfd.readouterr().err

    first, said = tick(None)
    assert "3 files in" in said and "notes.txt" in said
    again, said_again = tick(first.cursor)
    assert again.cursor == first.cursor and "notes.txt" not in said_again
    (logs / "more.txt").write_text("")
    changed, said_changed = tick(again.cursor)
    assert changed.cursor != first.cursor and "4 files in" in said_changed


def test_a_linked_log_is_a_file_of_the_folder_under_its_own_path(tmp_path):
    """A link keeps its own path as its partition key, wherever it points: a link in a subfolder to a
    file outside the folder is read through the link, and a link to a log already there is a file of
    its own (the copy rule then counts the run once). A link that points nowhere is no log."""
    logs, elsewhere = tmp_path / "logs", tmp_path / "elsewhere"
    (logs / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "far.eval").write_text("a log kept elsewhere")
    (logs / "a.eval").write_text("a log")
    (logs / "sub" / "far.eval").symlink_to(elsewhere / "far.eval")
    (logs / "sub" / "a_again.eval").symlink_to("../a.eval")
    (logs / "dangling.eval").symlink_to(elsewhere / "missing.eval")

    found = scan_logs(logs)
    assert sorted(found) == ["a.eval", "sub/a_again.eval", "sub/far.eval"]
    assert all((logs / key).is_file() for key in found)  # where the ingest looks for each partition
