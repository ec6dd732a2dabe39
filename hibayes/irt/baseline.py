"""A plain NumPy/SciPy 2PL fit: penalised joint maximum likelihood with L-BFGS-B.

The reference the NumPyro fit is benchmarked against, and an independent cross-check in tests.
logit = a_i theta_j - b_i (slope-intercept, as in models.py), a_i = exp(l_i). Penalties (the
log densities of N(0, 1) on theta and on l, N(0, 3^2) on b) keep perfect items and respondents
finite and fix the scale; afterwards theta is standardised (a rescaled to keep the logits), the
same convention as the NumPyro fits. No JAX.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize
from scipy.special import expit

__all__ = ["JMLFit", "fit_2pl_jml"]


@dataclass
class JMLFit:
    theta: np.ndarray  # (J,)
    a: np.ndarray  # (I,)
    b: np.ndarray  # (I,)
    diagnostics: dict[str, Any] = field(default_factory=dict)


def fit_2pl_jml(successes: np.ndarray, trials: np.ndarray | None = None, *, maxiter: int = 500,
                tol: float = 1e-7) -> JMLFit:
    """Fit the 2PL to a (J, I) matrix of successes (0/1, or counts with `trials`; trials 0 = missing)."""
    t0 = time.perf_counter()
    k = np.asarray(successes, dtype=np.float64)
    m = np.ones_like(k) if trials is None else np.asarray(trials, dtype=np.float64)
    k = np.where(m > 0, np.nan_to_num(k), 0.0)
    J, I = k.shape
    p_item = (k.sum(0) + 0.5) / (m.sum(0) + 1.0)
    p_resp = (k.sum(1) + 0.5) / (m.sum(1) + 1.0)
    l_resp = np.log(p_resp / (1 - p_resp))
    th0 = (l_resp - l_resp.mean()) / (l_resp.std() + 1e-9)
    x0 = np.concatenate([th0, np.zeros(I), -np.log(p_item / (1 - p_item))])

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        th, la, b = x[:J], x[J:J + I], x[J + I:]
        a = np.exp(la)
        eta = np.outer(th, a) - b
        # Binomial log-likelihood kernel: k * eta - m * log(1 + e^eta)
        ll = float(np.sum(k * eta - m * np.logaddexp(0.0, eta)))
        r = k - m * expit(eta)  # d ll / d eta
        g_th = -(r @ a) + th
        g_la = -(th @ r) * a + la
        g_b = r.sum(axis=0) + b / 9.0
        nll = -ll + 0.5 * (th @ th) + 0.5 * (la @ la) + 0.5 * (b @ b) / 9.0
        return nll, np.concatenate([g_th, g_la, g_b])

    res = optimize.minimize(objective, x0, jac=True, method="L-BFGS-B",
                            options={"maxiter": maxiter, "gtol": tol})
    th, a, b = res.x[:J], np.exp(res.x[J:J + I]), res.x[J + I:]
    mu, sd = th.mean(), th.std() + 1e-12
    # logit = a * theta - b = (a * sd) * ((theta - mu) / sd) - (b - a * mu)
    theta_std = (th - mu) / sd
    return JMLFit(theta=theta_std, a=a * sd, b=b - a * mu,
                  diagnostics={"iterations": int(res.nit), "converged": bool(res.success),
                               "message": str(res.message), "nll": float(res.fun),
                               "elapsed_s": time.perf_counter() - t0})
