"""Refits that start where the previous fit's chains ended.

A new log usually moves a posterior a little. A cold NUTS fit spends its warmup finding the
typical set and adapting a step size and a mass matrix from scratch; a refit of the same model on
slightly changed data can start each chain at the previous fit's last draw (unconstrained), with
that chain's adapted step size and diagonal inverse mass matrix, and needs only a short warmup: it
re-tunes the step size by dual averaging (the mass matrix is kept) and doubles as burn-in from
the old posterior to the new one. The draws kept are as many as a cold fit keeps, from a tuned
sampler, and the fit's own checks judge them as any fit's. A warm start that would fail the
analysis's own r_hat or divergences thresholds (where it sets none: that is worse than the fit it
started from) is redone cold, so a warm start never fails a check that the cold fit would have
been given its own chance at.

The state lives next to the fit as `<fit>.warm.npz`: plain arrays, loaded with `allow_pickle=False`.
A warm start is used only for the same model spec and the same number of chains, and only when
the model's unconstrained sites have the stored shapes (a new level, say a new model in the data,
changes them: the fit is then cold, without a compile). The step size and mass matrix reach the
compiled sampler as arguments, not constants, so one XLA program serves every warm refit of a
model and the compilation cache keeps it.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hibayes import artifacts
from hibayes.artifacts import Location

log = logging.getLogger(__name__)

MAX_R_HAT = 1.01  # the r_hat checker's default threshold
_META = "__warm_start_meta__"


class WarmStartMismatch(ValueError):
    """The stored chains do not fit the model as it is now (its sites or their shapes changed)."""


@dataclass(frozen=True)
class WarmStart:
    """Where each chain of a fit ended: its unconstrained position, step size and diagonal
    inverse mass matrix (over every site, in NumPyro's flattening: sites sorted by name)."""

    spec_digest: str
    positions: dict[str, np.ndarray]  # site -> (chains, ...)
    step_size: np.ndarray  # (chains,)
    inverse_mass_matrix: np.ndarray  # (chains, size)
    divergences: int  # of the fit these chains ended
    r_hat: float  # its largest R-hat
    # What a warm start from here must keep to be used (the analysis's own thresholds); None: no
    # worse than the fit these chains ended, R-hat up to MAX_R_HAT at least. Not stored.
    max_r_hat: float | None = None
    max_divergences: int | None = None

    def limits(self, max_r_hat: float | None, max_divergences: int | None) -> WarmStart:
        return replace(self, max_r_hat=max_r_hat, max_divergences=max_divergences)

    @property
    def chains(self) -> int:
        return int(self.step_size.shape[0])

    def save(self, path: Location) -> None:
        """Write the state to `path` in the artifact store, whole or not at all."""
        meta = {"spec_digest": self.spec_digest, "sites": list(self.positions), "divergences": self.divergences, "r_hat": self.r_hat}
        arrays = {f"z/{name}": value for name, value in self.positions.items()}
        buffer = io.BytesIO()
        np.savez(
            buffer, **arrays, step_size=self.step_size, inverse_mass_matrix=self.inverse_mass_matrix,
            **{_META: np.array(json.dumps(meta))},
        )
        artifacts.write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Location) -> WarmStart | None:
        """The stored state, or None when there is none or it cannot be read (then the fit is cold)."""
        if not artifacts.exists(path):
            return None
        try:
            with np.load(io.BytesIO(artifacts.read_bytes(path)), allow_pickle=False) as stored:
                meta = json.loads(str(stored[_META]))
                return cls(
                    meta["spec_digest"],
                    {name: stored[f"z/{name}"] for name in meta["sites"]},
                    stored["step_size"],
                    stored["inverse_mass_matrix"],
                    int(meta["divergences"]),
                    float(meta["r_hat"]),
                )
        except (OSError, ValueError, KeyError) as err:
            log.warning("%s: unreadable warm-start state (%s); fitting cold", path, err)
            return None

    def chain_arguments(self) -> dict[str, Any]:
        """The per-chain initial arguments of `warm_nuts`'s kernel (leading axis: chains)."""
        return {"positions": self.positions, "step_size": self.step_size, "inverse_mass_matrix": self.inverse_mass_matrix}


def state_path(fit_path: Location) -> Location:
    """Next to the fit, in the same artifact store."""
    return artifacts.with_suffix(fit_path, ".warm.npz")


def health(mcmc: Any) -> tuple[int, float]:
    """A finished run's divergences and largest rank-normalised split R-hat."""
    return _divergences(mcmc), _max_r_hat(mcmc)


def from_mcmc(mcmc: Any, spec_digest: str, run_health: tuple[int, float] | None = None) -> WarmStart | None:
    """The warm-start state of a finished NumPyro NUTS/HMC run of several chains (`last_state`,
    chains on the leading axis), or None when its mass matrix is not one diagonal block over
    every site. `run_health`: its `health`, when already computed."""
    last_state = mcmc.last_state
    adapt = last_state.adapt_state
    blocks = adapt.inverse_mass_matrix
    every_site = tuple(sorted(last_state.z))
    if not isinstance(blocks, dict) or list(blocks) != [every_site]:
        return None  # a dense or block-structured mass matrix
    matrix = np.asarray(blocks[every_site])
    step_size = np.atleast_1d(np.asarray(adapt.step_size))
    if matrix.ndim != 2 or matrix.shape[0] != step_size.shape[0]:
        return None  # one chain, without a chain axis
    positions = {name: np.asarray(value) for name, value in last_state.z.items()}
    return WarmStart(spec_digest, positions, step_size, matrix, *(run_health or health(mcmc)))


def _max_r_hat(mcmc: Any) -> float:
    from hibayes import idata as idata_api

    return idata_api.max_r_hat(mcmc.get_samples(group_by_chain=True))


def _divergences(mcmc: Any) -> int:
    return int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())


def rejection(run_health: tuple[int, float], warm: WarmStart) -> str:
    """Why a warm-started run's draws are not kept ("" when they are): more divergences, or a
    larger rank-normalised split R-hat (its `health`), than `warm`'s limits allow (see
    `WarmStart.limits`)."""
    diverged, r_hat = run_health
    most_divergences = warm.divergences if warm.max_divergences is None else warm.max_divergences
    if diverged > most_divergences:
        return f"diverged {diverged} times (at most {most_divergences} kept)"
    largest_r_hat = max(warm.r_hat, MAX_R_HAT) if warm.max_r_hat is None else warm.max_r_hat
    if r_hat > largest_r_hat:
        return f"has chains that disagree (R-hat {r_hat:.3f} > {largest_r_hat:.3f})"
    return ""


def warm_nuts(nuts_class: type) -> type:
    """A subclass of NumPyro's `NUTS` (or `HMC`) whose `init_params` may be one chain's
    `WarmStart.chain_arguments()`: the chain starts at those positions with that step size and
    inverse mass matrix. Built lazily so that importing this module does not import NumPyro."""
    import jax

    class WarmNUTS(nuts_class):  # type: ignore[misc, valid-type]
        def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs=None):  # noqa: ANN001
            model_kwargs = model_kwargs or {}
            if not (isinstance(init_params, dict) and "step_size" in init_params):
                return super().init(rng_key, num_warmup, init_params, model_args, model_kwargs)
            positions = init_params["positions"]
            _check_shapes(self, rng_key, positions, model_args, model_kwargs)
            kept = self._step_size, self._inverse_mass_matrix
            # Read by NumPyro's init only, inside this call: traced values, so not baked into the program.
            self._step_size = init_params["step_size"]
            self._inverse_mass_matrix = init_params["inverse_mass_matrix"]  # one diagonal block over every site
            try:
                return super().init(rng_key, num_warmup, positions, model_args, model_kwargs)
            finally:
                self._step_size, self._inverse_mass_matrix = kept

    def _check_shapes(kernel: Any, rng_key: Any, positions: dict[str, Any], model_args: Any, model_kwargs: Any) -> None:
        from numpyro.infer.util import initialize_model

        fresh = initialize_model(rng_key, kernel.model, model_args=model_args, model_kwargs=model_kwargs, dynamic_args=True)[0].z
        expected = {name: jax.numpy.shape(value) for name, value in fresh.items()}
        stored = {name: jax.numpy.shape(value) for name, value in positions.items()}
        if expected != stored:
            raise WarmStartMismatch(f"the model's sites are now {expected}, the stored chains' {stored}")

    WarmNUTS.__name__ = f"Warm{nuts_class.__name__}"
    return WarmNUTS
