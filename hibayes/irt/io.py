"""Readers for item-response data that does not come from Inspect logs.

RouterDC-style JSON: a list of records {"question": str, "scores": {model: number},
"cluster_id": int (optional)}. In RouterDC's MMLU files a score is the probability of the gold
option when the model answered correctly and exactly 0 otherwise, so correct <=> score > 0
(binarise: "score > 0").
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

__all__ = ["read_routerdc", "RouterDCFormatError"]


class RouterDCFormatError(ValueError):
    """A RouterDC file that does not have the expected shape: names the file, record and field."""


def _task_and_split(stem: str) -> tuple[str, str]:
    m = re.match(r"^(.*?)[_-](train|test|val|valid|dev)$", stem)
    if m:
        return m.group(1), m.group(2)
    return stem, "all"


def read_routerdc(paths: str | Path | Sequence[str | Path], *, task: str | None = None) -> pd.DataFrame:
    """Read one or more RouterDC JSON files into a samples-like long frame.

    Columns: model, task, sample_id, input, score, epoch (1), has_error (False), scaffold (None),
    split, cluster_id (nullable). The task and split come from the file name (`mmlu_train.json` ->
    task "mmlu", split "train") unless `task` is given; sample_id is "<split>-<record index>", so
    the train and test files of one task give distinct items. The frame feeds
    `build_response_matrix(..., binarise="score > 0")`.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    frames = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"RouterDC file not found: {path}")
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise RouterDCFormatError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(records, list):
            raise RouterDCFormatError(f"{path}: expected a JSON list of records, got {type(records).__name__}")
        file_task, split = _task_and_split(path.stem)
        t = task or file_task
        rows = []
        for n, rec in enumerate(records):
            where = f"{path}: record {n}"
            if not isinstance(rec, dict):
                raise RouterDCFormatError(f"{where}: expected an object, got {type(rec).__name__}")
            q = rec.get("question")
            if not isinstance(q, str):
                raise RouterDCFormatError(f"{where}: field 'question' must be a string, got {q!r:.60}")
            scores = rec.get("scores")
            if not isinstance(scores, dict) or not scores:
                raise RouterDCFormatError(f"{where}: field 'scores' must be a non-empty mapping model -> number")
            cluster = rec.get("cluster_id")
            for model, value in scores.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                        isinstance(value, float) and math.isnan(value)):
                    raise RouterDCFormatError(
                        f"{where}: scores[{model!r}] must be a number, got {value!r:.60}")
                rows.append((str(model), t, f"{split}-{n}", q, float(value), split, cluster))
        frame = pd.DataFrame(rows, columns=["model", "task", "sample_id", "input", "score", "split", "cluster_id"])
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["epoch"] = 1
    out["has_error"] = False
    out["scaffold"] = None
    out["cluster_id"] = out["cluster_id"].astype("Int64")
    return out[["model", "task", "sample_id", "input", "score", "epoch", "has_error", "scaffold",
                "split", "cluster_id"]]
