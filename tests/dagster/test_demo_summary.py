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
