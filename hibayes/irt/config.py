"""`IRTConfig`: the settings of the IRT stages, built from a YAML mapping.

The mapping may be the `irt:` section of an analysis YAML or a YAML file of its own. Unknown keys
and bad values raise `IRTConfigError` with the key, what was expected and, for a misspelt key or
choice, the closest valid spelling (difflib).

Example::

    irt:
      model: 2pl          # 2pl | 1pl | mirt
      dims: 1             # D, the number of latent dimensions (mirt only may use D > 1)
      n_anchors: 100
      k_neighbours: 20
      seed: 0
      new_models: [mockllm/aurora]
      exclude_tasks: [judge]   # or tasks: [...] to keep only those
      binarise: "score > 0"
      respondent: model   # model | model+scaffold
      fit_method: svi     # svi | map | nuts
      steps: 2000
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["IRTConfig", "IRTConfigError", "parse_binarise_rule", "BinariseRule"]


class IRTConfigError(ValueError):
    """A problem with the IRT configuration: names the key, the value and what was expected."""


MODELS = ("2pl", "1pl", "mirt")
RESPONDENTS = ("model", "model+scaffold")
FIT_METHODS = ("svi", "map", "nuts")
EPOCH_POLICIES = ("mean", "binomial")
ANCHOR_SPACES = ("irt", "correctness")
THETA_METHODS = ("mle", "map")
TRANSFER_MODES = ("parameters", "probabilities")
KERNELS = ("uniform", "exp")
GP_BIAS_METHODS = ("cv", "in_sample")
BALANCE = ("none", "task")
ON_INVALID = ("error", "drop")


@dataclass(frozen=True)
class BinariseRule:
    """`correct = score OP threshold`, or `None` op meaning scores must already be 0/1.

    `match_mean` is tinyBenchmarks' rule: one threshold c in linspace(0.01, 0.99, 99) for the whole
    matrix, chosen to minimise mean_j |mean_i 1[Y_ji > c] - mean_i Y_ji| (scores in [0, 1]).
    """

    op: str | None  # ">", ">=", "<", "<=", "==", "match_mean" or None (already binary)
    threshold: float = 0.0

    def text(self) -> str:
        if self.op is None:
            return "none (scores must already be 0/1)"
        if self.op == "match_mean":
            return "match_mean"
        return f"score {self.op} {self.threshold:g}"


_OPS = (">=", "<=", "==", ">", "<")


def parse_binarise_rule(rule: Any) -> BinariseRule:
    """Parse a binarisation rule.

    Accepted: `"score > 0"`, `"score >= 0.5"` (also `<`, `<=`, `==`), a bare number `c` meaning
    `score > c`, `"match_mean"`, or `None` / `"none"` meaning the scores must already be 0/1.
    """
    if isinstance(rule, BinariseRule):
        return rule
    if rule is None or (isinstance(rule, str) and rule.strip().lower() in ("none", "")):
        return BinariseRule(None)
    if isinstance(rule, bool):
        raise IRTConfigError(f"binarise: expected a rule like 'score > 0', got {rule!r}")
    if isinstance(rule, (int, float)):
        return BinariseRule(">", float(rule))
    if not isinstance(rule, str):
        raise IRTConfigError(f"binarise: expected a rule like 'score > 0', got {rule!r}")
    text = rule.strip()
    if text.lower() == "match_mean":
        return BinariseRule("match_mean")
    body = text
    if body.lower().startswith("score"):
        body = body[5:].strip()
    for op in _OPS:
        if body.startswith(op):
            number = body[len(op) :].strip()
            try:
                return BinariseRule(op, float(number))
            except ValueError:
                break
    raise IRTConfigError(
        f"binarise: cannot read rule {rule!r}; expected 'score > 0', 'score >= 0.5' "
        "(ops >, >=, <, <=, ==), a number c (meaning score > c), 'match_mean' or 'none'"
    )


@dataclass(frozen=True)
class IRTConfig:
    """Settings of every IRT stage. Build it from YAML with `IRTConfig.from_mapping` / `from_yaml`.

    Attributes:
        model: "2pl" (D = 1, a > 0), "1pl" (Rasch, a = 1) or "mirt" (D >= 1, slope-intercept).
        dims: D, the number of latent dimensions. Must be 1 unless model is "mirt".
        n_anchors: number of anchor items (clusters).
        anchor_space: cluster items on their fitted IRT parameters ("irt": (a_i, b_i)) or on their
            correctness vectors across the training models ("correctness").
        kmeans_restarts: k-means restarts; the fit with the smallest inertia is kept.
        k_neighbours: k of the KNN transfer of item parameters to unseen items.
        transfer_mode: average neighbours' "parameters" (a, b) or their predicted "probabilities".
        kernel, tau: KNN weights: "uniform", or "exp" with weight exp(similarity / tau).
        embedding: name of the text embedding backend (default "tfidf"; see transfer.py).
        seed: seed of every random step (SVI, k-means, bootstrap, splits).
        new_models: respondents treated as new: excluded from the IRT fit, seen on anchors only.
        tasks: only these tasks' samples become items (default: every task).
        exclude_tasks: tasks whose samples never become items, e.g. a judge task with 0..10
            ratings among correct/incorrect tasks, which no binarisation rule suits.
        binarise: rule turning a numeric score into correct / incorrect (see parse_binarise_rule).
        epochs: "mean" averages the raw score over epochs, then binarises the mean (one trial per
            cell); "binomial" binarises each epoch and keeps k successes out of m trials.
        respondent: "model" or "model+scaffold" (respondent id "model|scaffold").
        on_invalid: "error" (default) or "drop" for respondents without responses and items
            answered by fewer than `min_respondents_per_item` respondents.
        balance: "none" or "task" (balance weights so every task counts equally).
        fit_method: "svi" (AutoNormal), "map" (AutoDelta) or "nuts".
        steps, learning_rate: SVI / MAP optimiser steps and Adam step size.
        num_draws: posterior draws kept from an SVI guide (stored in the NetCDF).
        num_warmup, num_samples, num_chains: NUTS settings.
        positive_discrimination: a = exp(.) > 0 (identifies the sign). False gives
            tinyBenchmarks' unconstrained Normal discriminations.
        theta_method: "mle" (tinyBenchmarks; bounded to +-theta_bound) or "map" (N(0, I) prior)
            for the ability of a new model from its seen items.
        gp_bias: how b, the IRT part's validation error in gp-IRT, is measured: "cv" refits the
            IRT model with folds of training respondents held out; "in_sample" uses the full fit
            (cheap, optimistic).
        gp_folds: number of respondent folds for gp_bias = "cv".
        validation_folds: the leave-one-model-out validation refits the IRT model once per fold
            of training respondents; with at most this many respondents every fold holds one
            (leave-one-out), with more they are dealt into this many folds, so the cost is at most
            this many fits however many respondents there are (400 respondents: 10 fits, not 400).
        interval: the level of every interval (0.9 = 5%..95%).
        n_interval_draws: draws behind the posterior-predictive intervals.
        pirt_model_error: widen the p-IRT interval by the validation error b (see estimators.py).
        routing_dims: D of the MIRT fitted for routing. With D = 1 and positive discriminations
            P(correct) is increasing in theta for every item, so the router always picks the
            respondent with the highest ability; routing needs D >= 2 to differ per item.
        routing_test_fraction: share of items held out as routing test items when the data has
            no train/test split.
    """

    model: str = "2pl"
    dims: int = 1
    n_anchors: int = 100
    anchor_space: str = "irt"
    kmeans_restarts: int = 5
    k_neighbours: int = 20
    transfer_mode: str = "parameters"
    kernel: str = "uniform"
    tau: float = 0.1
    embedding: str = "tfidf"
    seed: int = 0
    new_models: tuple[str, ...] = ()
    tasks: tuple[str, ...] | None = None
    exclude_tasks: tuple[str, ...] = ()
    binarise: Any = "score > 0"
    epochs: str = "mean"
    respondent: str = "model"
    on_invalid: str = "error"
    min_respondents_per_item: int = 2
    balance: str = "none"
    fit_method: str = "svi"
    steps: int = 2000
    learning_rate: float = 0.05
    num_draws: int = 200
    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 2
    positive_discrimination: bool = True
    theta_method: str = "mle"
    theta_bound: float = 6.0
    gp_bias: str = "cv"
    gp_folds: int = 5
    validation_folds: int = 10
    interval: float = 0.9
    n_interval_draws: int = 1000
    pirt_model_error: bool = True
    routing_dims: int = 2
    routing_test_fraction: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "new_models", tuple(str(m) for m in (self.new_models or ())))
        if self.tasks is not None:
            object.__setattr__(self, "tasks", tuple(str(t) for t in self.tasks))
        object.__setattr__(self, "exclude_tasks", tuple(str(t) for t in (self.exclude_tasks or ())))
        rule = parse_binarise_rule(self.binarise)
        object.__setattr__(self, "binarise", rule)
        _choice("model", self.model, MODELS)
        _choice("respondent", self.respondent, RESPONDENTS)
        _choice("fit_method", self.fit_method, FIT_METHODS)
        _choice("epochs", self.epochs, EPOCH_POLICIES)
        _choice("anchor_space", self.anchor_space, ANCHOR_SPACES)
        _choice("theta_method", self.theta_method, THETA_METHODS)
        _choice("transfer_mode", self.transfer_mode, TRANSFER_MODES)
        _choice("kernel", self.kernel, KERNELS)
        _choice("gp_bias", self.gp_bias, GP_BIAS_METHODS)
        _choice("balance", self.balance, BALANCE)
        _choice("on_invalid", self.on_invalid, ON_INVALID)
        for name in ("dims", "n_anchors", "k_neighbours", "steps", "num_draws", "num_warmup",
                     "num_samples", "num_chains", "kmeans_restarts", "gp_folds", "validation_folds",
                     "n_interval_draws", "min_respondents_per_item", "routing_dims"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise IRTConfigError(f"{name}: expected a positive integer, got {value!r}")
        if self.validation_folds < 2:
            raise IRTConfigError(f"validation_folds: expected at least 2 (a fold is left out of each fit), got {self.validation_folds}")
        if self.model != "mirt" and self.dims != 1:
            raise IRTConfigError(
                f"dims: {self.dims} needs model: mirt (model {self.model!r} is one-dimensional)"
            )
        for name in ("learning_rate", "tau", "theta_bound"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise IRTConfigError(f"{name}: expected a positive number, got {value!r}")
        if not 0 < float(self.interval) < 1:
            raise IRTConfigError(f"interval: expected a level in (0, 1), got {self.interval!r}")
        if not 0 < float(self.routing_test_fraction) < 1:
            raise IRTConfigError(
                f"routing_test_fraction: expected a share in (0, 1), got {self.routing_test_fraction!r}"
            )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise IRTConfigError(f"seed: expected an integer, got {self.seed!r}")
        for name in ("positive_discrimination", "pirt_model_error"):
            if not isinstance(getattr(self, name), bool):
                raise IRTConfigError(f"{name}: expected true or false, got {getattr(self, name)!r}")

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if not f.name.startswith("_"))

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any] | None, where: str = "irt") -> IRTConfig:
        """Build from a mapping (e.g. the parsed `irt:` section). Unknown keys raise with a hint.

        `D` is accepted as an alias of `dims` and `k` of `k_neighbours`.
        """
        if mapping is None:
            return cls()
        if not isinstance(mapping, dict):
            raise IRTConfigError(f"{where}: expected a mapping of settings, got {type(mapping).__name__}")
        aliases = {"D": "dims", "d": "dims", "k": "k_neighbours", "k_neighbors": "k_neighbours"}
        allowed = cls.keys()
        kwargs: dict[str, Any] = {}
        for key, value in mapping.items():
            name = aliases.get(str(key), str(key))
            if name not in allowed:
                hint = difflib.get_close_matches(str(key), list(allowed) + list(aliases), n=1)
                suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
                raise IRTConfigError(
                    f"{where}: unknown key {key!r}{suggestion} (valid keys: {', '.join(allowed)})"
                )
            if name in kwargs:
                raise IRTConfigError(f"{where}: {key!r} given twice (as {name!r})")
            if name in ("new_models", "tasks", "exclude_tasks") and isinstance(value, str):
                value = [value]
            if name == "new_models" and value is not None and not isinstance(value, (list, tuple)):
                raise IRTConfigError(f"{where}.new_models: expected a list of respondent names, got {value!r}")
            if name in ("tasks", "exclude_tasks") and value is not None and not isinstance(value, (list, tuple)):
                raise IRTConfigError(f"{where}.{name}: expected a list of task names, got {value!r}")
            kwargs[name] = value
        try:
            return cls(**kwargs)
        except IRTConfigError as err:
            raise IRTConfigError(f"{where}.{err}") from None

    @classmethod
    def from_yaml(cls, source: str | Path, section: str | None = "irt") -> IRTConfig:
        """Read a YAML file (or YAML text). Uses its `section` key when present, else the whole mapping."""
        import yaml

        path = Path(source)
        is_file = isinstance(source, Path) or ("\n" not in str(source) and path.suffix in (".yaml", ".yml"))
        if is_file and not path.exists():
            raise IRTConfigError(f"IRT config file not found: {source}")
        text = path.read_text() if is_file else str(source)
        where = str(path) if is_file else "irt"
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise IRTConfigError(f"{where}: not valid YAML: {err}") from None
        if section is not None and isinstance(raw, dict) and section in raw:
            return cls.from_mapping(raw[section], where=f"{where}:{section}")
        return cls.from_mapping(raw, where=where)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the binarise rule as text)."""
        out = {k: getattr(self, k) for k in self.keys()}
        out["new_models"] = list(self.new_models)
        out["tasks"] = None if self.tasks is None else list(self.tasks)
        out["exclude_tasks"] = list(self.exclude_tasks)
        rule: BinariseRule = self.binarise
        out["binarise"] = None if rule.op is None else ("match_mean" if rule.op == "match_mean"
                                                          else f"score {rule.op} {rule.threshold:g}")
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, **changes: Any) -> IRTConfig:
        """A copy with some settings changed."""
        current = self.to_dict()
        current.update(changes)
        return IRTConfig(**current)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value in choices:
        return
    hint = difflib.get_close_matches(str(value), choices, n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    raise IRTConfigError(f"{name}: {value!r} is not one of {', '.join(choices)}{suggestion}")
