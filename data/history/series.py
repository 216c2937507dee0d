"""Per-entity daily aggregates, kept as one packed series per entity, and as-of reads over them.

A series holds, for one entity (kind, key), the days on which something happened to it and the
*cumulative* counts up to and including each day: declarations lodged, inspections with a known
result recorded, seizures recorded. Stored as one row per entity (a few bytes per active day),
a lookup reads one row and does one binary search, whether the entity has one declaration or a
hundred thousand; a batch reads every series of a kind at once and searches them together.

The cumulative declaration count never decreases within a series (a day's count is the number
of declarations currently recorded on it), so the first day with a declaration is well defined.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

COUNTS = ("declarations", "inspections", "seizures")
_WIDTH = 1 + len(COUNTS)  # day, then the counts; int32 each
_SHIFT = np.int64(1) << np.int64(24)  # composite (series, day) key; days < 2^24
NEVER = np.iinfo(np.int64).max


def encode(rows: np.ndarray) -> bytes:
    """One series (rows of day + cumulative counts) as bytes."""
    return np.ascontiguousarray(rows, dtype="<i4").tobytes()


@dataclass
class SeriesTable:
    """The series of one kind (or a selection of them), concatenated series after series."""

    kind: str
    keys: np.ndarray  # object: one key per series
    offsets: np.ndarray  # int64, len(keys) + 1: series i is rows offsets[i]:offsets[i+1]
    day: np.ndarray  # int64, sorted within each series
    cum: np.ndarray  # int64 (rows, 3): cumulative counts up to and including the day
    _sorted_keys: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _index: pd.Index | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def empty(cls, kind: str) -> "SeriesTable":
        return cls(kind, np.array([], dtype=object), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64),
                   np.zeros((0, len(COUNTS)), dtype=np.int64))

    @classmethod
    def from_blobs(cls, kind: str, keys, blobs) -> "SeriesTable":
        keys = np.asarray(list(keys), dtype=object)
        if not len(keys):
            return cls.empty(kind)
        lengths = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=len(keys)) // (4 * _WIDTH)
        rows = np.frombuffer(b"".join(blobs), dtype="<i4").reshape(-1, _WIDTH).astype(np.int64)
        offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(kind, keys, offsets, rows[:, 0], rows[:, 1:])

    @classmethod
    def from_rows(cls, kind: str, keys, rows: list[np.ndarray]) -> "SeriesTable":
        """A table from decoded series (rows of day + cumulative counts), one per key."""
        if not len(keys):
            return cls.empty(kind)
        offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        stacked = np.vstack(rows) if offsets[-1] else np.zeros((0, _WIDTH), dtype=np.int64)
        return cls(kind, np.asarray(list(keys), dtype=object), offsets, stacked[:, 0], stacked[:, 1:])

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def series_of_row(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.keys)), np.diff(self.offsets))

    def blobs(self) -> list[bytes]:
        """Each series as bytes (one buffer for all, cut at the series' edges)."""
        whole = np.column_stack([self.day, self.cum]).astype("<i4").tobytes()
        edges = (self.offsets * (4 * _WIDTH)).tolist()
        return [whole[s:e] for s, e in zip(edges[:-1], edges[1:])]

    def codes(self, keys: np.ndarray) -> np.ndarray:
        """Series number of each key (-1: no series, i.e. nothing recorded yet)."""
        if not len(self.keys):
            return np.full(len(keys), -1, dtype=np.int64)
        if len(self.keys) <= 256 and len(keys) <= 256:  # a request's few keys: a dict beats an index
            where = {k: i for i, k in enumerate(self.keys)}
            return np.array([where.get(k, -1) for k in keys], dtype=np.int64)
        return self._key_index().get_indexer(pd.Index(np.asarray(keys, dtype=object))).astype(np.int64)

    def before(self, codes: np.ndarray, days: np.ndarray, count: int | None = None) -> np.ndarray:
        """Cumulative counts of each series strictly before each day (0 where there is none):
        all of :data:`COUNTS` per row, or only the one at position ``count`` (one value per row)."""
        codes = np.asarray(codes, dtype=np.int64)
        which = slice(None) if count is None else count
        out = np.zeros((len(codes), len(COUNTS)) if count is None else len(codes), dtype=np.int64)
        known = codes >= 0
        if not known.any() or not len(self.day):
            return out
        if len(codes) <= 64:  # a request's few rows: search each one's own series
            for i, (c, d) in enumerate(zip(codes, np.asarray(days, dtype=np.int64))):
                if c >= 0:
                    start, end = self.offsets[c], self.offsets[c + 1]
                    pos = start + np.searchsorted(self.day[start:end], d, side="left") - 1
                    if pos >= start:
                        out[i] = self.cum[pos, which]
            return out
        every = bool(known.all())  # (then no copies of the rows known)
        c, d = codes, np.asarray(days, dtype=np.int64)
        if not every:
            c, d = c[known], d[known]
        pos = np.searchsorted(self._composite(), c * _SHIFT + d, side="left") - 1
        inside = pos >= self.offsets[c]
        values = np.zeros((len(c), len(COUNTS)) if count is None else len(c), dtype=np.int64)
        values[inside] = self.cum[pos[inside], which]
        if every:
            return values
        out[known] = values
        return out

    def _key_index(self) -> pd.Index:
        """The keys' index, made once: a batch's parts look their keys up in the same table."""
        if self._index is None:
            self._index = pd.Index(self.keys)
        return self._index

    def prepare(self) -> None:
        """Make now what lookups make on first use (the keys' hash table, the sorted days), so
        that processes forked afterwards share them instead of each making its own."""
        if len(self.keys):
            self._key_index().is_unique  # builds the index's hash table
            self._composite()

    def _composite(self) -> np.ndarray:
        """Each row's (series, day) as one sorted int64 (the key :meth:`before` searches), made once."""
        if self._sorted_keys is None:
            self._sorted_keys = self.series_of_row * _SHIFT + self.day
        return self._sorted_keys

    def first_days(self) -> np.ndarray:
        """Per series: the first day with a declaration (``NEVER`` if none)."""
        if len(self.keys) <= 64:
            return np.array([first_day(np.column_stack([self.day[s:e], self.cum[s:e]]))
                             for s, e in zip(self.offsets[:-1], self.offsets[1:])], dtype=np.int64)
        out = np.full(len(self.keys), NEVER, dtype=np.int64)
        has = self.cum[:, 0] > 0
        if has.any():
            sid = self.series_of_row[has]
            np.minimum.at(out, sid, self.day[has])
        return out

    def daily(self) -> np.ndarray:
        """The day-by-day counts (differences of the cumulative counts within each series)."""
        d = np.diff(self.cum, axis=0, prepend=np.zeros((1, len(COUNTS)), dtype=np.int64))
        starts = self.offsets[:-1][np.diff(self.offsets) > 0]
        d[starts] = self.cum[starts]
        return d


@dataclass
class Changes:
    """Day-by-day changes to the series of one kind, row by row: key, day and the counts (what a
    recording moves, kept as arrays: a slice of them costs no frame)."""

    key: np.ndarray  # object
    day: np.ndarray  # int64
    counts: np.ndarray  # int64 (rows, 3)
    in_key_order: bool = False  # known to be in key order already (as :meth:`total` gives them)

    @classmethod
    def of(cls, deltas) -> "Changes":
        """From a frame with columns key, day and the counts (or changes already)."""
        if isinstance(deltas, Changes):
            return deltas
        return cls(deltas["key"].to_numpy(dtype=object), deltas["day"].to_numpy(dtype=np.int64),
                   np.column_stack([deltas[c].to_numpy(dtype=np.int64) for c in COUNTS]).reshape(-1, len(COUNTS)))

    def __len__(self) -> int:
        return len(self.day)

    def take(self, rows) -> "Changes":
        return Changes(self.key[rows], self.day[rows], self.counts[rows])

    def by_key(self) -> "Changes":
        """The same changes in key order (ties keep their order)."""
        if self.in_key_order:
            return self
        return self.take(np.argsort(key_ranks(self.key), kind="stable"))

    def keys(self) -> np.ndarray:
        """The distinct keys, in order of first appearance."""
        return np.asarray(pd.unique(self.key), dtype=object)

    @staticmethod
    def total(parts: list["Changes"]) -> "Changes | None":
        """The parts summed by (key, day), zero rows dropped (None if nothing is left), in key
        then day order."""
        parts = [c for c in parts if len(c)]
        if not parts:
            return None
        key = np.concatenate([c.key for c in parts])
        day = np.concatenate([c.day for c in parts])
        counts = np.vstack([c.counts for c in parts])
        codes, keys = pd.factorize(key, sort=True)  # codes in key order
        composite = codes.astype(np.int64) * _SHIFT + day
        order = np.argsort(composite, kind="stable")
        composite = composite[order]
        starts = np.flatnonzero(np.r_[True, composite[1:] != composite[:-1]])
        summed = np.add.reduceat(counts[order], starts, axis=0)
        keep = (summed != 0).any(axis=1)
        if not keep.any():
            return None
        first = composite[starts][keep]
        return Changes(np.asarray(keys, dtype=object)[first // _SHIFT], first % _SHIFT,
                       summed[keep].astype(np.int64), in_key_order=True)


def key_ranks(keys: np.ndarray) -> np.ndarray:
    """Each key's rank among the distinct keys in key order (equal keys, equal ranks)."""
    codes, distinct = pd.factorize(keys)
    rank = np.empty(len(distinct), dtype=np.int64)
    rank[np.argsort(np.asarray(distinct, dtype=object), kind="stable")] = np.arange(len(distinct))
    return rank[codes]


def decode(blob: bytes) -> np.ndarray:
    """One series' rows (day, cumulative counts) from its bytes."""
    return np.frombuffer(blob, dtype="<i4").reshape(-1, _WIDTH).astype(np.int64)


def merge_one(rows: np.ndarray, day: np.ndarray, counts: np.ndarray, kind: str = "", key: str = "") -> np.ndarray:
    """:func:`merge` for one series (rows of day + cumulative counts): the few-rows path."""
    day = np.asarray(day, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, len(COUNTS))
    if len(day) == 1 and (counts >= 0).all():
        # the usual case: one day's additions (a scoring request's declaration)
        pos = int(np.searchsorted(rows[:, 0], day[0])) if len(rows) else 0
        if pos < len(rows) and rows[pos, 0] == day[0]:
            out = rows.copy()
            out[pos:, 1:] += counts[0]
            return out
        out = np.empty((len(rows) + 1, len(COUNTS) + 1), dtype=np.int64)
        out[:pos] = rows[:pos]
        out[pos, 0] = day[0]
        out[pos, 1:] = (rows[pos - 1, 1:] if pos else 0) + counts[0]
        out[pos + 1:, 0] = rows[pos:, 0]
        out[pos + 1:, 1:] = rows[pos:, 1:] + counts[0]
        return out
    daily = np.diff(rows[:, 1:], axis=0, prepend=np.zeros((1, len(COUNTS)), dtype=np.int64))
    days, inverse = np.unique(np.concatenate([rows[:, 0], np.asarray(day, dtype=np.int64)]), return_inverse=True)
    summed = np.zeros((len(days), len(COUNTS)), dtype=np.int64)
    np.add.at(summed, inverse, np.vstack([daily, np.asarray(counts, dtype=np.int64).reshape(-1, len(COUNTS))]))
    keep = (summed != 0).any(axis=1)
    cum = np.cumsum(summed[keep], axis=0)
    if (cum < 0).any():
        raise ValueError(f"history of {kind} {key!r} would count below zero: the store is inconsistent "
                         "(run `contraband history rebuild`)")
    return np.column_stack([days[keep], cum])


def first_day(rows: np.ndarray) -> int:
    """The first day with a declaration in one series (``NEVER`` if none)."""
    has = np.flatnonzero(rows[:, 1] > 0)
    return int(rows[has[0], 0]) if len(has) else int(NEVER)


def merge(current: SeriesTable, deltas) -> SeriesTable:
    """Add day-by-day ``deltas`` (:class:`Changes`, or a frame with columns key, day and the
    counts) to the series they name.

    ``current`` must hold every existing series the deltas touch (it may hold others, which are
    left out of the result). Returns the new contents of the touched series only. Days whose
    counts all cancel to zero are dropped; a count that would go negative is an error.
    """
    kind = current.kind
    deltas = Changes.of(deltas)
    new_sid, keys = pd.factorize(deltas.key)
    keys = np.asarray(keys, dtype=object)
    existing_code = current.codes(keys)
    lengths = np.where(existing_code >= 0, current.offsets[existing_code + 1] - current.offsets[np.maximum(existing_code, 0)], 0)
    old_sid = np.repeat(np.arange(len(keys)), lengths)
    starts = np.where(existing_code >= 0, current.offsets[np.maximum(existing_code, 0)], 0)
    first_out = np.cumsum(lengths) - lengths  # where each series' rows start among the old rows
    old_rows = np.repeat(starts - first_out, lengths) + np.arange(int(lengths.sum()))
    old_daily = current.daily()[old_rows] if len(old_rows) else np.zeros((0, len(COUNTS)), dtype=np.int64)
    sid = np.concatenate([old_sid, new_sid]).astype(np.int64)
    day = np.concatenate([current.day[old_rows], deltas.day])
    counts = np.vstack([old_daily, deltas.counts])
    composite = sid * _SHIFT + day
    order = np.argsort(composite, kind="stable")
    composite = composite[order]
    starts = np.flatnonzero(np.r_[True, composite[1:] != composite[:-1]])
    summed = np.add.reduceat(counts[order], starts, axis=0) if len(starts) else counts[:0]
    sid, day = composite[starts] // _SHIFT, composite[starts] % _SHIFT
    keep = (summed != 0).any(axis=1)
    sid, day, summed = sid[keep], day[keep], summed[keep]
    cum = np.cumsum(summed, axis=0)
    lengths = np.bincount(sid, minlength=len(keys))
    offsets = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if len(cum):
        cum -= np.vstack([np.zeros((1, len(COUNTS)), dtype=np.int64), cum])[offsets[:-1]][sid]
    if (cum < 0).any():
        bad = keys[sid[(cum < 0).any(axis=1)][0]]
        raise ValueError(f"history of {kind} {bad!r} would count below zero: the store is inconsistent "
                         "(run `contraband history rebuild`)")
    return SeriesTable(kind, np.asarray(keys, dtype=object), offsets, day, cum)
