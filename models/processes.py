"""A batch's parts worked on side by side, in processes forked from the batch's own.

Scoring a part is Python and NumPy work that holds the interpreter's lock, so threads would take
turns; processes score parts at once. They are *forked* once the batch holds what every part
reads (the detector, the kept entity series: hundreds of MB), so they share those pages with the
batch instead of each reading its own copy; a part's declarations, features and results are
each process's own. Each process scores with one thread (two processes on two cores, not four
threads). Where ``fork`` is unavailable, or for one process, the parts are worked on here, one
after the other, by the same function.

:func:`batch_processes` says how many: ``CONTRABAND_BATCH_PROCESSES``, else one. More processes
trade memory for speed: on two cores, two scored the parts of 3,000,000 declarations in about
45-60 s instead of 79, and took the batch's peak from about 1.5 GB to 1.7-2.0 GB
(docs/benchmarks.md). One is the default because a batch's memory bound is what a machine's
other work relies on.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

ENV = "CONTRABAND_BATCH_PROCESSES"

_TASK: Callable | None = None  # what the forked processes run, set before they fork


class ProcessFailed(RuntimeError):
    """A process working on a part ended without finishing it (killed, or out of memory)."""


def batch_processes() -> int:
    """How many processes score a large batch's parts (see the module's docstring)."""
    said = os.environ.get(ENV, "").strip()
    if said:
        try:
            wanted = int(said)
        except ValueError:
            raise ValueError(f"{ENV} must be a whole number of processes, not {said!r}") from None
        if wanted < 1:
            raise ValueError(f"{ENV} must be at least 1, not {wanted}")
        return wanted
    return 1


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def in_parts(task: Callable[[int], object], parts: int, processes: int,
             one_thread: Callable[[], None] | None = None) -> Iterator:
    """``task(p)`` for every part ``p`` in order, its results yielded in that order: here, or in
    ``processes`` forked processes (each first calling ``one_thread``). An exception in a process
    is raised here; a process killed outright is :class:`ProcessFailed`."""
    if processes <= 1 or parts <= 1 or not can_fork():
        for p in range(parts):
            yield task(p)
        return
    global _TASK
    _TASK = task
    try:
        with ProcessPoolExecutor(min(processes, parts), mp_context=multiprocessing.get_context("fork"),
                                 initializer=one_thread) as pool:
            yield from pool.map(_run, range(parts))
    except BrokenProcessPool:
        raise ProcessFailed(f"a process scoring the batch's parts ended before its part was done (killed, or out "
                            f"of memory); the declarations read are recorded: score again, with {ENV}=1 to score "
                            f"in one process") from None
    finally:
        _TASK = None


def _run(p: int):
    return _TASK(p)
