"""Real Inspect logs with odd content, written by inspect_ai itself (mockllm, offline), and broken
copies of good logs, for the bad-input tests."""

from __future__ import annotations

from pathlib import Path

from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import Score, Target, accuracy, mean, scorer
from inspect_ai.solver import Generate, TaskState, generate, solver

ODD_VALUES = ["C", "I", "P", 0.25, True, "banana", float("nan"), {"a": 1.0}, [1, 0]]


def _model(name: str = "mockllm/odd"):
    def outputs(input, tools, tool_choice, config):  # noqa: A002 - Inspect's argument names
        out = ModelOutput.from_content(model=name, content="42")
        out.usage = ModelUsage(input_tokens=10, output_tokens=2, total_tokens=12)  # no tokenizer download
        return out

    return get_model(name, custom_outputs=outputs)


@scorer(metrics=[mean()])
def odd_scorer():
    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=ODD_VALUES[int(state.sample_id)])

    return score


# The first scorer of the dict-scores log: Inspect scorers may return one value per key.
DICT_SCORES = [{"accuracy": "C", "f1": 0.5}, {"accuracy": "I", "f1": 0.25}, {"accuracy": "C", "f1": 1.0}, {"accuracy": "P", "f1": None}]


@scorer(metrics=[{"accuracy": [accuracy()], "f1": [mean()]}])
def graded():
    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=DICT_SCORES[int(state.sample_id)])

    return score


@scorer(metrics=[mean()])
def length_ok():
    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=int(state.sample_id) % 2)

    return score


@solver
def explode_on(sample_ids: tuple[int, ...]):
    async def solve(state: TaskState, generate_fn: Generate) -> TaskState:
        if int(state.sample_id) in sample_ids:
            raise RuntimeError(f"boom on sample {state.sample_id}")
        return await generate_fn(state)

    return solve


def _samples(n: int) -> list[Sample]:
    return [Sample(id=i, input=f"question {i}", target="42") for i in range(n)]


def write_odd_scores_log(log_dir: Path) -> Path:
    """A successful log whose single scorer returns every kind of value Inspect allows."""
    task = Task(dataset=_samples(len(ODD_VALUES)), solver=generate(), scorer=odd_scorer(), name="odd_scores")
    (log,) = eval(task, model=_model(), log_dir=str(log_dir), display="none")
    return Path(log.location)


def write_dict_scores_log(log_dir: Path) -> Path:
    """A successful log whose first scorer (`graded`) returns a dict per sample and whose second
    (`length_ok`) returns a number."""
    task = Task(dataset=_samples(len(DICT_SCORES)), solver=generate(), scorer=[graded(), length_ok()], name="dict_scores")
    (log,) = eval(task, model=_model(), log_dir=str(log_dir), display="none")
    assert log.status == "success", log.status
    return Path(log.location)


def write_error_log(log_dir: Path) -> Path:
    """A log with status 'error': a sample raises and the eval is not told to tolerate it."""
    task = Task(dataset=_samples(3), solver=[explode_on((1,)), generate()], name="explodes")
    (log,) = eval(task, model=_model(), log_dir=str(log_dir), display="none")
    assert log.status == "error", log.status
    return Path(log.location)


def write_truncated_copy(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def write_not_a_zip(target: Path) -> Path:
    target.write_text("this is not an Inspect log")
    return target


def write_json_not_a_log(target: Path) -> Path:
    target.write_text('{"tasks": ["popularity"], "note": "an eval-set manifest, not a log"}')
    return target

