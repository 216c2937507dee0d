"""What the product tracks about each declaration: its day and the keys of its entities.

Every statistic of the history is counted per *entity kind* and key:

- traders and goods: ``exporter``, ``consignee``, ``declarant``, ``hs6``;
- routes: ``route`` (origin>export>transit>destination, as an analyst reads it) and
  ``hs4_route`` (the route for this HS heading: how usual it is for this kind of goods);
- pairs, counted for whether and since when they were seen: ``exporter_route``,
  ``exporter_hs4``, ``consignee_exporter`` and ``exporter_consignee`` (the trade graph, read
  from either side: a pair's series lists its first day, and the pairs of one owner are found by
  the prefix of their keys), ``declarant_exporter``, ``route_exporter``;
- distinct partners, derived from the pairs: ``exporter_hs4s`` (HS headings an exporter has
  traded), ``consignee_exporters`` (exporters a consignee has received from),
  ``declarant_exporters`` (exporters a declarant has filed for) and ``route_exporters``
  (exporters seen on a route), each counted on the day the partner first appeared;
- the exporter's own norm: ``exporter_hs6`` (its declarations of an HS6 code), and per measure of
  :data:`~contraband.data.measures.OWN_BINS` (``exporter_hs6_kg_per_unit``, ...) its declarations
  of that code by bin of the measure (key: exporter, HS6, bin number), so that the history of
  what it has declared before, and how often, is a prefix read.

Keys are text; the parts of a composite key are joined by :data:`SEP`. A declaration whose
entity is not recorded (no exporter id, say) has no key of that kind and adds nothing to it.
Keys are computed once per distinct combination of values, not once per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from contraband.data.measures import OWN_BINS, bin_of, log_measures

#: day numbers count whole days from this date (a declaration dated DAY0 is day 0)
DAY0 = pd.Timestamp("2000-01-01")
#: joins the parts of a composite key (ASCII unit separator: never inside an id or a code)
SEP = "\x1f"


@dataclass(frozen=True)
class Kind:
    name: str
    parts: tuple[str, ...]
    #: inspection outcomes are counted for this kind (the others count declarations only)
    outcomes: bool = True


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("exporter", ("exporter",)),
    Kind("consignee", ("consignee",)),
    Kind("declarant", ("declarant",)),
    Kind("hs6", ("hs6",)),
    Kind("route", ("route",)),
    Kind("hs4_route", ("hs4", "route")),
    Kind("exporter_route", ("exporter", "route"), outcomes=False),
    Kind("exporter_hs4", ("exporter", "hs4"), outcomes=False),
    Kind("consignee_exporter", ("consignee", "exporter"), outcomes=False),
    Kind("exporter_consignee", ("exporter", "consignee"), outcomes=False),
    Kind("declarant_exporter", ("declarant", "exporter"), outcomes=False),
    Kind("route_exporter", ("route", "exporter"), outcomes=False),
    Kind("exporter_hs6", ("exporter", "hs6"), outcomes=False),
    *(Kind(f"exporter_hs6_{m}", ("exporter", "hs6", f"{m}_bin"), outcomes=False) for m in OWN_BINS),
)}
#: distinct-partner kinds: key = the pair's first part, counts = partners first seen that day
DISTINCT: dict[str, str] = {"exporter_hs4s": "exporter_hs4", "consignee_exporters": "consignee_exporter",
                            "declarant_exporters": "declarant_exporter", "route_exporters": "route_exporter"}
ALL_KINDS: tuple[str, ...] = tuple(KINDS) + tuple(DISTINCT)


_DAY0 = np.datetime64("2000-01-01", "D")


def day_numbers(dates) -> np.ndarray:
    """Dates (anything ``pd.to_datetime`` reads) as whole days since :data:`DAY0` (int64)."""
    if isinstance(dates, (pd.Series, np.ndarray)) and pd.api.types.is_datetime64_dtype(dates.dtype):
        return (np.asarray(dates).astype("datetime64[D]") - _DAY0).astype("int64")
    d = pd.to_datetime(pd.Series(dates) if not isinstance(dates, pd.Series) else dates)
    return ((d - DAY0) // pd.Timedelta(days=1)).to_numpy(dtype="int64")


def day_of(date) -> int:
    return int((pd.Timestamp(date).normalize() - DAY0) // pd.Timedelta(days=1))


def date_of(day: int) -> pd.Timestamp:
    return DAY0 + pd.Timedelta(days=int(day))


class Coded:
    """A column as integer codes into its distinct values (code -1: missing)."""

    __slots__ = ("codes", "values")

    def __init__(self, codes: np.ndarray, values: np.ndarray):
        self.codes = codes
        self.values = values

    @classmethod
    def of(cls, column) -> "Coded":
        if isinstance(column, pd.Series) and isinstance(column.dtype, pd.CategoricalDtype):
            values = np.asarray(column.cat.categories.astype("object"), dtype=object)
            values = np.array([str(v) for v in values], dtype=object)
            return cls(column.cat.codes.to_numpy().astype(np.int64), values)
        array = column.to_numpy(dtype=object, na_value=None) if isinstance(column, pd.Series) else np.asarray(column, dtype=object)
        if len(array) <= 64:  # a request's few rows: a dict beats pandas' per-call overhead
            seen: dict = {}
            codes = [-1 if v is None or v is pd.NA or (isinstance(v, float) and v != v) else seen.setdefault(str(v), len(seen))
                     for v in array]
            return cls(np.array(codes, dtype=np.int64), np.array(list(seen), dtype=object))
        codes, uniques = pd.factorize(array, use_na_sentinel=True)
        values = np.array([str(v) for v in uniques], dtype=object)
        return cls(codes.astype(np.int64), values)

    @classmethod
    def missing(cls, n: int) -> "Coded":
        return cls(np.full(n, -1, dtype=np.int64), np.array([], dtype=object))

    def __len__(self) -> int:
        return len(self.codes)

    def derive(self, fn) -> "Coded":
        """``fn`` (str -> str or None) applied to each distinct value, re-coded."""
        new = [fn(v) for v in self.values]
        if len(new) <= 64:  # a request's few values: a dict beats pandas' per-call overhead
            seen: dict = {}
            table = [-1 if v is None else seen.setdefault(v, len(seen)) for v in new] + [-1]
            codes = np.array(table, dtype=np.int64)[np.where(self.codes < 0, len(new), self.codes)]
            return Coded(codes, np.array(list(seen), dtype=object))
        codes, uniques = pd.factorize(np.asarray(new + [None], dtype=object), use_na_sentinel=True)
        table = codes.astype(np.int64)  # last entry: the missing value's code (-1)
        return Coded(table[np.where(self.codes < 0, len(new), self.codes)], np.asarray(uniques, dtype=object))

    def map(self, fn, default=np.nan, dtype="float64") -> np.ndarray:
        """Per-row values of ``fn`` (or a dict) over the distinct values."""
        get = fn.get if isinstance(fn, dict) else fn
        per_value = [get(v) for v in self.values]
        table = np.array([default if v is None else v for v in per_value] + [default], dtype=dtype)
        return table[np.where(self.codes < 0, len(per_value), self.codes)]

    def isin(self, values) -> np.ndarray:
        return self.map(lambda v: v in values, default=False, dtype=bool)

    def rows(self) -> np.ndarray:
        """The values row by row (object array, missing: None)."""
        return np.append(self.values, None)[np.where(self.codes < 0, len(self.values), self.codes)]


def combine(*parts: Coded, sep: str = SEP, missing: str = "", require_all: bool = False) -> Coded:
    """The joined values of several coded columns, computed on distinct combinations.

    A missing part joins as ``missing``; the result is missing only when every part is missing
    (or, with ``require_all``, when any part is)."""
    if len(parts[0]) <= 64:  # a request's few rows: join them directly
        seen: dict = {}
        codes = []
        for row in zip(*(p.codes for p in parts)):
            if all(c < 0 for c in row) or (require_all and any(c < 0 for c in row)):
                codes.append(-1)
                continue
            text = sep.join(p.values[c] if c >= 0 else missing for p, c in zip(parts, row))
            codes.append(seen.setdefault(text, len(seen)))
        return Coded(np.array(codes, dtype=np.int64), np.array(list(seen), dtype=object))
    key = np.zeros(len(parts[0]), dtype=np.int64)
    for p in parts:
        key = key * (len(p.values) + 1) + (p.codes + 1)
    combo, uniques = pd.factorize(key)
    uniques = np.asarray(uniques, dtype=np.int64)
    codes = []
    for p in reversed(parts):  # each unique combination's code in each part (-1: missing)
        base = len(p.values) + 1
        codes.append(uniques % base - 1)
        uniques = uniques // base
    codes.reverse()
    present = np.column_stack([c >= 0 for c in codes])
    absent = ~present.any(axis=1) if not require_all else ~present.all(axis=1)
    texts = [sep.join(t) for t in zip(*(np.append(p.values, missing)[c] for p, c in zip(parts, codes)))]
    labels = np.array(texts + [None], dtype=object)
    labels[np.flatnonzero(absent)] = None
    # distinct combinations can still join to the same text: re-code on the text
    recoded, values = pd.factorize(labels, use_na_sentinel=True)
    return Coded(recoded[:-1][combo].astype(np.int64), np.asarray(values, dtype=object))


def route_key(origin: Coded, export: Coded, transit: Coded, destination: Coded) -> Coded:
    """origin>export>transit>destination (transit countries ';'-separated, empty if none)."""
    return combine(origin, export, transit, destination, sep=">")


def hs_prefix(hs_code: Coded, digits: int) -> Coded:
    return hs_code.derive(lambda v: v[:digits] if len(v) >= digits else None)


def column(frame: pd.DataFrame, name: str) -> Coded:
    return Coded.of(frame[name]) if name in frame else Coded.missing(len(frame))


def _getter(source):
    """A column getter: ``source`` is a frame of canonical declarations or a function name -> Coded."""
    return source if callable(source) else (lambda name: column(source, name))


def _numbers(source):
    """A getter of numeric columns of a frame of canonical declarations (NaN where absent)."""
    def number(name: str) -> np.ndarray:
        if name not in source:
            return np.full(len(source), np.nan)
        return pd.to_numeric(source[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return number


def _bins(values: np.ndarray, width: float) -> Coded:
    bins = bin_of(values, width)
    missing = bins == np.iinfo(np.int64).min
    if len(bins) <= 64:
        seen: dict = {}
        codes = [-1 if m else seen.setdefault(int(b), len(seen)) for b, m in zip(bins.tolist(), missing)]
        return Coded(np.array(codes, dtype=np.int64), np.array([str(b) for b in seen], dtype=object))
    codes, uniques = pd.factorize(np.where(missing, 0, bins))
    codes = np.where(missing, -1, codes).astype(np.int64)
    return Coded(codes, np.array([str(int(b)) for b in uniques], dtype=object))


def entity_parts(source, measures: dict[str, np.ndarray] | None = None) -> dict[str, Coded]:
    """The parts every entity key is built from. ``source`` is a frame of canonical declarations
    or a column getter (name -> Coded), ``measures`` the declarations' log measures
    (:func:`~contraband.data.measures.log_measures`; from a frame, of its own columns): without
    them, the measures' bins are missing."""
    get = _getter(source)
    if measures is None and not callable(source):
        measures = log_measures(_numbers(source), get("quantity_unit"))
    hs = get("hs_code")
    parts = {
        "exporter": get("exporter_id"),
        "consignee": get("consignee_id"),
        "declarant": get("declarant_id"),
        "hs6": hs_prefix(hs, 6),
        "hs4": hs_prefix(hs, 4),
        "route": route_key(get("origin_country"), get("export_country"), get("transit_countries"),
                           get("destination_country")),
    }
    n = len(parts["hs6"])
    for m, width in OWN_BINS.items():
        parts[f"{m}_bin"] = _bins(measures[m], width) if measures else Coded.missing(n)
    return parts


def entity_keys(source, kinds=tuple(KINDS), parts: dict[str, Coded] | None = None) -> dict[str, Coded]:
    """The key of every entity kind of each declaration (missing where a part is missing).

    ``source`` is a frame of canonical declarations or a column getter; ``parts`` may be given
    when already computed."""
    parts = parts or entity_parts(source)
    out = {}
    for name in kinds:
        kind = KINDS[name]
        if len(kind.parts) == 1:
            out[name] = parts[kind.parts[0]]
        else:
            out[name] = combine(*(parts[p] for p in kind.parts), require_all=True)
    return out


def first_part(keys: np.ndarray) -> np.ndarray:
    """The first part of composite keys (object array)."""
    return np.array([k.split(SEP, 1)[0] for k in keys], dtype=object)


def second_part(keys: np.ndarray) -> np.ndarray:
    """The second part of two-part keys (object array)."""
    return np.array([k.split(SEP, 1)[1] for k in keys], dtype=object)


def prefix_range(owner: str) -> tuple[str, str]:
    """The key range ``[low, high)`` holding every pair key whose first part is ``owner``."""
    return owner + SEP, owner + chr(ord(SEP) + 1)
