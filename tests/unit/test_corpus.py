"""The scale corpus generator (benchmarks/corpus.py) at a tiny size: its logs, read back with
inspect_ai, are the ones its truth describes, and their outcomes follow the truth's abilities."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from inspect_ai.log import read_eval_log

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import corpus  # noqa: E402

pytestmark = pytest.mark.skipif(corpus.TEMPLATE is None, reason="examples/logs has no arithmetic log to use as template")


@pytest.mark.parametrize("fmt", ["eval", "json"])
def test_logs_read_back_as_the_truth_says(tmp_path: Path, fmt: str) -> None:
    spec = corpus.CorpusSpec(logs=8, samples_per_log=6, seed=3, models=3, tasks=2, error_rate=0.2,
                             cancel_every=4, copy_every=5, format=fmt)
    corpus.generate(spec, tmp_path / "logs", workers=1)
    truth = json.loads((tmp_path / "logs_truth.json").read_text())
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    copies = [entry for entry in truth["logs"] if entry["copied"]]
    assert len(files) == spec.logs + len(copies)
    for entry in truth["logs"]:
        log = read_eval_log(str(tmp_path / "logs" / entry["file"]))
        assert log.eval.model == entry["model_name"]
        assert log.eval.task == f"task{entry['task']:03d}"
        assert log.eval.metadata == {"scaffold": truth["scaffolds"][entry["scaffold"]]}
        assert log.status == ("cancelled" if entry["cancelled"] else "success")
        assert len(log.samples) == (3 if entry["cancelled"] else 6)
        assert {s.epoch for s in log.samples} == {entry["epoch"]}
        for sample in log.samples:
            assert (sample.error is None) == bool(sample.scores), "an errored sample has no scores"
            if sample.scores:
                assert sample.scores["match"].value in ("C", "I")
                assert 0 <= sample.scores["judge"].value <= 10
    for entry in copies:
        original = tmp_path / "logs" / entry["file"]
        copy = original.with_name(original.name.replace("orig", "copy"))
        assert copy.read_bytes() == original.read_bytes()


def test_outcomes_follow_the_abilities(tmp_path: Path) -> None:
    """Per model, the share of C answers is within 4 binomial SE of the truth's mean probability."""
    spec = corpus.CorpusSpec(logs=24, samples_per_log=60, seed=5, models=3, tasks=4, scaffolds=2,
                             error_rate=0.0, cancel_every=0, copy_every=0)
    corpus.generate(spec, tmp_path / "logs", workers=1)
    truth = corpus.Truth.draw(spec)
    correct, expected, counts = np.zeros(spec.models), np.zeros(spec.models), np.zeros(spec.models)
    for plan in corpus.log_plans(spec):
        log = read_eval_log(str(tmp_path / "logs" / plan.file_name(spec)))
        correct[plan.model] += sum(s.scores["match"].value == "C" for s in log.samples)
        expected[plan.model] += truth.p_correct(plan).sum()
        counts[plan.model] += len(log.samples)
    share, p = correct / counts, expected / counts
    assert np.all(np.abs(share - p) < 4 * np.sqrt(p * (1 - p) / counts)), (share, p)
    assert np.argsort(share).tolist() == np.argsort(truth.theta).tolist() or np.ptp(truth.theta) < 0.5
