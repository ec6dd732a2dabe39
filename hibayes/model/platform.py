"""JAX set-up that must happen before JAX is imported: host devices for parallel chains, the
persistent compilation cache, and a fixed hash seed for worker processes. Call these at process
entry (the CLI, the demo, the Dagster code location), never as a side effect of parsing a config.
And the devices a fit runs on (`platform.device_type`), known once JAX is imported."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DEFAULT_HOST_DEVICES = 4  # 4 chains on forced host devices beat sequential chains even on 2 cores
_FLAG = "--xla_force_host_platform_device_count"


def configure_host_devices(count: int | None = None) -> None:
    """Ask XLA for `count` CPU devices so chains run in parallel; no-op once JAX is imported."""
    if "jax" in sys.modules:
        return
    count = count or int(os.environ.get("HIBAYES_HOST_DEVICES", DEFAULT_HOST_DEVICES))
    flags = re.sub(rf"{_FLAG}=\d+", "", os.environ.get("XLA_FLAGS", "")).strip()
    os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}={count}".strip()


def pin_hash_seed_for_workers() -> None:
    """Give the processes this one starts (Dagster run workers) a fixed PYTHONHASHSEED.

    NumPyro's Trace_ELBO sums its per-site terms in the iteration order of a Python `set` of
    site names, which changes with the hash seed: every process traces a different XLA program
    for the same IRT fit, so the persistent compilation cache never hits (7 s per fit shape) and
    the float sums, hence the fits, differ in their last bits from process to process. The seed
    of a running process cannot change; `make demo` sets it for the in-process demo."""
    os.environ.setdefault("PYTHONHASHSEED", "0")


def enable_compilation_cache(cache_dir: Path) -> None:
    """Persist compiled XLA programs so a new process skips recompiling the same sampler."""
    import jax

    cache_dir.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def available_devices(device_type: str = "cpu") -> int:
    import jax

    return len(jax.devices(device_type))


def missing_platform(device_type: str) -> str | None:
    """Why fits cannot run on `device_type` here (JAX has no such device), or None when they can.
    JAX always has the CPU, so the default never imports JAX for this."""
    if device_type == "cpu":
        return None
    import jax

    try:
        jax.devices(device_type)
    except RuntimeError:
        found = ", ".join(sorted({device.platform for device in jax.devices()}))
        return f"JAX sees no {device_type.upper()} on this machine (it has: {found})"
    return None


def pinned_devices(device_type: str) -> list | None:
    """The `device_type` devices a fit must be pinned to, or None when they are those of JAX's default
    backend: the fit then runs where JAX puts it, its compiled programs (and their cache keys) as
    they always were."""
    import jax

    return None if jax.default_backend() == device_type else jax.devices(device_type)
