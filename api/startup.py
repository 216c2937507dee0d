"""A service worker that cannot start says why in one line, and ``contraband serve`` exits non-zero.

uvicorn runs the workers. A worker whose start fails (its settings, the history store, a model
load failing other than for want of a model) must stop the whole service: a supervisor that
restarts it for ever, or exits 0 after pages of tracebacks, hides the failure from whoever runs
the service. Under ``serve`` (:func:`watching` sets :data:`FAILURE_FILE`) the worker writes its one
line to that file and leaves with uvicorn's start-up failure code, on which uvicorn's supervisor
stops the other workers; ``serve`` then prints the first line written and exits 1. The one worker
of ``serve --workers 1`` runs in the serve process itself: it prints its line and exits. Outside
``serve`` (an app built in a test) the failure is raised as :class:`StartFailure`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

#: where a worker under ``serve`` writes why it could not start
FAILURE_FILE = "CONTRABAND_START_FAILURE"
#: the ``serve`` process's id (a worker in that same process prints its line itself)
SERVE_PID = "CONTRABAND_SERVE_PID"
#: uvicorn's exit code for a worker that failed before serving (its supervisor then stops)
STARTUP_FAILURE = 3


class StartFailure(RuntimeError):
    """The app could not start (outside ``serve``)."""


def in_words(exc: BaseException) -> str:
    """An exception in one line: its kind and message, whitespace folded."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fail(reason: str) -> NoReturn:
    """Stop this worker because it cannot start, saying ``reason`` in one line."""
    line = "error: the service cannot start: " + " ".join(reason.split())
    path = os.environ.get(FAILURE_FILE)
    if not path:
        raise StartFailure(line)
    if os.environ.get(SERVE_PID) == str(os.getpid()):  # the serve process itself: say it here
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
        Path(path).unlink(missing_ok=True)
    else:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    os._exit(STARTUP_FAILURE)  # no cleanup to run: nothing was served yet


@contextmanager
def watching():
    """Around the workers' run in ``serve``: afterwards, if a worker could not start, its line
    is printed once and the process exits 1."""
    fd, path = tempfile.mkstemp(prefix="contraband-start-", suffix=".txt")
    os.close(fd)
    os.environ[FAILURE_FILE] = path
    os.environ[SERVE_PID] = str(os.getpid())
    try:
        yield
    finally:
        file = Path(path)
        said = file.read_text(encoding="utf-8").splitlines() if file.exists() else []
        file.unlink(missing_ok=True)
    if said:
        sys.stderr.write(said[0] + "\n")
        sys.exit(1)
