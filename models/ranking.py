"""Ranking: the one order of declarations by risk, for a request, a streamed file and Dask alike.

1 is the highest margin; equal margins are ordered by declaration id, so a declaration's rank
depends on the margins and ids of the rows ranked with it, never on their order or chunking.
"""

from __future__ import annotations

import numpy as np


def ranks(margin: np.ndarray, ids) -> np.ndarray:
    """The ranks of one request's rows (``ids`` in the same order as ``margin``)."""
    ids = np.asarray(ids, dtype=object)
    return global_ranks(np.asarray(margin, dtype=np.float64), lambda rows: ids[rows])


def global_ranks(margin: np.ndarray, ids_of) -> np.ndarray:
    """1 = highest margin over the whole input, ties broken by declaration id (code point order),
    so the input's order never matters. ``ids_of(rows)`` gives the ids of some rows (only rows
    whose margin is tied are asked for, a slice at a time).

    Memory: 4 bytes a row for the order (8 from 2^31 rows; the sort holds 8 more for a moment), 8
    for the ranks, and for tied rows 8 more and their ids' first 16 bytes; the ties are sorted a
    slice of whole runs at a time."""
    n = len(margin)
    index = _index_type(n)
    # descending; the order among equal margins does not matter: every tie is broken by id below
    order = np.argsort(margin)[::-1].astype(index)
    if n > 1:
        ordered = margin[order]
        same = ordered[1:] == ordered[:-1]
        del ordered
        if same.any():
            at, group = _equal_runs(same)
            del same
            rows = order[at]
            order[at] = rows[_tie_order(rows, group, ids_of)]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(1, n + 1)
    return rank


def _index_type(n: int):
    return np.int32 if n < 2**31 - 1 else np.int64


def _equal_runs(same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Given ``same[i]``: element i+1 equals element i (of a sorted sequence), the positions of
    the elements equal to a neighbour and the number of the run of equals each belongs to (non-
    decreasing along the positions)."""
    index = _index_type(len(same) + 1)
    member = np.zeros(len(same) + 1, dtype=bool)
    member[1:] |= same
    member[:-1] |= same
    at = np.flatnonzero(member).astype(index)
    del member
    starts = np.empty(len(same) + 1, dtype=bool)
    starts[0] = True
    np.logical_not(same, out=starts[1:])
    return at, np.cumsum(starts, dtype=index)[at]


_TIE_SLICE = 1 << 20  # tied rows whose ids are read, or sorted, at once
_PREFIX = 16  # bytes of an id that order tied rows before whole ids are read


def _id_prefixes(ids) -> np.ndarray:
    """The first 16 bytes of each id (UTF-8, zero-padded) as two big-endian integers per id: their
    order is the ids' order (code points), except between ids that share those bytes."""
    raw = np.array([str(i).encode("utf-8")[:_PREFIX] for i in ids], dtype=f"S{_PREFIX}")
    return raw.view(">u8").reshape(-1, _PREFIX // 8).astype(np.uint64)


def _tie_order(rows: np.ndarray, group: np.ndarray, ids_of) -> np.ndarray:
    """The order of tied rows by (group, declaration id); ``group`` is non-decreasing. Holds 16
    bytes per tied row: ids are read a slice at a time (in input order, so each slice reads few
    chunks) and kept as their first 16 bytes; the rows are then sorted a slice of whole groups at
    a time, and whole ids read again only for rows whose group and prefix coincide."""
    prefix = np.empty((len(rows), _PREFIX // 8), dtype=np.uint64)
    by_position = np.argsort(rows, kind="stable")
    for start in range(0, len(rows), _TIE_SLICE):
        take = by_position[start:start + _TIE_SLICE]
        prefix[take] = _id_prefixes(ids_of(rows[take]))
    del by_position
    order = np.empty(len(rows), dtype=rows.dtype)
    for a, b in _whole_groups(group, _TIE_SLICE):
        local = np.lexsort((*prefix[a:b].T[::-1], group[a:b]))
        g, p = group[a:b][local], prefix[a:b][local]
        clash = (g[1:] == g[:-1]) & (p[1:] == p[:-1]).all(axis=1)
        if clash.any():
            at, run = _equal_runs(clash)
            ids = np.asarray([str(i) for i in ids_of(rows[a:b][local[at]])], dtype=object).astype(str)
            local[at] = local[at][np.lexsort((ids, run))]
        order[a:b] = a + local
    return order


def _whole_groups(group: np.ndarray, size: int):
    """(start, stop) slices of a non-decreasing ``group`` of about ``size`` elements, never
    cutting a group (one larger than ``size`` is a slice of its own)."""
    a, n = 0, len(group)
    while a < n:
        b = min(a + size, n)
        if b < n:
            cut = int(np.searchsorted(group, group[b], side="left"))
            b = cut if cut > a else int(np.searchsorted(group, group[b], side="right"))
        yield a, b
        a = b
