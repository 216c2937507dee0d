"""The Dask engine's cluster: a client of the scheduler given, or of a ``LocalCluster`` on
127.0.0.1 (worker processes, no dashboard) started for the run and closed after it; and the
history store each worker process opens once (a store travels as its URL and settings)."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import distributed

from contraband.engines import EngineUnavailable

#: worker processes of a LocalCluster when --workers is not given
DEFAULT_WORKERS = 2

_stores: dict = {}
_stores_lock = threading.Lock()


def worker_store(address: dict, outcomes_until: int | None = None):
    """The history store at ``address`` (:func:`store_address`), opened once per worker process
    (a blind view of it when ``outcomes_until`` is given)."""
    from contraband.data.history import HistoryStore

    key = tuple(sorted(address.items()))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = HistoryStore.__new__(HistoryStore)
            store.__setstate__(address)
    return store if outcomes_until is None else store.blind(outcomes_until)


def close_worker_stores() -> int:
    """Close the stores this worker process opened (their write-ahead logs copied in)."""
    with _stores_lock:
        n = len(_stores)
        for store in _stores.values():
            store.close()
        _stores.clear()
    return n


def store_address(history) -> tuple[dict, int | None]:
    """What a worker needs to open ``history`` (a store, or a blind view of one): the store's
    pickled state (its URL, password included, and settings), and the view's last day."""
    store = getattr(history, "store", history)
    return store.__getstate__(), getattr(history, "outcomes_until", None)


class DaskEngine:
    """Scoring and training on a Dask cluster (see :mod:`contraband.engines`)."""

    name = "dask"

    def __init__(self, client: distributed.Client, model_threads: int | None = None):
        self.client = client
        #: LightGBM's threads in each worker (None: the model's own setting)
        self.model_threads = model_threads

    @classmethod
    @contextmanager
    def open(cls, scheduler: str | None = None, workers: int | None = None):
        cluster = None
        try:
            threads = None
            if scheduler:
                client = distributed.Client(scheduler, timeout=30)
            else:
                # one task at a time per worker process (the contract, features and recording
                # hold the GIL); LightGBM's predictions share the cores among the workers
                n = workers or DEFAULT_WORKERS
                threads = max(1, (os.cpu_count() or 1) // n)
                cluster = distributed.LocalCluster(host="127.0.0.1", n_workers=n, threads_per_worker=1,
                                                   processes=True, dashboard_address=None)
                client = distributed.Client(cluster)
        except OSError as exc:  # no scheduler at that address, or no port to listen on
            if cluster is not None:
                cluster.close()
            raise EngineUnavailable(f"cannot reach a Dask scheduler at {scheduler or 'a local cluster'}: {exc}") \
                from None
        try:
            yield cls(client, threads)
        finally:
            try:
                client.run(close_worker_stores)
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()

    @property
    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    @property
    def threads(self) -> int:
        """Threads of each worker (the fewest any worker has)."""
        info = self.client.scheduler_info(n_workers=-1)["workers"].values()
        return max(1, min((w["nthreads"] for w in info), default=1))

    def describe(self) -> str:
        return f"dask ({self.workers} worker(s) of {self.threads} thread(s), scheduler {self.client.scheduler.address})"

    def score(self, detector, paths, history, output, **options):
        from contraband.engines.dask_scoring import score_on_cluster

        return score_on_cluster(self.client, detector, paths, history, output, model_threads=self.model_threads,
                                **options)

    def fit(self, detector, train, valid, history):
        from contraband.engines.dask_training import DaskTrainer

        return detector.fit(train, valid, history, trainer=DaskTrainer(self.client, self.workers, self.threads))
