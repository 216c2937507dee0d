"""Moving the per-entity series by what was recorded: the changes a set of versions makes, merged
a kind (or a slice of keys) at a time, in short transactions that note how far they got (what a
recovery resumes from), and the rebuild from the stored declarations and outcomes."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from contraband.data.history import schema as S
from contraband.data.history.connection import _among, _batches, _upsert
from contraband.data.history.contributions import (
    contributions,
    difference,
    outcome_steps,
)
from contraband.data.history.opening import StoreError
from contraband.data.history.series import COUNTS, NEVER, Changes, SeriesTable, key_ranks, merge
from contraband.data.history.versions import counted
from contraband.data.keys import ALL_KINDS, DISTINCT, first_part
from sqlalchemy import delete, select

_MERGE_KEYS = 16_384  # series read, merged and written at once (bounds a bulk write's memory)
#: a writer holds the writers' lock about this long at a time while it records a batch
LOCK_SECONDS = 0.01
_SLICE_KEYS = 256  # series keys moved in a recording's first slice (then adapted to LOCK_SECONDS)


class SeriesMoves:
    """Series changes into the store (mixed into :class:`~contraband.data.history.store.HistoryStore`)."""

    @staticmethod
    def _deltas(new_decl, new_v, old_decl, old_v) -> dict[str, pd.DataFrame]:
        """What the series gain going from the old versions and outcomes to the new ones."""
        return difference(contributions(counted(new_decl), outcome_steps(new_v), +1),
                          contributions(counted(old_decl), outcome_steps(old_v), -1))

    def _write_merged(self, conn, deltas) -> None:
        """Merge the deltas (kind -> changes, or (kind, changes) pairs made one at a time) into
        the series and write them, a kind at a time: one kind's series in memory at once, not
        every kind's."""
        for table in self._merged_series(conn, deltas):
            self._write_series(conn, table)
            del table

    def _merged_series(self, conn, deltas):
        """The new contents of every series the deltas touch, one kind (or, for many keys, one
        slice of a kind's keys in key order) at a time, for the caller to write before the next
        is read (pairs move their distinct counts, merged last)."""
        distinct_deltas: dict[str, list[Changes]] = {}
        pairs = deltas.items() if isinstance(deltas, dict) else deltas
        for kind, d in ((kind, part) for kind, whole in pairs for part in _key_batches(whole, _MERGE_KEYS)):
            current = self._read_series(conn, kind, pd.unique(d["key"].to_numpy(dtype=object)))
            merged = merge(current, d)
            for distinct, changes in _distinct_changes(kind, current, merged):
                distinct_deltas.setdefault(distinct, []).append(changes)
            del current
            yield merged
            del merged  # before the next kind is read
        for kind, parts in distinct_deltas.items():
            d = Changes.total(parts)
            if d is not None:
                yield merge(self._read_series(conn, kind, d.keys()), d)

    def _move_slice(self, conn, kind: str, changes: Changes, keys: np.ndarray) -> None:
        """One slice of a kind's changes (whose distinct ``keys`` are given) into its series,
        with the distinct counts they move."""
        current = self._read_series(conn, kind, keys)
        merged = merge(current, changes)
        distinct = _distinct_changes(kind, current, merged)
        self._write_series(conn, merged)
        for name, moved in distinct:
            moved = Changes.total([moved])
            if moved is not None:
                self._write_series(conn, merge(self._read_series(conn, name, moved.keys()), moved))

    def _move_series(self, ingest: int, deltas, progress: dict | None = None) -> None:
        """Move the series by a recording's changes (``(kind, changes)`` pairs, kinds in
        :data:`ALL_KINDS` order), a slice of keys per short transaction (about
        :data:`LOCK_SECONDS` each), noting in the ingest how far it got (``progress``: the
        last key moved of each kind) so that a recovery goes on from there; then mark the
        ingest complete."""
        progress = dict(progress or {})
        keys = _SLICE_KEYS
        mark = None
        for kind, d in deltas:
            d = Changes.of(d).by_key()
            if kind in progress:
                d = d.take(d.key > progress[kind])
            names = d.key
            starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]]) if len(names) else np.zeros(0, np.int64)
            k = 0
            while k < len(starts):
                end = min(k + keys, len(starts))
                a, b = starts[k], starts[end] if end < len(starts) else len(d)
                t0 = time.perf_counter()
                with self._write() as conn:
                    mark = mark or ("?" if conn.dialect.paramstyle == "qmark" else "%s")
                    self._move_slice(conn, kind, d.take(slice(a, b)), names[starts[k:end]])
                    progress[kind] = names[b - 1]
                    conn.exec_driver_sql(f"UPDATE ingests SET progress = {mark} WHERE ingest = {mark}",
                                         (json.dumps(progress), ingest))
                keys = _adapt(keys, time.perf_counter() - t0)
                k = end
        with self._write() as conn:
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(f"UPDATE ingests SET state = NULL, progress = NULL WHERE ingest = {mark}", (ingest,))

    def _write_series(self, conn, table: SeriesTable) -> None:
        empty = np.diff(table.offsets) == 0
        blobs = table.blobs()
        order = sorted(range(len(table.keys)), key=table.keys.__getitem__)  # in key order: B-tree appends
        rows = [(table.kind, table.keys[i], blobs[i]) for i in order if not empty[i]]
        _upsert(conn, S.series, ["kind", "key", "data"], rows, ("kind", "key"))
        for batch in _batches(table.keys[empty]):
            conn.execute(delete(S.series).where(S.series.c.kind == table.kind, _among(conn, S.series.c.key, batch)))

    def rebuild(self) -> None:
        """Recompute every series from the stored declarations (every version) and outcomes (a
        repair). Unfinished recordings whose writer died are finished by it; while a batch run
        is recording, a rebuild is refused."""
        held = []
        try:
            with self._write() as conn:
                for ingest in sorted(self._recording_ingests(conn)):
                    lock = self._liveness.take(ingest, wait=False)
                    if lock is None:
                        raise StoreError(f"{self.url}: a batch run is recording into this store (ingest {ingest}); "
                                         "rebuild when it has ended")
                    held.append(lock)
                self._rebuild(conn)
                mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
                conn.exec_driver_sql(f"UPDATE ingests SET state = NULL, progress = NULL WHERE state = {mark}",
                                     (S.RECORDING,))
        finally:
            for lock in held:
                lock.release(remove=True)

    def _rebuild(self, conn) -> None:
        decl = self._stored(conn, conn.execute(select(S.declarations.c.declaration_id)).scalars().all())
        versions = pd.DataFrame(conn.execute(select(*S.outcomes.c)).all(), columns=S.OUTCOME_COLUMNS)
        conn.execute(delete(S.series))
        self._write_merged(conn, contributions(counted(decl), outcome_steps(versions), +1))


def _negated(deltas: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {kind: d.assign(**{c: -d[c] for c in COUNTS}) for kind, d in deltas.items()}


def _in_kind_order(deltas: dict[str, pd.DataFrame]):
    """(kind, changes) pairs in :data:`ALL_KINDS` order (the order a recording moves them in)."""
    return ((k, deltas[k]) for k in ALL_KINDS if k in deltas)


def _key_batches(deltas: pd.DataFrame, size: int):
    """``deltas`` in parts of at most ``size`` distinct keys, in key order (writes then land in
    one region of the series' B-tree at a time); the whole frame when it has fewer keys."""
    ranks = key_ranks(deltas["key"].to_numpy(dtype=object))
    if not len(ranks) or ranks.max() < size:
        yield deltas
        return
    batch = ranks // size
    order = np.argsort(batch, kind="stable")
    edges = np.searchsorted(batch[order], np.arange(int(batch.max()) + 2))
    for a, b in zip(edges[:-1], edges[1:]):
        yield deltas.iloc[order[a:b]]


def _distinct_changes(kind: str, current: SeriesTable, merged: SeriesTable) -> list[tuple[str, Changes]]:
    """The distinct-partner counts a merge of a pair kind moves: an owner gains a partner on the
    pair's new first day and loses it on the old one."""
    out = []
    for distinct, pair in DISTINCT.items():
        if pair != kind:
            continue
        before = np.full(len(merged), NEVER, dtype=np.int64)
        code = current.codes(merged.keys)
        before[code >= 0] = current.first_days()[code[code >= 0]]
        after = merged.first_days()
        moved = before != after
        if moved.any():
            owner = first_part(merged.keys[moved])
            for days, sign in ((before[moved], -1), (after[moved], +1)):
                ok = days != NEVER
                counts = np.zeros((int(ok.sum()), len(COUNTS)), dtype=np.int64)
                counts[:, 0] = sign
                out.append((distinct, Changes(np.asarray(owner[ok], dtype=object), days[ok], counts)))
    return out


def _adapt(size: int, seconds: float, low: int = 16, high: int = 65_536) -> int:
    """The next slice's size, aiming at :data:`LOCK_SECONDS` of lock per slice (growing by half
    at most: a slice's cost follows its series' lengths as much as their number)."""
    if seconds <= 0:
        return min(high, size * 3 // 2)
    return int(min(high, max(low, min(size * 3 // 2, size * LOCK_SECONDS / seconds))))


class _PendingSeries:
    """Series changes of a transaction's chunks, held compactly until it commits."""

    def __init__(self):
        self.parts: list[dict[str, pd.DataFrame]] = []
        self.changes = 0

    def add(self, deltas: dict[str, pd.DataFrame]) -> None:
        small = {}
        for kind, d in deltas.items():
            c = Changes.of(d)
            small[kind] = Changes(c.key, c.day.astype(np.int32), c.counts.astype(np.int32))
            self.changes += len(d)
        self.parts.append(small)

    def drain(self):
        """(kind, summed changes) pairs, one kind at a time in :data:`ALL_KINDS` order, each
        kind's parts let go as it is summed."""
        parts, self.parts, self.changes = self.parts, [], 0
        for kind in (k for k in ALL_KINDS if any(k in p for p in parts)):
            changes = Changes.total([p.pop(kind) for p in parts if kind in p])
            if changes is not None:
                yield kind, changes
