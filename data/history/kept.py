"""A batch's series reads: every kind read whole once and kept for the batch's parts.

A part of a large batch names so many keys of most kinds that the store would read every
series of those kinds anyway (:meth:`AsOfReads.series_many`, :meth:`AsOfReads.partners`), and
the next part would read them again; a smaller block of declarations (what bounds the features'
memory) would read them by keys, a statement per few hundred. :class:`KeptSeries` stands in for
the store while a large batch scores: each kind is read whole the first time it is asked for,
kept within a memory budget, and serves every later block (a superset of the keys asked for, as
a whole read is). A kind beyond the budget is read from the store at each request, as without
it. Each kind is as it stood when first read; the batch's own declarations are recorded before
any is scored.
"""

from __future__ import annotations

import numpy as np

from contraband.data.history.series import SeriesTable

#: the kept kinds' memory at most (a store of 3.3 million declarations: 270 MB for every kind)
KEPT_BYTES = 320 * 2**20


def _size(table: SeriesTable) -> int:
    """About how much memory a table holds (its arrays, and about 70 bytes a key)."""
    return table.day.nbytes + table.cum.nbytes + table.offsets.nbytes + 70 * len(table.keys)


class KeptSeries:
    """The store's reads for a large batch's scoring, every kind kept (see the module's
    docstring); anything else is the store's own."""

    def __init__(self, store, budget: int = KEPT_BYTES):
        self.store = store
        self.budget = budget
        self.kept: dict[str, SeriesTable] = {}
        self.too_large: set[str] = set()  # kinds beyond the budget: read by keys at each request
        self.held = 0

    def _whole(self, kind: str) -> SeriesTable | None:
        """The kind's every series, read once (None when it does not fit the budget)."""
        if kind not in self.kept and kind not in self.too_large:
            table = self.store.series(kind)
            size = _size(table)
            if self.held + size > self.budget:
                self.too_large.add(kind)
                return None
            self.kept[kind], self.held = table, self.held + size
        return self.kept.get(kind)

    def series_many(self, wanted: dict[str, np.ndarray], columns=None) -> dict[str, SeriesTable]:
        out = {kind: self._whole(kind) for kind in wanted}
        rest = {kind: keys for kind, keys in wanted.items() if out[kind] is None}
        if rest:
            out.update(self.store.series_many(rest, columns))
        return out

    def partners(self, pair: str, owners) -> SeriesTable:
        table = self._whole(pair)
        return table if table is not None else self.store.partners(pair, owners)

    def prepare(self) -> None:
        """Every kept table's lookups made now (:meth:`SeriesTable.prepare`), before processes fork."""
        for table in self.kept.values():
            table.prepare()

    def __getattr__(self, name: str):
        return getattr(self.store, name)
