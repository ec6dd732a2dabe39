"""The demo summary's ingest line says what the `ingest_errors` rows are: errored samples in
readable logs are not logs that could not be read."""

from hibayes_assets.demo import describe_ingest_errors


def test_ingest_errors_are_described_by_kind():
    assert describe_ingest_errors(["sample.error"] * 3) == "3 samples errored (in readable logs)"
    assert describe_ingest_errors(["sample.error", "file", "file", "status", "score.match"]) == (
        "2 logs could not be read, 1 sample errored (in a readable log), 1 log is incomplete (status not 'success'), "
        "1 score is not numeric"
    )
    assert describe_ingest_errors(["duplicate", "surprise"]) == "1 log is a copy of another, 1 other ingest error (surprise)"
    assert describe_ingest_errors([]) == "no ingest errors"


def test_the_demo_fails_when_no_sample_was_ingested(isolated_env, monkeypatch, capsys):
    """A log folder whose only log is unreadable: 0 samples, the check names the file, exit non-zero
    (it exited 0 while anything at all was reported)."""
    from hibayes_assets.demo import main
    from tests.conftest import example_log_files
    from tests.logfactory import write_truncated_copy

    monkeypatch.setenv("HIBAYES_PRICES", str(isolated_env / "prices.yaml"))
    monkeypatch.setenv("HIBAYES_IRT_CONFIG", str(isolated_env / "irt.yaml"))
    (isolated_env / "logs").mkdir()
    write_truncated_copy(example_log_files()[0], isolated_env / "logs" / "cut.eval")
    assert main([]) == 1
    out = capsys.readouterr().out
    assert "samples:  0 rows" in out
    assert "CHECK:    cut.eval: check_log_readable" in out
    assert "FAILED:   no samples ingested from the 1 log file in" in out
