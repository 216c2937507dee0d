"""Canonical declarations read column by column, each conversion done once.

A :class:`Columns` wraps canonical declarations (a frame, or the loader's arrays for a request)
and caches what the stages read: a column's cells (object array, missing as None), its numbers,
its integer codes over distinct values, the day numbers, HS prefixes and entity keys. Recording
a request in the history, computing its features and writing its reasons share one ``Columns``,
so one declaration costs a few microseconds per column instead of a pandas call per stage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data.keys import Coded, combine, day_numbers, entity_keys, entity_parts, hs_prefix
from contraband.data.measures import log_measures


class Columns:
    """Canonical declarations, read once per column. Build it from a frame (``Columns(frame)``)
    or from arrays of equal length (:meth:`from_arrays`)."""

    def __init__(self, X: pd.DataFrame):
        self._frame = X
        self._arrays: dict | None = None
        self.index = X.index
        self.names = list(X.columns)
        self.n = len(X)
        self._cache: dict = {}

    @classmethod
    def from_arrays(cls, arrays: dict, index=None, frame=None) -> "Columns":
        """Columns over arrays of equal length; ``frame(arrays, index=...)`` builds the frame
        view when one is asked for (by default ``pd.DataFrame``)."""
        self = cls.__new__(cls)
        self._frame = None
        self._make_frame = frame or (lambda arrays, index: pd.DataFrame(arrays, index=index))
        self._arrays = arrays
        self.n = len(next(iter(arrays.values()))) if arrays else 0
        self.index = index if index is not None else pd.RangeIndex(self.n)
        self.names = list(arrays)
        self._cache = {}
        return self

    @property
    def X(self) -> pd.DataFrame:
        """The declarations as a frame (built on first use when made from arrays)."""
        if self._frame is None:
            self._frame = self._make_frame(self._arrays, index=self.index)
        return self._frame

    def __len__(self) -> int:
        return self.n

    def __contains__(self, name: str) -> bool:
        return name in self._names_set

    @property
    def _names_set(self) -> set:
        return self.cached("names", lambda: set(self.names))

    def raw(self, name: str):
        """The column as held: a Series (from a frame) or an array."""
        return self._arrays[name] if self._arrays is not None else self._frame[name]

    def cached(self, key, make):
        """``make()``, computed once under ``key``."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def cells(self, name: str) -> np.ndarray:
        """A column's cells as an object array (missing: None)."""
        def make():
            if name not in self:
                return np.full(self.n, None, dtype=object)
            column = self.raw(name)
            if isinstance(column.dtype, pd.CategoricalDtype):
                column = column.array if isinstance(column, pd.Series) else column
                values = np.append(np.asarray(column.categories, dtype=object), None)
                return values[np.where(column.codes < 0, len(values) - 1, column.codes)]
            if isinstance(column, np.ndarray):
                if column.dtype == object:
                    return column
                out = column.astype(object)
                out[np.isnan(column) if column.dtype.kind == "f" else np.isnat(column) if column.dtype.kind == "M"
                    else np.zeros(len(column), dtype=bool)] = None
                return out
            return column.to_numpy(dtype=object, na_value=None)
        return self.cached(("cells", name), make)

    def coded(self, name: str) -> Coded:
        def make():
            if name not in self:
                return Coded.missing(self.n)
            column = self.raw(name)
            return Coded.of(column) if isinstance(column, pd.Series) and isinstance(column.dtype, pd.CategoricalDtype) \
                else Coded.of(self.cells(name))
        return self.cached(("coded", name), make)

    def has(self, name: str) -> bool:
        """The column exists and holds at least one value."""
        if name not in self:
            return False
        if pd.api.types.is_numeric_dtype(self.raw(name).dtype):
            return bool(np.isfinite(self.number(name)).any())
        return bool((self.coded(name).codes >= 0).any())

    def number(self, name: str) -> np.ndarray:
        def make():
            if name not in self:
                return np.full(self.n, np.nan)
            column = self.raw(name)
            if column.dtype == np.float64:
                return np.asarray(column)
            return pd.to_numeric(pd.Series(column) if isinstance(column, np.ndarray) else column,
                                 errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return self.cached(("number", name), make)

    def days(self) -> np.ndarray:
        """Declaration dates as day numbers."""
        return self.cached("days", lambda: day_numbers(self.raw("declaration_date")))

    def hs(self, digits: int) -> Coded:
        return self.cached(("hs", digits), lambda: hs_prefix(self.coded("hs_code"), digits))

    def combined(self, *names: str, sep: str = "|") -> Coded:
        return self.cached(("combined", names, sep), lambda: combine(*(self.part(n) for n in names), sep=sep))

    def part(self, name: str) -> Coded:
        """A column, an HS prefix (``hs2``, ``hs4``, ``hs6``) or an entity part (``route``)."""
        if name in ("hs2", "hs4", "hs6"):
            return self.hs(int(name[2:]))
        if name in ("route", "exporter", "consignee", "declarant"):
            return self.entity_parts()[name]
        return self.coded(name)

    def measures(self) -> dict[str, np.ndarray]:
        """The declarations' log measures (:func:`~contraband.data.measures.log_measures`)."""
        return self.cached("measures", lambda: log_measures(self.number, self.coded("quantity_unit")))

    def entity_parts(self) -> dict[str, Coded]:
        return self.cached("entity_parts", lambda: entity_parts(self.coded, self.measures()))

    def entity_keys(self) -> dict[str, Coded]:
        return self.cached("entity_keys", lambda: entity_keys(self.coded, parts=self.entity_parts()))

    def without(self, names) -> "Columns":
        """The same declarations without some columns (say, ``truth_*``)."""
        drop = set(names)
        if not drop & self._names_set:
            return self
        if self._arrays is not None:
            return Columns.from_arrays({k: v for k, v in self._arrays.items() if k not in drop}, self.index,
                                       self._make_frame)
        return Columns(self._frame.drop(columns=[n for n in self.names if n in drop]))


def take(columns: Columns, keep: np.ndarray) -> Columns:
    """The declarations where ``keep`` (a boolean mask) holds, as new :class:`Columns`."""
    keep = np.asarray(keep, dtype=bool)
    if keep.all():
        return columns
    if columns._arrays is not None:
        return Columns.from_arrays({k: np.asarray(v)[keep] if isinstance(v, np.ndarray) else v[keep]
                                    for k, v in columns._arrays.items()}, columns.index[keep], columns._make_frame)
    return Columns(columns._frame[keep])


def as_columns(X) -> Columns:
    return X if isinstance(X, Columns) else Columns(X)
