"""IRT models in NumPyro: 1PL, 2PL and the multidimensional 2PL of tinyBenchmarks.

All three share one slope-intercept form (the paper's, *not* tinyBenchmarks' exported `diff`):

    logit P(Y_ji = 1) = a_i . theta_j - b_i,     theta_j, a_i in R^D, b_i scalar.

- "1pl": D = 1 and one common discrimination a > 0 for all items (equivalent to the Rasch model
  with a free ability variance).
- "2pl": D = 1, a_i = exp(l_i) > 0.
- "mirt": D >= 1, a_id = exp(l_id) > 0 (or unconstrained Normal with positive_discrimination=False,
  as in tinyBenchmarks' py-irt fork).

The traditional 2PL difficulty is b_i / a_i (logit = a_i (theta_j - b_i / a_i)); the item table
reports it for D = 1. tinyBenchmarks exports `diff` with logit = a . theta - D * diff, so its
`diff` is b / D (see `to_tinybenchmarks` / `from_tinybenchmarks`).

Priors (hierarchical, non-centred):
    theta_jd ~ N(0, 1)                     fixed: identifies location and scale
    b_i = mu_b + sigma_b z_i,  z_i ~ N(0, 1),  mu_b ~ N(0, 2),  sigma_b ~ HalfNormal(2)
    l_id = mu_l,d + sigma_l,d w_id,  w ~ N(0, 1),  mu_l ~ N(0, 1),  sigma_l ~ HalfNormal(0.5)
    a_id = exp(l_id)  (positive: identifies the sign; rotations of a MIRT with D > 1 are not
                       identified, but predicted probabilities are)

Likelihood: Binomial(m_ji, sigmoid(eta_ji)) on a dense J x I matrix of success counts k and trials
m (m = 0 where missing, so missing cells drop out). With one trial per cell it is the Bernoulli.

Inference: "svi" (AutoNormal, Adam, full batch), "map" (AutoDelta) or "nuts" (small problems).
MAP maximises the same likelihood under fixed priors instead of the hierarchical ones above:

    theta_jd ~ N(0, 1),  b_i ~ N(0, 2),  log a_id ~ N(0, 0.5)  (one log a for "1pl";
                                          a_id ~ N(0, 1) when discriminations are unconstrained)

A joint mode over hierarchical scales is degenerate: the discriminations' common location mu_l
is one prior term against I items' likelihood, so with few respondents per item the mode grows
every a until each item separates its respondents (8 x 300 simulated items: 95th percentile of
a 86 where the truth's maximum was 2.7, abilities out of order). With a fixed prior each item
pays for its own discrimination (a = 86 costs ~40 nats under log a ~ N(0, 0.5), more than 8
responses can gain), and that prior summed over all items also pins the ability scale, so MAP
needs no standardising of theta. MAP still gives one point without uncertainty and has no
rotation to pin for D > 1, so it warns for a MIRT.

JAX and NumPyro are imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import functools
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hibayes.irt.config import IRTConfig
from hibayes.irt.responses import ResponseMatrix
from hibayes.irt.simulate import sigmoid

__all__ = [
    "IRTFit",
    "fit_irt",
    "to_tinybenchmarks",
    "from_tinybenchmarks",
    "LOGIT_FORMULA",
]

LOGIT_FORMULA = "logit P(Y_ji=1) = sum_d a_id * theta_jd - b_i"
NUTS_WARN_PARAMS = 50_000


@dataclass
class IRTFit:
    """A fitted IRT model: point estimates, optional posterior draws and diagnostics.

    Attributes:
        model, dims, method: "2pl" | "1pl" | "mirt", D, and "svi" | "map" | "nuts".
        respondents, items: ids of the rows of `theta` and of `a`, `b`.
        theta: (J, D) abilities; a: (I, D) discriminations; b: (I,) intercept-form difficulties.
            Point estimates: the guide's median (svi/map) or the posterior mean (nuts).
        draws: posterior draws {"theta": (C, S, J, D), "a": (C, S, I, D), "b": (C, S, I)} plus
            hyperparameters; a single draw (the point) for map.
        diagnostics: scalars: elapsed_s, n_obs, final_loss, rel_loss_change, brier, log_loss,
            and for NUTS max_rhat, min_ess_bulk, divergences.
        loss: the SVI loss per step (None for NUTS).
        config: the IRTConfig settings used, as a dict.
    """

    model: str
    dims: int
    method: str
    respondents: list[str]
    items: list[str]
    theta: np.ndarray
    a: np.ndarray
    b: np.ndarray
    draws: dict[str, np.ndarray] = field(default_factory=dict)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    loss: np.ndarray | None = None
    config: dict[str, Any] = field(default_factory=dict)

    # -- predictions ----------------------------------------------------------------------------
    def logits(self, theta: np.ndarray | None = None, items: np.ndarray | None = None) -> np.ndarray:
        """(J', I') logits a . theta - b for the given abilities (default: the fitted ones) and
        item indices (default: all)."""
        th = self.theta if theta is None else np.atleast_2d(np.asarray(theta, float))
        a = self.a if items is None else self.a[items]
        b = self.b if items is None else self.b[items]
        return th @ a.T - b[None, :]

    def predict_proba(self, theta: np.ndarray | None = None, items: np.ndarray | None = None) -> np.ndarray:
        """(J', I') predicted P(correct)."""
        return sigmoid(self.logits(theta, items))

    def item_index(self, items: list[str]) -> np.ndarray:
        pos = {it: n for n, it in enumerate(self.items)}
        return np.array([pos[it] for it in items], dtype=int)

    def n_draws(self) -> int:
        if "b" not in self.draws:
            return 0
        return int(np.prod(self.draws["b"].shape[:2]))

    def flat_draws(self, name: str) -> np.ndarray:
        """Draws of one variable with chain and draw merged: (C*S, ...)."""
        arr = self.draws[name]
        return arr.reshape((-1,) + arr.shape[2:])

    # -- tables ---------------------------------------------------------------------------------
    def item_frame(self, interval: float = 0.9) -> pd.DataFrame:
        """One row per item: a_1..a_D, b, (D = 1) difficulty = b / a, posterior sd and interval of b."""
        out = pd.DataFrame({"item": self.items})
        for d in range(self.dims):
            out[f"a_{d + 1}"] = self.a[:, d]
        out["b"] = self.b
        if self.dims == 1:
            out["difficulty"] = self.b / self.a[:, 0]
        if self.n_draws() > 1:
            bd = self.flat_draws("b")
            lo, hi = np.quantile(bd, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
            out["b_sd"] = bd.std(axis=0)
            out["b_lo"], out["b_hi"] = lo, hi
            ad = self.flat_draws("a")
            for d in range(self.dims):
                out[f"a_{d + 1}_sd"] = ad[..., d].std(axis=0)
        return out

    def respondent_frame(self, interval: float = 0.9) -> pd.DataFrame:
        """One row per respondent: theta_1..theta_D (and sd / interval when draws exist)."""
        out = pd.DataFrame({"respondent": self.respondents})
        td = self.flat_draws("theta") if self.n_draws() > 1 else None
        for d in range(self.dims):
            out[f"theta_{d + 1}"] = self.theta[:, d]
            if td is not None:
                lo, hi = np.quantile(td[..., d], [(1 - interval) / 2, (1 + interval) / 2], axis=0)
                out[f"theta_{d + 1}_sd"] = td[..., d].std(axis=0)
                out[f"theta_{d + 1}_lo"], out[f"theta_{d + 1}_hi"] = lo, hi
        return out

    # -- storage --------------------------------------------------------------------------------
    def to_inference_data(self, responses: ResponseMatrix | None = None) -> Any:
        """ArviZ InferenceData: `posterior` (draws), `point_estimate` (theta, a, b),
        `observed_data` (successes, trials; when `responses` is given) and `fit_diagnostics` (loss
        per step). Attributes hold model, dims, method, the logit formula, config and diagnostics as
        JSON. Write it with `.to_netcdf(path)`; no pickle is involved."""
        import arviz as az
        import xarray as xr

        coords = {"respondent": list(self.respondents), "item": list(self.items),
                  "dim": list(range(self.dims))}
        attrs = {
            "irt_model": self.model,
            "irt_dims": int(self.dims),
            "irt_method": self.method,
            "logit": LOGIT_FORMULA,
            "config": json.dumps(self.config, sort_keys=True, default=str),
            "diagnostics": json.dumps(_jsonable(self.diagnostics), sort_keys=True),
        }
        point = xr.Dataset(
            {
                "theta": (("respondent", "dim"), self.theta),
                "a": (("item", "dim"), self.a),
                "b": (("item",), self.b),
            },
            coords=coords,
            attrs=attrs,
        )
        groups: dict[str, Any] = {"point_estimate": point}
        if self.draws:
            dv = {}
            for name, arr in self.draws.items():
                dims = ["chain", "draw"] + _var_dims(name, arr.ndim - 2)
                dv[name] = (dims, np.asarray(arr))
            groups["posterior"] = xr.Dataset(dv, coords=coords, attrs=attrs)
        if responses is not None:
            groups["observed_data"] = xr.Dataset(
                {
                    "successes": (("respondent", "item"), responses.successes.astype(np.float32)),
                    "trials": (("respondent", "item"), responses.trials.astype(np.int16)),
                },
                coords={"respondent": list(responses.respondents), "item": list(responses.items)},
            )
        if self.loss is not None:
            groups["fit_diagnostics"] = xr.Dataset({"loss": (("step",), np.asarray(self.loss))})
        idata = az.InferenceData(**groups)
        return idata

    def to_netcdf(self, path: str | Path, responses: ResponseMatrix | None = None) -> Path:
        """Write the fit as NetCDF (via ArviZ InferenceData)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.to_inference_data(responses).to_netcdf(str(path))
        return path

    @classmethod
    def from_inference_data(cls, idata: Any) -> IRTFit:
        """Rebuild a fit written by `to_inference_data` (e.g. after `az.from_netcdf`)."""
        point = idata["point_estimate"]
        attrs = point.attrs
        draws: dict[str, np.ndarray] = {}
        if "posterior" in idata.groups():
            for name, var in idata["posterior"].data_vars.items():
                draws[name] = np.asarray(var.values)
        loss = None
        if "fit_diagnostics" in idata.groups():
            loss = np.asarray(idata["fit_diagnostics"]["loss"].values)
        return cls(
            model=str(attrs["irt_model"]),
            dims=int(attrs["irt_dims"]),
            method=str(attrs["irt_method"]),
            respondents=[str(x) for x in point["respondent"].values],
            items=[str(x) for x in point["item"].values],
            theta=np.asarray(point["theta"].values, float),
            a=np.asarray(point["a"].values, float),
            b=np.asarray(point["b"].values, float),
            draws=draws,
            diagnostics=json.loads(attrs.get("diagnostics", "{}")),
            loss=loss,
            config=json.loads(attrs.get("config", "{}")),
        )

    @classmethod
    def from_netcdf(cls, path: str | Path) -> IRTFit:
        import arviz as az

        return cls.from_inference_data(az.from_netcdf(str(path)))

    def subset_items(self, idx: np.ndarray) -> IRTFit:
        """A view of the fit restricted to some items (point estimates and draws)."""
        idx = np.asarray(idx, dtype=int)
        draws = {}
        for name, arr in self.draws.items():
            if name == "a":
                draws[name] = arr[:, :, idx]
            elif name == "b":
                draws[name] = arr[:, :, idx]
            else:
                draws[name] = arr
        return IRTFit(self.model, self.dims, self.method, list(self.respondents),
                      [self.items[i] for i in idx], self.theta, self.a[idx], self.b[idx], draws,
                      dict(self.diagnostics), None, dict(self.config))


def _var_dims(name: str, ndim: int) -> list[str]:
    table = {"theta": ["respondent", "dim"], "a": ["item", "dim"], "b": ["item"],
             "mu_l": ["dim"], "sigma_l": ["dim"]}
    dims = table.get(name, [])
    if len(dims) != ndim:
        dims = [f"{name}_dim_{k}" for k in range(ndim)]
    return dims


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, (np.floating, np.integer)):
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


# -- tinyBenchmarks compatibility -------------------------------------------------------------
def to_tinybenchmarks(fit: IRTFit) -> dict[str, np.ndarray]:
    """Parameters in tinyBenchmarks' layout: A (1, D, I), B (1, 1, I) with B = b / D, theta (J, D, 1).

    tinyBenchmarks computes logit = sum_d (A_d theta_d - B) = a . theta - D * B, so B = b / D
    reproduces our logit exactly (its per-dimension clip at +-30 aside)."""
    return {
        "A": fit.a.T[None, :, :].copy(),
        "B": (fit.b / fit.dims)[None, None, :].copy(),
        "theta": fit.theta[:, :, None].copy(),
    }


def from_tinybenchmarks(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a (I, D), b (I,)) from tinyBenchmarks' A (1, D, I) and exported `diff` B (1, 1, I):
    b = D * diff (the broadcast trap: using `diff` itself as b gives wrong probabilities)."""
    A = np.asarray(A, float)
    B = np.asarray(B, float)
    D = A.shape[-2]
    return A.reshape(D, -1).T.copy(), D * B.reshape(-1)


# -- the NumPyro models -----------------------------------------------------------------------
# MAP's fixed prior scales (see the module docstring for why MAP has no hierarchical scales).
# N(0, 1) abilities fix location and scale as in the hierarchical model; log a ~ N(0, 0.5) puts
# 95% of discriminations in [0.37, 2.7] (the notes' §5.4 2PL prior) and makes each item pay for
# a large one; b ~ N(0, 2) spans items that almost everyone or almost no one answers correctly
# (|b| up to ~4) while keeping b finite for an item that all respondents answered alike.
MAP_THETA_SD = 1.0
MAP_LOG_A_SD = 0.5
MAP_UNCONSTRAINED_A_SD = 1.0
MAP_B_SD = 2.0


def _binomial_log_likelihood(theta: Any, a: Any, b: Any, k: Any, m: Any, log_binom: Any) -> Any:
    """log P(k | m, sigmoid(theta . a - b)) summed over the matrix (cells with m = 0 add 0)."""
    import jax.numpy as jnp
    from jax.nn import log_sigmoid

    eta = theta @ a.T - b[None, :]
    return jnp.sum(k * log_sigmoid(eta) + (m - k) * log_sigmoid(-eta)) + log_binom


def _build_model(kind: str, dims: int, positive: bool) -> Any:
    """The hierarchical model (SVI and NUTS)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    def irt_model(k: Any, m: Any, log_binom: float, J: int, I: int) -> None:
        theta = numpyro.sample("theta", dist.Normal(0.0, 1.0).expand([J, dims]).to_event(2))
        mu_b = numpyro.sample("mu_b", dist.Normal(0.0, 2.0))
        sigma_b = numpyro.sample("sigma_b", dist.HalfNormal(2.0))
        z_b = numpyro.sample("z_b", dist.Normal(0.0, 1.0).expand([I]).to_event(1))
        b = mu_b + sigma_b * z_b
        if kind == "1pl":
            log_a = numpyro.sample("log_a", dist.Normal(0.0, 1.0))
            a = jnp.exp(log_a) * jnp.ones((I, 1))
        else:
            mu_l = numpyro.sample("mu_l", dist.Normal(0.0, 1.0).expand([dims]).to_event(1))
            sigma_l = numpyro.sample("sigma_l", dist.HalfNormal(0.5).expand([dims]).to_event(1))
            z_a = numpyro.sample("z_a", dist.Normal(0.0, 1.0).expand([I, dims]).to_event(2))
            raw = mu_l + sigma_l * z_a
            a = jnp.exp(raw) if positive else raw
        numpyro.factor("obs", _binomial_log_likelihood(theta, a, b, k, m, log_binom))

    return irt_model


def _build_map_model(kind: str, dims: int, positive: bool) -> Any:
    """The fixed-prior model whose joint mode MAP finds: sites theta, b and log_a (or a when
    discriminations are unconstrained)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    def irt_map_model(k: Any, m: Any, log_binom: float, J: int, I: int) -> None:
        theta = numpyro.sample("theta", dist.Normal(0.0, MAP_THETA_SD).expand([J, dims]).to_event(2))
        b = numpyro.sample("b", dist.Normal(0.0, MAP_B_SD).expand([I]).to_event(1))
        if kind == "1pl":
            a = jnp.exp(numpyro.sample("log_a", dist.Normal(0.0, MAP_LOG_A_SD))) * jnp.ones((I, 1))
        elif positive:
            a = jnp.exp(numpyro.sample("log_a", dist.Normal(0.0, MAP_LOG_A_SD).expand([I, dims]).to_event(2)))
        else:
            a = numpyro.sample("a", dist.Normal(0.0, MAP_UNCONSTRAINED_A_SD).expand([I, dims]).to_event(2))
        numpyro.factor("obs", _binomial_log_likelihood(theta, a, b, k, m, log_binom))

    return irt_map_model


@functools.lru_cache(maxsize=32)
def _svi_runner(kind: str, dims: int, positive: bool, meth: str, lr: float, n_steps: int,
                n_draws: int, J: int, I: int) -> Any:
    """A jitted SVI/MAP run, cached per model and shape so repeated fits (folds) compile once.
    The data and starting values are arguments of the jitted function, never closed over."""
    import jax
    from numpyro.infer import SVI, Trace_ELBO, init_to_value
    from numpyro.infer.autoguide import AutoDelta, AutoNormal
    from numpyro.optim import Adam

    irt_model = _build_model(kind, dims, positive) if meth == "svi" else _build_map_model(kind, dims, positive)

    @jax.jit
    def run(key: Any, k: Any, m: Any, log_binom: Any, init: dict[str, Any]) -> Any:
        if meth == "svi":
            guide = AutoNormal(irt_model, init_loc_fn=init_to_value(values=init), init_scale=0.05)
        else:
            guide = AutoDelta(irt_model, init_loc_fn=init_to_value(values=init))
        svi = SVI(irt_model, guide, Adam(lr), Trace_ELBO())
        state = svi.init(key, k, m, log_binom, J, I)

        def body(st: Any, _: Any) -> Any:
            return svi.update(st, k, m, log_binom, J, I)

        state, losses = jax.lax.scan(body, state, None, length=n_steps)
        params = svi.get_params(state)
        median = guide.median(params)
        samples = (guide.sample_posterior(jax.random.fold_in(key, 1), params, sample_shape=(n_draws,))
                   if n_draws > 0 else {})
        return median, samples, losses

    return run


def _derive(kind: str, positive: bool, sites: dict[str, np.ndarray], I: int) -> tuple[np.ndarray, np.ndarray]:
    """a, b from the hierarchical model's latent sites; works with leading sample dimensions."""
    b = sites["mu_b"][..., None] + sites["sigma_b"][..., None] * sites["z_b"]
    if kind == "1pl":
        la = sites["log_a"]
        a = np.exp(la)[..., None, None] * np.ones(b.shape + (1,))
    else:
        raw = sites["mu_l"][..., None, :] + sites["sigma_l"][..., None, :] * sites["z_a"]
        a = np.exp(raw) if positive else raw
    return a, b


def _derive_map(kind: str, positive: bool, sites: dict[str, np.ndarray], I: int) -> tuple[np.ndarray, np.ndarray]:
    """a (I, D), b (I,) from the MAP model's sites."""
    if kind == "1pl":
        a = np.exp(sites["log_a"]) * np.ones((I, 1))
    elif positive:
        a = np.exp(sites["log_a"])
    else:
        a = sites["a"]
    return a, sites["b"]


def _init_values(k: np.ndarray, m: np.ndarray, kind: str, dims: int, positive: bool, seed: int) -> dict[str, np.ndarray]:
    """Data-driven starting values: b from item p-correct, theta from respondent accuracy."""
    rng = np.random.default_rng(seed)
    p_item = (k.sum(0) + 0.5) / (m.sum(0) + 1.0)
    b0 = -np.log(p_item / (1 - p_item))
    mu_b = float(b0.mean())
    sd_b = float(max(b0.std(), 0.1))
    p_resp = (k.sum(1) + 0.5) / (m.sum(1) + 1.0)
    l_resp = np.log(p_resp / (1 - p_resp))
    th0 = np.zeros((k.shape[0], dims))
    sd_l = l_resp.std()
    th0[:, 0] = (l_resp - l_resp.mean()) / sd_l if sd_l > 1e-6 else 0.0
    if dims > 1:
        th0[:, 1:] = rng.normal(0, 0.1, size=(k.shape[0], dims - 1))
    values: dict[str, np.ndarray] = {
        "theta": th0.astype(np.float32),
        "mu_b": np.float32(mu_b),
        "sigma_b": np.float32(sd_b),
        "z_b": ((b0 - mu_b) / sd_b).astype(np.float32),
    }
    if kind == "1pl":
        values["log_a"] = np.float32(0.0)
    else:
        values["mu_l"] = np.zeros(dims, np.float32) if positive else np.full(dims, 1.0 / np.sqrt(dims), np.float32)
        values["sigma_l"] = np.full(dims, 0.3, np.float32)
        values["z_a"] = (rng.normal(0, 0.1, size=(k.shape[1], dims))).astype(np.float32)
    return values


def _map_init_values(init: dict[str, np.ndarray], kind: str, positive: bool, I: int) -> dict[str, np.ndarray]:
    """The MAP model's starting values: the same point as the hierarchical model's `init`."""
    a, b = _derive(kind, positive, init, I)
    values = {"theta": init["theta"], "b": b.astype(np.float32)}
    if kind == "1pl":
        values["log_a"] = np.float32(init["log_a"])
    elif positive:
        values["log_a"] = np.log(a).astype(np.float32)
    else:
        values["a"] = a.astype(np.float32)
    return values


def fit_irt(
    responses: ResponseMatrix,
    config: IRTConfig | None = None,
    *,
    model: str | None = None,
    dims: int | None = None,
    method: str | None = None,
    steps: int | None = None,
    seed: int | None = None,
    learning_rate: float | None = None,
    num_draws: int | None = None,
) -> IRTFit:
    """Fit an IRT model to a response matrix.

    Args:
        responses: the J x I matrix (see responses.build_response_matrix).
        config: IRTConfig; keyword arguments override its model, dims, fit_method, steps, seed,
            learning_rate and num_draws.

    Returns:
        IRTFit with point estimates, posterior draws (svi: `num_draws` from the guide; nuts: all
        samples; map: the point as one draw) and diagnostics.
    """
    cfg = config or IRTConfig()
    kind = model or cfg.model
    D = int(dims or cfg.dims)
    if kind != "mirt" and D != 1:
        raise ValueError(f"dims={D} needs model='mirt' (model {kind!r} is one-dimensional)")
    if kind not in ("1pl", "2pl", "mirt"):
        raise ValueError(f"model: {kind!r} is not one of 1pl, 2pl, mirt")
    meth = method or cfg.fit_method
    n_steps = int(steps or cfg.steps)
    rng_seed = int(cfg.seed if seed is None else seed)
    lr = float(learning_rate or cfg.learning_rate)
    S = int(cfg.num_draws if num_draws is None else num_draws)
    positive = bool(cfg.positive_discrimination) or kind != "mirt"

    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS, init_to_value
    from scipy.special import gammaln

    k_np = np.asarray(responses.successes, dtype=np.float64)
    m_np = np.asarray(responses.trials, dtype=np.float64)
    J, I = k_np.shape
    n_obs = int((m_np > 0).sum())
    log_binom = float(np.sum(gammaln(m_np + 1) - gammaln(k_np + 1) - gammaln(m_np - k_np + 1)))
    k = jnp.asarray(k_np, dtype=jnp.float32)
    m = jnp.asarray(m_np, dtype=jnp.float32)
    irt_model = _build_model(kind, D, positive)
    init = _init_values(k_np, m_np, kind, D, positive, rng_seed)
    key = jax.random.PRNGKey(rng_seed)
    t0 = time.perf_counter()
    diagnostics: dict[str, Any] = {"n_respondents": J, "n_items": I, "n_obs": n_obs, "method": meth}
    loss_trace = None
    draws: dict[str, np.ndarray] = {}

    if meth == "map" and D > 1:
        warnings.warn(
            "MAP on a MIRT with D > 1 fits D discriminations per item as one point, with no "
            "uncertainty and an arbitrary rotation; prefer fit_method svi", stacklevel=2
        )
    if meth in ("svi", "map"):
        runner = _svi_runner(kind, D, positive, meth, lr, n_steps, S if meth == "svi" else 0, J, I)
        start = init if meth == "svi" else _map_init_values(init, kind, positive, I)
        median, samples, losses = runner(key, k, m, jnp.float32(log_binom),
                                         {s: jnp.asarray(v) for s, v in start.items()})
        loss_trace = np.asarray(losses, dtype=float)
        median = {s: np.asarray(v, dtype=float) for s, v in median.items()}
        a_pt, b_pt = (_derive if meth == "svi" else _derive_map)(kind, positive, median, I)
        theta_pt = median["theta"]
        if meth == "svi" and S > 0:
            sites = {s: np.asarray(v, dtype=np.float32) for s, v in samples.items()}
            a_d, b_d = _derive(kind, positive, sites, I)
            draws = {"theta": sites["theta"][None], "a": a_d[None].astype(np.float32),
                     "b": b_d[None].astype(np.float32)}
        else:
            draws = {"theta": theta_pt[None, None], "a": a_pt[None, None], "b": b_pt[None, None]}
        tail = max(1, n_steps // 10)
        final = float(np.mean(loss_trace[-tail:]))
        prev = float(np.mean(loss_trace[-2 * tail:-tail])) if n_steps >= 2 * tail else float("nan")
        diagnostics.update(
            steps=n_steps,
            learning_rate=lr,
            final_loss=final,
            rel_loss_change=abs(prev - final) / max(abs(final), 1e-12) if np.isfinite(prev) else None,
            loss_finite=bool(np.all(np.isfinite(loss_trace))),
        )
        if not np.all(np.isfinite(loss_trace)):
            warnings.warn("IRT fit: the SVI loss became non-finite; lower learning_rate", stacklevel=2)
    elif meth == "nuts":
        n_params = J * D + I * (D + 1)
        if n_params > NUTS_WARN_PARAMS:
            warnings.warn(
                f"NUTS on {n_params} parameters will be slow; use fit_method svi or map", stacklevel=2
            )
        chains = int(cfg.num_chains)
        chain_method = "parallel" if jax.local_device_count() >= chains else "sequential"
        mcmc = MCMC(
            NUTS(irt_model, init_strategy=init_to_value(values=init)),
            num_warmup=int(cfg.num_warmup),
            num_samples=int(cfg.num_samples),
            num_chains=chains,
            chain_method=chain_method,
            progress_bar=False,
        )
        mcmc.run(key, k, m, log_binom, J, I, extra_fields=("diverging",))
        sites = {s: np.asarray(v, dtype=float) for s, v in mcmc.get_samples(group_by_chain=True).items()}
        a_d, b_d = _derive(kind, positive, sites, I)
        draws = {"theta": sites["theta"], "a": a_d, "b": b_d}
        theta_pt = sites["theta"].mean(axis=(0, 1))
        a_pt = a_d.mean(axis=(0, 1))
        b_pt = b_d.mean(axis=(0, 1))
        from numpyro.diagnostics import summary

        summ = summary({"theta": sites["theta"], "b": b_d, "a": a_d}, group_by_chain=True)
        rhat = np.concatenate([np.ravel(v["r_hat"]) for v in summ.values()])
        ess = np.concatenate([np.ravel(v["n_eff"]) for v in summ.values()])
        diverging = np.asarray(mcmc.get_extra_fields()["diverging"])
        diagnostics.update(
            num_warmup=int(cfg.num_warmup), num_samples=int(cfg.num_samples), num_chains=chains,
            max_rhat=float(np.nanmax(rhat)), min_ess_bulk=float(np.nanmin(ess)),
            divergences=int(diverging.sum()),
        )
    else:
        raise ValueError(f"method: {meth!r} is not one of svi, map, nuts")

    diagnostics["elapsed_s"] = time.perf_counter() - t0
    theta_pt = np.asarray(theta_pt, float).reshape(J, D)
    a_pt = np.asarray(a_pt, float).reshape(I, D)
    b_pt = np.asarray(b_pt, float).reshape(I)
    # in-sample fit quality at the point estimate
    p = sigmoid(theta_pt @ a_pt.T - b_pt[None, :])
    mask = m_np > 0
    y = np.where(mask, k_np / np.where(mask, m_np, 1), 0.0)
    eps = 1e-9
    diagnostics["brier"] = float(np.sum(m_np * (y - p) ** 2) / m_np.sum())
    diagnostics["log_loss"] = float(
        -np.sum(k_np * np.log(p + eps) + (m_np - k_np) * np.log(1 - p + eps)) / m_np.sum()
    )
    diagnostics["accuracy_of_p"] = float(np.sum(np.where(mask, (p > 0.5) == (y > 0.5), 0)) / mask.sum())
    cfg_dict = cfg.to_dict()
    cfg_dict.update(model=kind, dims=D, fit_method=meth, steps=n_steps, seed=rng_seed, learning_rate=lr)
    return IRTFit(
        model=kind,
        dims=D,
        method=meth,
        respondents=list(responses.respondents),
        items=list(responses.items),
        theta=theta_pt,
        a=a_pt,
        b=b_pt,
        draws=draws,
        diagnostics=diagnostics,
        loss=loss_trace,
        config=cfg_dict,
    )
