"""Engines: where batch scoring and training run, behind one narrow interface.

``open_engine(name, scheduler=None, workers=None)`` (a context manager) gives an object with

- ``score(detector, paths, history, output, **options) -> BatchReport``: files scored into one
  ranked list (the options of :func:`contraband.models.batch.score_batch`);
- ``fit(detector, train, valid, history) -> Detector``: the detector fitted on the windows.

``pandas`` (the default) runs both in this process: the streamed scorer of
:mod:`contraband.models.batch` and :meth:`Detector.fit <contraband.models.detector.Detector.fit>`.
``dask`` runs them on a Dask cluster (:mod:`contraband.engines.dask_scoring`,
:mod:`contraband.engines.dask_training`): the one at ``scheduler``, or a ``LocalCluster`` of
``workers`` processes on 127.0.0.1 started for the run and closed after it. Dask is imported
only when it is chosen; without the ``scale`` extra, choosing it says how to install it.
Both engines give the same scores: a declaration's score depends on it and on the history
before its day only, so scoring partition by partition is exact.
"""

from __future__ import annotations

from contextlib import contextmanager

ENGINES = ("pandas", "dask")


class EngineUnavailable(RuntimeError):
    """The chosen engine cannot run here (a missing extra, an unreachable scheduler)."""


class PandasEngine:
    """Everything in this process."""

    name = "pandas"

    def describe(self) -> str:
        return "pandas (this process)"

    def score(self, detector, paths, history, output, **options):
        from contraband.models.batch import score_batch

        return score_batch(detector, paths, history, output, **options)

    def fit(self, detector, train, valid, history):
        return detector.fit(train, valid, history)


@contextmanager
def open_engine(name: str = "pandas", scheduler: str | None = None, workers: int | None = None):
    """The engine ``name`` for the time of a ``with`` block (see the module's docstring)."""
    if name == "pandas":
        if scheduler or workers:
            raise ValueError("--scheduler and --workers apply to --engine dask only")
        yield PandasEngine()
    elif name == "dask":
        try:
            from contraband.engines.dask_cluster import DaskEngine
        except ImportError as exc:
            raise EngineUnavailable(f"the Dask engine needs the scale extra ({exc}): "
                                    "pip install 'contraband[scale]'") from None
        with DaskEngine.open(scheduler, workers) as engine:
            yield engine
    else:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
