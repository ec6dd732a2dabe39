"""Write the example Inspect logs in ``examples/logs/`` from a known hierarchical model.

The logs are produced by inspect_ai's own ``eval()`` against ``mockllm`` models, so they are real
Inspect logs (same writer, schema and compression as a production run), yet fully offline and
reproducible. Whether a mock model answers a sample correctly is drawn from

    logit P(correct) = mu + model_effect[model] + task_effect[task]
                       + difficulty_effect[difficulty] + scaffold_effect[scaffold]
                       + item_effect[task, sample id]

with a hash-seeded uniform per (model, scaffold, task, sample id), so every rerun gives the same
outcomes. The true parameters and every designed outcome go to ``examples/truth.json``: it must
not live in the log folder, which the pipeline scans for logs.

Grid: 4 models x 3 tasks x 2 scaffolds = 24 ``.eval`` logs of 30 samples each (720 samples).

Judge logs: a fourth task, ``judge``, is graded the way LLM-as-a-judge evaluations are: a custom
scorer writes an integer helpfulness rating 0..10 (``Score(value=int)``), drawn (hash-seeded) from
an ordered-logistic model

    P(rating <= k) = sigmoid(cutpoint[k] - (judge_intercept + judge_model_effect[model]))

4 models x 1 scaffold (generalist) = 4 more logs of 40 samples (160 samples). Its samples carry
``metadata.rubric`` and no ``difficulty``, so an analysis can keep or drop them with
``metadata_field_extractor`` + ``drop_rows_with_missing_features``. The judge's truth is in the
``judge`` section of truth.json.

Usage:
    .venv/bin/python examples/generate_logs.py                 # writes examples/logs + truth.json
    .venv/bin/python examples/generate_logs.py --judge-only    # rewrites only the 4 judge logs
    .venv/bin/python examples/generate_logs.py --out /tmp/logs --truth /tmp/truth.json
"""

import argparse
import asyncio
import hashlib
import json
import math
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

from inspect_ai import Task, eval, task
from inspect_ai.dataset import Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelOutput,
    ModelUsage,
    get_model,
)
from inspect_ai.scorer import (
    Score,
    Scorer,
    Target,
    accuracy,
    includes,
    match,
    mean,
    scorer,
    stderr,
)
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver, system_message
from inspect_ai.tool import ToolChoice, ToolInfo

EXAMPLES_DIR = Path(__file__).resolve().parent
SEED = 20260901
SIZE_BUDGET_BYTES = 2_000_000  # the logs are committed to the repository

# ---------------------------------------------------------------------------------------------
# The generative truth. Effects are sum-to-zero within each factor so that they are identified
# against mu, which is what a hierarchical fit with zero-centred group effects recovers.
# ---------------------------------------------------------------------------------------------
MU = 0.4
MODEL_EFFECT = {"aurora": 1.0, "borealis": 0.35, "cirrus": -0.35, "draco": -1.0}
TASK_EFFECT = {"arithmetic": 0.35, "spelling": -0.45, "capitals": 0.10}
DIFFICULTY_EFFECT = {"easy": 0.9, "medium": 0.0, "hard": -0.9}
SCAFFOLD_EFFECT = {"generalist": -0.3, "specialist": 0.3}
ITEM_SD = 0.35


@dataclass(frozen=True)
class ModelProfile:
    """How a mock model 'costs': drives token usage and latency, not correctness."""

    name: str
    latency_s: float  # mean seconds per generate(); differs by model so working_time does
    output_tokens: tuple[int, int]  # visible answer tokens, inclusive range
    reasoning_tokens: tuple[int, int] | None  # a reasoning model bills hidden thinking tokens
    cached_prefix_tokens: int  # >0: provider-side prompt cache, reported as cache reads


PROFILES = [
    ModelProfile("aurora", 0.16, (6, 14), (120, 420), 0),
    ModelProfile("borealis", 0.09, (20, 60), None, 0),
    ModelProfile("cirrus", 0.05, (8, 24), None, 96),
    ModelProfile("draco", 0.025, (4, 10), None, 48),
]

# Errors are injected in exactly one log so the pipeline's "flag and exclude" path has something
# real to act on; the log itself still ends with status "success" (fail_on_error=False).
CRASH_MODEL = "draco"
CRASH_SCAFFOLD = "specialist"
CRASH_TASK = "capitals"
CRASH_SAMPLE_IDS = ("cap07", "cap18", "cap26")


def unit_hash(*keys: object) -> float:
    """Uniform [0, 1) from the keys; sha256 because Python's hash() is salted per process."""
    digest = hashlib.sha256("|".join(str(k) for k in (SEED, *keys)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# ---------------------------------------------------------------------------------------------
# Datasets. Each item carries the wrong answer a weak model would give, so that incorrect
# completions look plausible and can never be mistaken for correct ones by any scorer.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    task: str
    id: int | str
    prompt: str
    target: str
    wrong: str
    domain: str
    difficulty: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.task, str(self.id))


DIFFICULTIES = ("easy", "medium", "hard")


def arithmetic_items() -> list[Item]:
    rng = random.Random(SEED)
    items: list[Item] = []
    seen: set[str] = set()
    while len(items) < 30:
        difficulty = DIFFICULTIES[len(items) // 10]
        if difficulty == "easy":
            a, b = rng.randint(2, 9), rng.randint(2, 9)
            question, answer = f"What is {a} + {b}?", a + b
        elif difficulty == "medium":
            a, b = rng.randint(12, 49), rng.randint(12, 49)
            question, answer = f"What is {a} * {b}?", a * b
        else:
            a, b, c = rng.randint(101, 399), rng.randint(11, 39), rng.randint(101, 999)
            question, answer = f"What is {a} * {b} - {c}?", a * b - c
        wrong = answer + rng.choice([-10, -2, -1, 1, 2, 10])
        if question in seen:  # mock models look items up by prompt, so redraw duplicates
            continue
        seen.add(question)
        items.append(
            Item(
                task="arithmetic",
                # Integer ids on purpose: real datasets mix int and str ids across tasks.
                id=len(items) + 1,
                prompt=question,
                target=str(answer),
                wrong=str(wrong),
                domain="math",
                difficulty=difficulty,
            )
        )
    return items


SPELLING_WORDS = {
    "easy": "apple river stone cloud bread grape chair tiger plant mouse",
    "medium": "blanket chimney fortune harvest lantern monarch orchard pilgrim quarrel sapling",
    "hard": (
        "bureaucracy mischievous conscientious onomatopoeia silhouette "
        "pharaonically juxtaposition rhododendron connoisseur idiosyncrasy"
    ),
}


def misspell_reversal(reversed_word: str, salt: str) -> str:
    """Swap two adjacent, different letters: same length, so `includes()` can never match it."""
    chars = list(reversed_word)
    positions = [i for i in range(len(chars) - 1) if chars[i] != chars[i + 1]]
    i = positions[int(unit_hash("swap", salt) * len(positions))]
    chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def spelling_items() -> list[Item]:
    items: list[Item] = []
    n = 0
    for difficulty in DIFFICULTIES:
        for word in SPELLING_WORDS[difficulty].split():
            n += 1
            target = word[::-1]
            items.append(
                Item(
                    task="spelling",
                    id=f"sp{n:02d}",
                    prompt=f"Spell '{word}' backwards.",
                    target=target,
                    wrong=misspell_reversal(target, word),
                    domain="language",
                    difficulty=difficulty,
                )
            )
    return items


# (country, capital, the capital a model typically confuses it with)
CAPITALS = {
    "easy": [
        ("France", "Paris", "Lyon"),
        ("Japan", "Tokyo", "Osaka"),
        ("Italy", "Rome", "Milan"),
        ("Germany", "Berlin", "Munich"),
        ("Spain", "Madrid", "Barcelona"),
        ("Egypt", "Cairo", "Alexandria"),
        ("Russia", "Moscow", "Saint Petersburg"),
        ("the United Kingdom", "London", "Manchester"),
        ("China", "Beijing", "Shanghai"),
        ("Greece", "Athens", "Thessaloniki"),
    ],
    "medium": [
        ("Canada", "Ottawa", "Toronto"),
        ("Australia", "Canberra", "Sydney"),
        ("Brazil", "Brasilia", "Rio de Janeiro"),
        ("Turkey", "Ankara", "Istanbul"),
        ("Switzerland", "Bern", "Zurich"),
        ("Nigeria", "Abuja", "Lagos"),
        ("Pakistan", "Islamabad", "Karachi"),
        ("Morocco", "Rabat", "Casablanca"),
        ("New Zealand", "Wellington", "Auckland"),
        ("Vietnam", "Hanoi", "Ho Chi Minh City"),
    ],
    "hard": [
        ("Myanmar", "Naypyidaw", "Yangon"),
        ("Kazakhstan", "Astana", "Almaty"),
        ("Sri Lanka", "Sri Jayawardenepura Kotte", "Colombo"),
        ("Tanzania", "Dodoma", "Dar es Salaam"),
        ("Cote d'Ivoire", "Yamoussoukro", "Abidjan"),
        ("Bhutan", "Thimphu", "Paro"),
        ("Burundi", "Gitega", "Bujumbura"),
        ("Palau", "Ngerulmud", "Koror"),
        ("Benin", "Porto-Novo", "Cotonou"),
        ("Eswatini", "Mbabane", "Manzini"),
    ],
}


def capitals_items() -> list[Item]:
    items: list[Item] = []
    n = 0
    for difficulty in DIFFICULTIES:
        for country, capital, confusion in CAPITALS[difficulty]:
            n += 1
            items.append(
                Item(
                    task="capitals",
                    id=f"cap{n:02d}",
                    prompt=f"What is the capital of {country}?",
                    target=capital,
                    wrong=confusion,
                    domain="knowledge",
                    difficulty=difficulty,
                )
            )
    return items


ITEMS: list[Item] = arithmetic_items() + spelling_items() + capitals_items()
ITEM_BY_PROMPT: dict[str, Item] = {item.prompt: item for item in ITEMS}
if len(ITEM_BY_PROMPT) != len(ITEMS):
    raise RuntimeError("prompts must be unique: the mock models look items up by prompt")


def item_effect(item: Item) -> float:
    return ITEM_SD * NormalDist().inv_cdf(unit_hash("item", *item.key))


def p_correct(model: str, scaffold: str, item: Item) -> float:
    eta = (
        MU
        + MODEL_EFFECT[model]
        + TASK_EFFECT[item.task]
        + DIFFICULTY_EFFECT[item.difficulty]
        + SCAFFOLD_EFFECT[scaffold]
        + item_effect(item)
    )
    return sigmoid(eta)


def is_correct(model: str, scaffold: str, item: Item) -> bool:
    return unit_hash("correct", model, scaffold, *item.key) < p_correct(model, scaffold, item)


def is_crash(model: str, scaffold: str, item: Item) -> bool:
    in_crash_log = (model, scaffold, item.task) == (CRASH_MODEL, CRASH_SCAFFOLD, CRASH_TASK)
    return in_crash_log and str(item.id) in CRASH_SAMPLE_IDS


# ---------------------------------------------------------------------------------------------
# The judge task: open-ended answers rated 0..10 by a (mock) judge. Its truth is an ordered-
# logistic model, the likelihood of HiBayES's `ordered_logistic_model`, with numpyro's convention
# P(rating <= k) = sigmoid(cutpoint[k] - eta). The first cutpoint sits where that model's tight
# N(-4, 0.2) prior puts it, so the intercept is recovered too, not only the model effects.
# ---------------------------------------------------------------------------------------------
JUDGE_TASK = "judge"
JUDGE_SCAFFOLD = "generalist"
JUDGE_RUBRIC = "helpfulness"
JUDGE_CLASSES = 11  # ratings 0..10
JUDGE_INTERCEPT = 0.5
JUDGE_MODEL_EFFECT = {"aurora": 1.2, "borealis": 0.4, "cirrus": -0.4, "draco": -1.2}  # sum to zero
JUDGE_CUTPOINTS = (-4.0, -3.1, -2.3, -1.5, -0.7, 0.1, 0.9, 1.7, 2.6, 3.6)

# (topic, the tip every mock model gives): the rating, not the text, carries the model's quality.
JUDGE_TOPICS = [
    ("saving money", "track every expense for a month"),
    ("sleeping better", "keep the same wake-up time"),
    ("learning a language", "practise ten minutes daily"),
    ("public speaking", "rehearse out loud twice"),
    ("writing emails", "put the request in the first line"),
    ("running a meeting", "send the agenda a day ahead"),
    ("debugging code", "reproduce the bug with a tiny input"),
    ("reading more", "carry a book everywhere"),
    ("cooking rice", "rinse it until the water is clear"),
    ("job interviews", "prepare three stories with numbers"),
    ("staying focused", "silence notifications for an hour"),
    ("studying for exams", "test yourself instead of rereading"),
    ("growing tomatoes", "water deeply but rarely"),
    ("taking photos", "keep the horizon level"),
    ("writing a CV", "lead with results, not duties"),
    ("learning to code", "build one small project end to end"),
    ("running a 5k", "start slower than feels necessary"),
    ("packing for travel", "lay everything out, then take half"),
    ("negotiating salary", "name a researched number first"),
    ("keeping houseplants", "check the soil before watering"),
    ("giving feedback", "describe the behaviour, not the person"),
    ("remembering names", "repeat the name in your reply"),
    ("writing tests", "test behaviour, not implementation"),
    ("managing stress", "take a ten-minute walk"),
    ("making coffee", "weigh the beans"),
    ("planning a trip", "book the hardest part first"),
    ("reviewing code", "read the tests before the diff"),
    ("cleaning a kitchen", "clean as you cook"),
    ("learning guitar", "practise chord changes slowly"),
    ("writing a report", "state the conclusion up front"),
    ("buying a laptop", "choose the screen you will stare at"),
    ("teaching kids maths", "use real objects to count"),
    ("drinking more water", "keep a bottle on your desk"),
    ("starting a blog", "write ten posts before launching"),
    ("making friends", "join a weekly club"),
    ("fixing a bike puncture", "find the cause before patching"),
    ("writing SQL", "select only the columns you need"),
    ("meal planning", "cook twice, eat four times"),
    ("answering support tickets", "restate the problem first"),
    ("saving energy at home", "seal the draughty windows"),
]


@dataclass(frozen=True)
class JudgeItem:
    id: str
    prompt: str
    answer: str


JUDGE_ITEMS: list[JudgeItem] = [
    JudgeItem(
        id=f"j{n:02d}", prompt=f"Give one practical tip for {topic}.", answer=f"{tip.capitalize()}."
    )
    for n, (topic, tip) in enumerate(JUDGE_TOPICS, start=1)
]
JUDGE_BY_PROMPT: dict[str, JudgeItem] = {item.prompt: item for item in JUDGE_ITEMS}
if len(JUDGE_BY_PROMPT) != len(JUDGE_ITEMS) or set(JUDGE_BY_PROMPT) & set(ITEM_BY_PROMPT):
    raise RuntimeError("prompts must be unique: the mock models look items up by prompt")


def judge_probabilities(model: str) -> list[float]:
    """P(rating = k), k = 0..10, under the ordered-logistic truth."""
    eta = JUDGE_INTERCEPT + JUDGE_MODEL_EFFECT[model]
    cumulative = [sigmoid(c - eta) for c in JUDGE_CUTPOINTS] + [1.0]
    return [hi - lo for lo, hi in zip([0.0, *cumulative[:-1]], cumulative)]


def judge_rating(model: str, item: JudgeItem) -> int:
    """The rating: the class whose cumulative probability first reaches a hash-uniform draw."""
    u = unit_hash("judge", model, item.id)
    cumulative = 0.0
    for rating, p in enumerate(judge_probabilities(model)):
        cumulative += p
        if u < cumulative:
            return rating
    return JUDGE_CLASSES - 1


# ---------------------------------------------------------------------------------------------
# Mock models.
# ---------------------------------------------------------------------------------------------
def scaffold_of(messages: list[ChatMessage]) -> str:
    # Only the specialist scaffold adds a system message, so the model can tell which agent is
    # driving it from the conversation alone, just as a real model "sees" its scaffold.
    has_system = any(isinstance(m, ChatMessageSystem) for m in messages)
    return "specialist" if has_system else "generalist"


def approx_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


OutputFn = Callable[
    [list[ChatMessage], list[ToolInfo], ToolChoice, GenerateConfig], Awaitable[ModelOutput]
]


def make_outputs(profile: ModelProfile) -> OutputFn:
    async def outputs(
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        prompt = next(m.text for m in reversed(input) if isinstance(m, ChatMessageUser))
        scaffold = scaffold_of(input)
        if prompt in JUDGE_BY_PROMPT:  # open-ended: every model gives the tip; the judge rates it
            judged = JUDGE_BY_PROMPT[prompt]
            text, key, difficulty = judged.answer, (JUDGE_TASK, judged.id), "medium"
        else:
            item = ITEM_BY_PROMPT[prompt]
            text = item.target if is_correct(profile.name, scaffold, item) else item.wrong
            key, difficulty = item.key, item.difficulty

        # Jitter is hashed, not random, so token counts and latency rerun identically too.
        u = unit_hash("usage", profile.name, scaffold, *key)
        lo, hi = profile.output_tokens
        visible = lo + int(u * (hi - lo + 1))
        reasoning = None
        if profile.reasoning_tokens is not None:
            rlo, rhi = profile.reasoning_tokens
            # Harder items make a reasoning model think longer, as they do in real logs.
            scale = {"easy": 0.5, "medium": 0.75, "hard": 1.0}[difficulty]
            reasoning = int(scale * (rlo + u * (rhi - rlo)))
        output_tokens = visible + (reasoning or 0)
        prompt_tokens = sum(approx_tokens(m.text) + 4 for m in input) + 8
        cache_read = profile.cached_prefix_tokens or None
        input_tokens = prompt_tokens  # billed at full rate; cache reads are reported separately
        total = input_tokens + output_tokens + (cache_read or 0)

        await asyncio.sleep(profile.latency_s * (0.6 + 0.8 * u))

        out = ModelOutput.from_content(model=profile.name, content=text)
        # Without usage, mockllm counts tokens with tiktoken, which downloads its encoding and
        # fails offline; so usage is set on every output.
        out.usage = ModelUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=total,
            input_tokens_cache_read=cache_read,
            reasoning_tokens=reasoning,
        )
        return out

    return outputs


def mock_models() -> list[Model]:
    return [get_model(f"mockllm/{p.name}", custom_outputs=make_outputs(p)) for p in PROFILES]


# ---------------------------------------------------------------------------------------------
# Scaffolds (passed to eval(solver=...), so each task is defined once and run under both).
# ---------------------------------------------------------------------------------------------
# Deliberately short: the system message is copied into several places in every sample.
SPECIALIST_PROMPT = "You are a {domain} expert. Reply with the final answer only."


@solver
def specialist_agent() -> Solver:
    """Bootstraps its environment, adds a domain-specific system prompt, then generates.

    One solver rather than a chain of three: every solver step adds spans and a state event to
    each sample, and the committed logs have a size budget.
    """
    prime = system_message(SPECIALIST_PROMPT)

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        model = str(state.model).removeprefix("mockllm/")
        if is_crash(model, "specialist", ITEM_BY_PROMPT[state.input_text]):
            # Stands in for a scaffold-side failure (tool server, sandbox) before any model call.
            raise RuntimeError(
                f"environment setup failed for sample {state.sample_id}: tool server timed out"
            )
        state = await prime(state, generate)
        return await generate(state)

    return solve


SCAFFOLDS: dict[str, Callable[[], Solver]] = {
    "generalist": generate,
    "specialist": specialist_agent,
}


# ---------------------------------------------------------------------------------------------
# Scorers and tasks. The first scorer of each task encodes correctness; the variety of value
# types (C/I strings, a float, a bool) is what the ingest has to cope with in the wild.
# ---------------------------------------------------------------------------------------------
@scorer(metrics=[mean(), stderr()])
def letter_accuracy() -> Scorer:
    """Partial credit: share of positions where the answer has the target's letter."""

    async def score(state: TaskState, target: Target) -> Score:
        got, want = state.output.completion.strip().lower(), target.text.lower()
        # Not strict: letters beyond the shorter string count as misses via the max() below.
        hits = sum(a == b for a, b in zip(got, want, strict=False))
        # Rounded: the value is copied into four places per sample and long floats cost bytes.
        return Score(value=round(hits / max(len(want), len(got), 1), 4))

    return score


def normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


@scorer(metrics=[accuracy(), stderr()])
def capital_correct() -> Scorer:
    """Bool-valued: the answer names the capital (punctuation and case ignored)."""

    async def score(state: TaskState, target: Target) -> Score:
        return Score(value=normalise(target.text) in normalise(state.output.completion))

    return score


def dataset(task_name: str) -> list[Sample]:
    return [
        Sample(
            id=item.id,
            input=item.prompt,
            target=item.target,
            metadata={"domain": item.domain, "difficulty": item.difficulty},
        )
        for item in ITEMS
        if item.task == task_name
    ]


@task
def arithmetic() -> Task:
    return Task(dataset=dataset("arithmetic"), solver=generate(), scorer=match(numeric=True))


@task
def spelling() -> Task:
    return Task(
        dataset=dataset("spelling"), solver=generate(), scorer=[includes(), letter_accuracy()]
    )


@task
def capitals() -> Task:
    return Task(dataset=dataset("capitals"), solver=generate(), scorer=capital_correct())


TASKS: list[Callable[[], Task]] = [arithmetic, spelling, capitals]


@scorer(metrics=[mean(), stderr()])
def helpfulness_judge() -> Scorer:
    """LLM-as-a-judge stand-in: an integer helpfulness rating, 0 (useless) to 10 (excellent).

    A real judge would prompt a grader model with the rubric; this one draws the rating from the
    ordered-logistic truth, so an ordinal model fitted to the logs can be checked against it.
    """

    async def score(state: TaskState, target: Target) -> Score:
        model = str(state.model).removeprefix("mockllm/")
        rating = judge_rating(model, JUDGE_BY_PROMPT[state.input_text])
        return Score(value=rating, explanation=f"{JUDGE_RUBRIC} {rating}/10")

    return score


@task
def judge() -> Task:
    return Task(
        dataset=[
            Sample(id=item.id, input=item.prompt, metadata={"rubric": JUDGE_RUBRIC})
            for item in JUDGE_ITEMS
        ],
        solver=generate(),
        scorer=helpfulness_judge(),
    )


# ---------------------------------------------------------------------------------------------
# Truth file and driver.
# ---------------------------------------------------------------------------------------------
def truth_document() -> dict[str, Any]:
    samples = []
    cell: dict[str, dict[str, list[float]]] = {}
    for profile in PROFILES:
        for scaffold in SCAFFOLDS:
            for item in ITEMS:
                p = p_correct(profile.name, scaffold, item)
                crashed = is_crash(profile.name, scaffold, item)
                samples.append(
                    {
                        "model": f"mockllm/{profile.name}",
                        "scaffold": scaffold,
                        "task": item.task,
                        "id": str(item.id),
                        "difficulty": item.difficulty,
                        "p_correct": round(p, 6),
                        # A crashed sample never reaches the model, so it has no outcome.
                        "correct": None if crashed else is_correct(profile.name, scaffold, item),
                        "errored": crashed,
                    }
                )
                if not crashed:  # comparable with the observed accuracy, which excludes errors
                    cell.setdefault(f"mockllm/{profile.name}", {}).setdefault(scaffold, []).append(
                        p
                    )
    return {
        "description": (
            "Ground truth for examples/logs. logit P(correct) = mu + model_effect[model] + "
            "task_effect[task] + difficulty_effect[difficulty] + scaffold_effect[scaffold] + "
            "item_effect[task][id]; item_effect ~ Normal(0, item_sd) drawn once per item. "
            "Outcome = hash-uniform(model, scaffold, task, id) < P(correct)."
        ),
        "seed": SEED,
        "mu": MU,
        "model_effect": {f"mockllm/{k}": v for k, v in MODEL_EFFECT.items()},
        "task_effect": TASK_EFFECT,
        "difficulty_effect": DIFFICULTY_EFFECT,
        "scaffold_effect": SCAFFOLD_EFFECT,
        "item_sd": ITEM_SD,
        "item_effect": {
            t: {str(i.id): round(item_effect(i), 6) for i in ITEMS if i.task == t}
            for t in TASK_EFFECT
        },
        "scaffold_location": "header eval.metadata.scaffold",
        "first_scorer": {
            "arithmetic": "match",
            "spelling": "includes",
            "capitals": "capital_correct",
        },
        "model_profiles": {f"mockllm/{p.name}": asdict(p) for p in PROFILES},
        "injected_errors": [
            {
                "model": f"mockllm/{CRASH_MODEL}",
                "scaffold": CRASH_SCAFFOLD,
                "task": CRASH_TASK,
                "id": i,
            }
            for i in CRASH_SAMPLE_IDS
        ],
        "expected_accuracy": {
            m: {s: round(sum(ps) / len(ps), 4) for s, ps in by_s.items()}
            for m, by_s in cell.items()
        },
        "judge": judge_truth(),
        "samples": samples,
    }


def judge_truth() -> dict[str, Any]:
    ratings = {
        f"mockllm/{p.name}": {item.id: judge_rating(p.name, item) for item in JUDGE_ITEMS}
        for p in PROFILES
    }
    return {
        "description": (
            "Truth for the judge task's logs (task 'judge', scaffold 'generalist', one log per "
            "model): scorer helpfulness_judge writes an integer rating 0..10 with "
            "P(rating <= k) = sigmoid(cutpoints[k] - (intercept + model_effect[model])), drawn "
            "as the first class whose cumulative probability exceeds hash-uniform(model, id). "
            "This is ordered_logistic_model's likelihood (effect-coded model effects)."
        ),
        "task": JUDGE_TASK,
        "scaffold": JUDGE_SCAFFOLD,
        "scorer": "helpfulness_judge",
        "rubric": JUDGE_RUBRIC,
        "num_classes": JUDGE_CLASSES,
        "intercept": JUDGE_INTERCEPT,
        "model_effect": {f"mockllm/{k}": v for k, v in JUDGE_MODEL_EFFECT.items()},
        "cutpoints": list(JUDGE_CUTPOINTS),
        "expected_mean_rating": {
            f"mockllm/{p.name}": round(
                sum(k * q for k, q in enumerate(judge_probabilities(p.name))), 4
            )
            for p in PROFILES
        },
        "observed_mean_rating": {
            m: round(sum(by_id.values()) / len(by_id), 4) for m, by_id in ratings.items()
        },
        "ratings": ratings,
    }


def write_truth(path: Path) -> None:
    doc = truth_document()
    samples = doc.pop("samples")
    # One sample per line keeps the file diffable without bloating it with indentation.
    body = json.dumps(doc, indent=2)[:-2]
    rows = ",\n    ".join(json.dumps(s) for s in samples)
    path.write_text(f'{body},\n  "samples": [\n    {rows}\n  ]\n}}\n')


def run_eval(
    tasks: list[Task], models: list[Model], solver: Solver, scaffold: str, out: Path
) -> int:
    """One eval() over tasks x models; prints a line per log; returns how many did not succeed."""
    logs = eval(
        tasks,
        model=models,
        solver=solver,
        metadata={"scaffold": scaffold},
        tags=["example", scaffold],
        log_dir=str(out),
        log_format="eval",
        display="none",
        fail_on_error=False,
        # Logs run one at a time, two samples at once: with more concurrency the event loop's
        # CPU contention (~2 s per sample on 2 cores) swamps the designed model latencies.
        max_tasks=1,
        max_samples=2,
        # One journal flush per log instead of several keeps the committed files smaller.
        log_buffer=max(len(ITEMS), len(JUDGE_ITEMS)),
        # The raw API payloads of a mock model carry no information, only bytes.
        log_model_api=False,
    )
    failed = 0
    for log in logs:
        errors = sum(1 for s in log.samples or [] if s.error is not None)
        failed += log.status != "success"
        print(
            f"  {log.eval.model:<18} {log.eval.task:<11} {log.status:<8} "
            f"errors={errors}  {Path(log.location).name}",
            flush=True,
        )
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate the example Inspect logs (offline, mockllm) from a known "
        "hierarchical model, plus the file of true parameters."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=EXAMPLES_DIR / "logs",
        help="log folder; its old .eval files are deleted first (default: %(default)s)",
    )
    parser.add_argument(
        "--truth",
        type=Path,
        default=EXAMPLES_DIR / "truth.json",
        help="where to write the true parameters; keep it outside --out (default: %(default)s)",
    )
    parser.add_argument(
        "--judge-only",
        action="store_true",
        help=f"write only the {len(PROFILES)} '{JUDGE_TASK}' logs: delete the old judge logs in "
        "--out and keep every other log; truth.json is rewritten whole (its other sections are "
        "deterministic, so they come out unchanged)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    truth: Path = args.truth.resolve()
    if truth.parent == out or out in truth.parents:
        parser.error("--truth must be outside --out: the log folder is scanned for logs")

    out.mkdir(parents=True, exist_ok=True)
    stale = sorted(out.glob(f"*_{JUDGE_TASK}_*.eval" if args.judge_only else "*.eval"))
    for path in stale:
        path.unlink()
    print(f"removed {len(stale)} old .eval file(s) from {out}", flush=True)

    models = mock_models()
    started = time.perf_counter()
    failed = 0
    if not args.judge_only:
        for scaffold, make_solver in SCAFFOLDS.items():
            print(f"scaffold {scaffold}: {len(TASKS)} tasks x {len(models)} models ...", flush=True)
            tasks = [make_task() for make_task in TASKS]
            failed += run_eval(tasks, models, make_solver(), scaffold, out)
    print(f"scaffold {JUDGE_SCAFFOLD}: task {JUDGE_TASK} x {len(models)} models ...", flush=True)
    failed += run_eval([judge()], models, SCAFFOLDS[JUDGE_SCAFFOLD](), JUDGE_SCAFFOLD, out)
    write_truth(truth)
    size = sum(p.stat().st_size for p in out.glob("*.eval"))
    elapsed = time.perf_counter() - started
    print(f"done in {elapsed:.1f}s: {size / 1e6:.3f} MB of logs in {out}; truth in {truth}")
    if size >= SIZE_BUDGET_BYTES:
        budget = SIZE_BUDGET_BYTES / 1e6
        print(
            f"warning: logs exceed the {budget:.1f} MB budget for committed examples",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
