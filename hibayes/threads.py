"""Numpy work on every core this process may use, in threads: numpy's sorts, reductions and ufuncs
release the GIL, so blocks of one large array go side by side without copying it to processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def map_on_cores(work: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`[work(item) for item in items]`, on up to `usable_cores()` threads; a failure re-raises."""
    items = list(items)
    workers = min(len(items), usable_cores())
    if workers <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, items))
