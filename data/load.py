"""Reading declarations: file -> mapping -> normalisers -> contract, losing nothing.

``load_declarations`` is the one entry point every caller uses (generator output, foreign
exports through a mapping, analysts' uploads); files are read by :mod:`contraband.data.intake`.
In *lenient* mode it returns the valid rows plus a table of rejected rows (file, row, line,
column, value, reason) and, for fixing and resending, the rejected rows' cells as received
(:meth:`LoadResult.rejected_rows`); in *strict* mode any problem rejects the whole file with a
:class:`ContractError` listing every problem. Row numbers count records from 1 (row 1 is the
first record after the header; blank lines are not records); ``line`` is where the record
starts in its file.

The contract's rules run as vectorised checks derived from the same ``FIELDS`` table as the
pandera schema (:func:`contraband.data.contract.schema`): the normalisers refuse every value
that is not in the contract's one spelling, and :func:`validate` adds what spans a column or a
row (required values, signs, outcome consistency, duplicate ids). One declaration goes through
in about a millisecond; the tests check that every frame the loader returns passes the pandera
schema. Valid rows whose HS 6-digit subheading is not in the HS 2022 nomenclature are kept and
reported as warnings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contraband.data import normalise as norm
from contraband.data.columns import Columns, as_columns
from contraband.data.contract import (
    EXTRA_PREFIX,
    FIELD_BY_NAME,
    FIELDS,
    REQUIRED_FIELDS,
    as_numbers,
    cross_field_problems,
    is_truth_column,
    schema,
)

from contraband.data.mapping import FieldSource, Mapping, identity, usd_rate

STRICT = "strict"
LENIENT = "lenient"
RECORD = "(record)"  # the column named by a problem of a whole record (one the reader could not split)
_PROBLEM_COLUMNS = ["file", "row", "column", "value", "reason"]
#: a rejected row's problems: ``row`` counts records from 1, ``line`` is where the record starts
#: in its file (CSV line, sheet row; the row number for a frame or Parquet)
REJECTED_COLUMNS = ["file", "row", "line", "column", "value", "reason"]
_TRUTH_TEXT = ("truth_typology", "truth_material")


class ContractError(ValueError):
    """Declarations that break the contract. ``rejected`` holds every problem found."""

    def __init__(self, message: str, rejected: pd.DataFrame | None = None):
        super().__init__(message)
        self.rejected = rejected if rejected is not None else pd.DataFrame(columns=REJECTED_COLUMNS)


@dataclass
class LoadResult:
    """Valid declarations (indexed by source row number) and the rejected rows' reasons.

    ``declarations`` is the valid rows' frame; ``columns`` the same rows as
    :class:`~contraband.data.columns.Columns` over the loader's own arrays, which a request's
    scoring reads without building the frame."""

    columns: Columns
    rejected: pd.DataFrame
    rows_read: int
    source: str
    absent: frozenset[str] = frozenset()
    ignored_columns: list[str] = field(default_factory=list)
    lines: np.ndarray | None = None  # where each record starts in its file (None: row numbers)
    #: the rejected rows' cells as received, indexed by row (when most rows are rejected, every
    #: row's cells as read, not a copy of the rejected ones: read it by the rejected rows' numbers)
    rejected_raw: pd.DataFrame | None = None
    declaration_ids: pd.Series | None = None  # the rejected rows' readable declaration_id, by row
    notes: list[str] = field(default_factory=list)  # how the file was read (format, encoding, delimiter)

    def line_of(self, rows) -> np.ndarray:
        """Source lines of rows (numbered from 1)."""
        rows = np.asarray(rows, dtype=np.int64)
        return rows if self.lines is None else self.lines[rows - 1]

    def rejected_rows(self, limit: int | None = None) -> pd.DataFrame:
        """One line per rejected row, ready to fix and resend: ``line``, ``declaration_id`` (when
        readable), ``problems`` (every problem of the row), then the row's cells as received; with
        ``limit``, the first ``limit`` rejected rows only (their cost, not every row's)."""
        if not len(self.rejected):
            return pd.DataFrame(columns=["line", "declaration_id", "problems"])
        rejected = self.rejected_first(limit)
        grouped = pd.Series(problem_texts(rejected)).groupby(rejected["row"].to_numpy(), sort=True).agg("; ".join)
        rows = grouped.index.to_numpy(dtype=np.int64)
        ids = self.declaration_ids.reindex(rows).to_numpy(dtype=object) if self.declaration_ids is not None \
            else np.full(len(rows), None, dtype=object)
        out = pd.DataFrame({"line": self.line_of(rows), "declaration_id": ids, "problems": grouped.to_numpy()})
        if self.rejected_raw is not None:
            raw = self.rejected_raw.reindex(rows).reset_index(drop=True)
            raw = raw[[c for c in raw.columns if c not in out.columns]]
            out = pd.concat([out, raw], axis=1)
        return out

    def rejected_first(self, limit: int | None) -> pd.DataFrame:
        """The problems of the first ``limit`` rejected rows (every row's: ``None``)."""
        if limit is None or not len(self.rejected):
            return self.rejected
        rows = self.rejected["row"].to_numpy(dtype=np.int64)
        first = np.unique(rows)[:limit]
        return self.rejected[rows <= first[-1]] if len(first) else self.rejected.iloc[:0]

    @property
    def rejected_count(self) -> int:
        """How many rows were rejected (each once, whatever its number of problems)."""
        return int(self.rejected["row"].nunique()) if len(self.rejected) else 0

    @property
    def declarations(self) -> pd.DataFrame:
        return self.columns.X

    def refusing(self, refused: pd.DataFrame) -> "LoadResult":
        """This result with some valid declarations rejected after all (``refused``: their
        ``row`` and ``reason``, e.g. the history store's refusal to amend an inspected
        declaration): they leave ``columns`` and join the rejected rows (on their
        ``declaration_id``), their cells kept for resending."""
        if not len(refused):
            return self
        from contraband.data.columns import take

        rows = refused["row"].to_numpy(dtype=np.int64)
        values = pd.Series(self.columns.cells("declaration_id"), index=self.columns.index).loc[rows]
        refused = _with_lines(_problems(self.source, rows, "declaration_id", values.to_numpy(dtype=object),
                                        refused["reason"].to_numpy(dtype=object)), self.lines)
        keep = ~np.isin(np.asarray(self.columns.index, dtype=np.int64), rows)
        cells = self.columns.X.loc[rows].astype(object)
        cells = cells.where(cells.notna(), None).map(lambda v: v if v is None else
                                                     f"{v:%Y-%m-%d}" if isinstance(v, pd.Timestamp) else str(v))
        cells = cells[[c for c in cells.columns if not is_truth_column(c)]]
        rejected = pd.concat([self.rejected, refused[REJECTED_COLUMNS]], ignore_index=True) if len(self.rejected) \
            else refused[REJECTED_COLUMNS].reset_index(drop=True)
        rejected = rejected.sort_values(["row", "column"], kind="stable").reset_index(drop=True)
        raw = cells if self.rejected_raw is None else pd.concat(
            [self.rejected_raw.drop(index=rows, errors="ignore"), cells]).sort_index()
        ids = pd.Series(refused["value"].to_numpy(dtype=object), index=rows, dtype=object)
        ids = ids if self.declaration_ids is None else pd.concat([self.declaration_ids, ids]).sort_index()
        return LoadResult(take(self.columns, keep), rejected, self.rows_read, self.source, self.absent,
                          self.ignored_columns, self.lines, raw, ids, self.notes)

    @property
    def warnings(self) -> pd.DataFrame:
        """Rows kept but worth a look (same columns as ``rejected``), e.g. an HS code not in HS
        2022; worked out when asked (a scoring request never asks)."""
        return self.columns.cached("hs_warnings", lambda: _with_lines(hs_warnings(self.columns, self.source),
                                                                      self.lines))

    @property
    def rows_rejected(self) -> int:
        return int(self.rejected["row"].nunique()) if len(self.rejected) else 0

    def summary(self) -> str:
        lines = [
            f"{self.source}: {self.rows_read:,} rows read, {len(self.columns):,} valid, "
            f"{self.rows_rejected:,} rejected"
        ]
        if len(self.rejected):
            counts = self.rejected.groupby(["column", "reason"]).size().sort_values(ascending=False)
            for (column, reason), n in counts.head(10).items():
                lines.append(f"  {n:>8,}  {column}: {reason}")
        if len(self.warnings):
            counts = self.warnings.groupby(["column", "reason"]).size().sort_values(ascending=False)
            for (column, reason), n in counts.head(5).items():
                lines.append(f"  warning {n:>,} rows kept: {column}: {reason}")
        if self.absent:
            lines.append(f"  not recorded by this source: {', '.join(sorted(self.absent))}")
        if self.ignored_columns:
            lines.append(f"  ignored columns (not in the contract or the mapping): {', '.join(self.ignored_columns)}")
        return "\n".join(lines)


def _check_unique_columns(columns, source: str) -> None:
    if columns.is_unique and all(isinstance(c, str) for c in columns):
        return
    names = [str(c) for c in columns]
    if len(set(names)) == len(names):
        return
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise ContractError(f"{source}: duplicated column names: {', '.join(repeated)}")


_SMALL = 64  # rows: a request is read as one block of cells, a file column by column
_NO_PROBLEMS = pd.DataFrame(columns=_PROBLEM_COLUMNS)
_NO_REJECTED = pd.DataFrame(columns=REJECTED_COLUMNS)


def _no_problems() -> pd.DataFrame:
    return _NO_PROBLEMS.copy()


class _Source:
    """The source frame's columns, each read out once (a small request as one block of cells)."""

    def __init__(self, frame: pd.DataFrame):
        self.n = len(frame)
        self.names = list(frame.columns)
        if self.n == 1:  # one declaration: cell by cell beats converting every column
            self._columns = {c: np.array([frame.iat[0, i]], dtype=object) for i, c in enumerate(self.names)}
        elif self.n <= _SMALL:
            block = frame.to_numpy(dtype=object)
            self._columns = {c: block[:, i] for i, c in enumerate(self.names)}
        else:
            self._columns = {c: frame[c] for c in self.names}

    def __getitem__(self, name: str):
        return self._columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self._columns

    def raw(self, src: FieldSource):
        if src.column is not None:
            return self[src.column]
        return np.full(self.n, src.value, dtype=object)


def _cells(raw) -> np.ndarray:
    return raw.to_numpy(dtype=object) if isinstance(raw, (pd.Series, pd.api.extensions.ExtensionArray)) \
        else np.asarray(raw, dtype=object)


def _normalise_field(name: str, source: _Source, src: FieldSource, mapping: Mapping,
                     fx: dict[str, float]) -> norm.Parsed:
    f = FIELD_BY_NAME[name]
    raw = source.raw(src)
    if f.kind == "id":
        return norm.identifier(raw)
    if f.kind == "text":
        return norm.text(raw)
    if f.kind == "date":
        return norm.date(raw, mapping.date_format)
    if f.kind == "hs_code":
        return norm.hs_code(raw, pad=src.pad)
    if f.kind == "country":
        return norm.country(raw)
    if f.kind == "countries":
        return norm.country_list(raw)
    if f.kind == "flag":
        return norm.flag(raw)
    if name == "transport_mode":
        return norm.transport_mode(raw, src.values)
    if name == "quantity_unit":
        return norm.quantity_unit(raw)
    if f.kind == "code":
        return norm.code(raw, f.choices)
    if name.endswith("_kg"):
        unit = source[src.unit_column] if src.unit_column else (src.unit or "kg")
        return norm.weight_kg(raw, unit)
    if name.endswith("_usd") and (src.currency or src.currency_column):
        rates = {**mapping.rates, **{k.upper(): v for k, v in fx.items()}}
        currency = source[src.currency_column] if src.currency_column else src.currency
        return norm.money_usd(raw, currency, rates)
    return norm.number(raw)


def _shown(values) -> np.ndarray:
    """Values as an analyst reads them in a report: text, with missing shown as ''."""
    return np.array(["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT
                     else str(v) for v in _cells(values)], dtype=object)


def _problems(source: str, rows, column: str, values, reason) -> pd.DataFrame:
    rows = np.asarray(rows)
    return pd.DataFrame(
        {"file": source, "row": rows.astype("int64"), "column": column, "value": _shown(values),
         "reason": reason if isinstance(reason, str) else np.asarray(reason, dtype=object)}
    )


def _passthrough(raw, name: str) -> np.ndarray:
    """``truth_*``/``x_*`` columns come out alike from CSV, Parquet or a frame: numbers if every
    present value is a number (``truth_contraband`` as int8), else text."""
    parsed = None if name in _TRUTH_TEXT else norm.number(raw)
    if parsed is None or parsed.bad.any():
        return norm.text(raw).values
    if name == "truth_contraband" and not np.isnan(parsed.values).any():
        return parsed.values.astype("int8")
    return parsed.values


def _frame_column(name: str, values: np.ndarray):
    """A normalised field as a column of the contract's dtype (text: pandas' str)."""
    if not isinstance(values, np.ndarray) or values.dtype != object:  # numbers, dates, flags (Int8)
        return values
    return pd.array(values, dtype="str")


def _canonical_columns(frame: pd.DataFrame, mapping: Mapping, fx: dict[str, float], source: str):
    """Normalised contract columns (arrays), the unreadable values, the ignored columns, and the
    required fields the source declares absent."""
    for code, rate in fx.items():
        if problem := usd_rate(code, rate):
            raise ValueError(f"fx: {problem}")
    _check_unique_columns(frame.columns, source)
    cells = _Source(frame)
    if mapping.identity:
        fields = {n: s for n, s in mapping.fields.items() if s.column in cells}
        absent = frozenset()
    else:
        fields = mapping.fields
        absent = mapping.absent
        missing = sorted(c for c in mapping.source_columns() if c not in cells)
        if missing:
            raise ContractError(
                f"{source}: columns {missing} named by mapping {mapping.path or mapping.name} are not in the file"
            )
    missing_required = [n for n in REQUIRED_FIELDS if n not in fields and n not in absent]
    if missing_required:
        raise ContractError(
            f"{source}: required columns missing: {', '.join(missing_required)}"
            + (" (give a --mapping for another system's columns)" if mapping.identity else "")
        )
    out: dict[str, np.ndarray] = {}
    problems = []
    rows = np.arange(1, cells.n + 1)

    def report(column: str, raw, parsed: norm.Parsed) -> None:
        if parsed.bad.any():
            reason = parsed.reason if isinstance(parsed.reason, str) else parsed.reason[parsed.bad]
            problems.append(_problems(source, rows[parsed.bad], column, _cells(raw)[parsed.bad], reason))

    for f in FIELDS:
        if f.name in fields:
            try:
                parsed = _normalise_field(f.name, cells, fields[f.name], mapping, fx)
            except ValueError as exc:  # a unit or currency the mapping or caller got wrong
                raise ContractError(f"{source}: {f.name}: {exc}") from None
            out[f.name] = pd.array(parsed.values, dtype="Float64").astype("Int8") if f.kind == "flag" else parsed.values
            report(f.name, cells.raw(fields[f.name]), parsed)
        elif f.name in absent:
            out[f.name] = np.full(cells.n, None, dtype=object)
    for name, extra in mapping.extras.items():
        raw = cells[extra.column]
        parsed = norm.number(raw) if extra.kind == "number" else norm.identifier(raw)
        out[EXTRA_PREFIX + name] = parsed.values
        report(EXTRA_PREFIX + name, raw, parsed)
    passthrough = [c for c in cells.names if is_truth_column(c)]
    if mapping.identity:
        passthrough += [c for c in cells.names if c.startswith(EXTRA_PREFIX)]
    for c in passthrough:
        out[c] = _passthrough(cells[c], c)
    used = mapping.source_columns() | set(passthrough)
    if mapping.identity:
        used |= set(fields)
    ignored = [c for c in cells.names if c not in used]
    parse_problems = pd.concat(problems, ignore_index=True) if problems else _no_problems()
    return out, parse_problems, ignored, absent


def _to_frame(columns: dict[str, np.ndarray], n: int | None = None, index=None) -> pd.DataFrame:
    """Normalised columns as a canonical frame (contract dtypes)."""
    index = index if index is not None else pd.RangeIndex(1, n + 1, name="row")
    return pd.DataFrame({name: _frame_column(name, values) for name, values in columns.items()}, index=index)


def _valid_columns(columns: dict[str, np.ndarray], n: int, rejected: pd.DataFrame) -> Columns:
    """The rows that passed, as Columns over the normalised arrays (contract dtypes; row numbers
    from 1 as the index)."""
    keep = np.ones(n, dtype=bool)
    if len(rejected):
        keep[rejected["row"].to_numpy(dtype=np.int64) - 1] = False
    index = pd.Index(np.arange(1, n + 1)[keep], name="row")
    if keep.all():
        index = pd.RangeIndex(1, n + 1, name="row")
    arrays = columns if keep.all() else {name: values[keep] for name, values in columns.items()}
    return Columns.from_arrays(arrays, index, frame=_to_frame)


def canonicalise(frame: pd.DataFrame, mapping: Mapping | None = None, fx: dict[str, float] | None = None,
                 source: str = "<frame>") -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Map and normalise a raw frame into contract columns.

    Returns the canonical frame (index = 1-based source row number), the table of values that
    could not be read, and the source columns that were ignored.
    """
    columns, problems, ignored, _ = _canonical_columns(frame, mapping or identity(), fx or {}, source)
    return _to_frame(columns, len(frame)), problems, ignored


def _check(columns, absent: frozenset[str], source: str, lines=None) -> pd.DataFrame:
    """The contract's rules over normalised columns (arrays or a frame's columns). With the
    records' ``lines``, a repeated id names the line of its first occurrence, else its row."""
    found = []
    names = set(columns.keys()) if isinstance(columns, dict) else set(columns.columns)
    n = len(next(iter(columns.values()))) if isinstance(columns, dict) else len(columns)
    rows = np.arange(1, n + 1) if isinstance(columns, dict) else columns.index.to_numpy()
    for f in FIELDS:
        if f.name not in names:
            continue
        values = _cells(columns[f.name]) if f.kind != "number" else as_numbers(columns[f.name])
        if f.group == "required" and f.name not in absent:
            missing = pd.isna(values) if f.kind in ("number", "date") else \
                np.array([v is None or v is pd.NA or (isinstance(v, float) and v != v) for v in values], dtype=bool)
            if missing.any():
                found.append(_problems(source, rows[missing], f.name, values[missing], "missing value"))
        if f.kind == "number":
            with np.errstate(invalid="ignore"):
                negative = values < 0
            if negative.any():
                found.append(_problems(source, rows[negative], f.name, values[negative], "must not be negative"))
    for mask, column, reason in cross_field_problems(columns):
        if mask.any():
            found.append(_problems(source, rows[mask], column, _cells(columns[column])[mask], reason))
    if "declaration_id" in names:
        ids = _cells(columns["declaration_id"])
        first_at: dict = {}
        said: dict = {}  # one text per repeated id, shared by its repeats (a file of one row repeated)
        again, reason = [], []
        for i, v in enumerate(ids):
            if v is None or v is pd.NA or (isinstance(v, float) and v != v):
                continue
            if v in first_at:
                again.append(i)
                if v not in said:
                    said[v] = (f"duplicate declaration_id (first at row {int(rows[first_at[v]])})" if lines is None
                               else f"duplicate declaration_id (first at line {int(lines[first_at[v]])})")
                reason.append(said[v])
            else:
                first_at[v] = i
        if again:
            found.append(_problems(source, rows[again], "declaration_id", ids[again], reason))
    return pd.concat(found, ignore_index=True) if found else _no_problems()


def validate(canonical: pd.DataFrame, absent: frozenset[str] = frozenset(),
             source: str = "<frame>") -> pd.DataFrame:
    """Check any canonical frame against the whole contract (the pandera schema, the rules that
    span fields, duplicate ids); return every problem (empty if none).

    The loader does not call this: its normalisers already refuse every value outside the
    contract's spelling, and it checks the rest with :func:`_check`; the tests hold the two to
    the same verdicts."""
    import pandera.pandas as pa

    found = []
    try:
        schema(absent).validate(canonical, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        if fc["index"].isna().any():  # a failure with no row (a wrong dtype): a bug upstream
            raise ContractError(f"{source}: {fc[fc['index'].isna()].to_string()}") from None
        reason = fc["check"].replace({"not_nullable": "missing value"}).to_numpy()
        found.append(_problems(source, fc["index"].astype("int64").to_numpy(), "", fc["failure_case"], reason)
                     .assign(column=fc["column"].to_numpy()))
    rows = canonical.index.to_numpy()
    for mask, column, reason in cross_field_problems(canonical):
        if mask.any():
            found.append(_problems(source, rows[mask], column, canonical.loc[mask, column], reason))
    dup = _check({"declaration_id": canonical["declaration_id"]}, frozenset({"declaration_id"}), source) \
        if "declaration_id" in canonical else _no_problems()
    if len(dup):
        dup["row"] = rows[dup["row"].to_numpy() - 1]
        found.append(dup)
    return pd.concat(found, ignore_index=True) if found else _no_problems()


def hs_warnings(canonical, source: str) -> pd.DataFrame:
    """Rows whose HS 6-digit subheading is not in the HS 2022 nomenclature (kept, reported);
    ``canonical`` is a frame or Columns."""
    canonical = as_columns(canonical)
    if "hs_code" not in canonical or not len(canonical):
        return _no_problems()
    codes = canonical.cells("hs_code")
    distinct = {c: c is None or norm.hs6_known(c[:6]) for c in pd.unique(codes)}
    unknown = np.array([not distinct[c] for c in codes], dtype=bool)
    if not unknown.any():
        return _no_problems()
    reasons = [f"HS subheading {c[:4]}.{c[4:6]} is not in the HS 2022 nomenclature" for c in codes[unknown]]
    return _problems(source, canonical.index.to_numpy()[unknown], "hs_code", codes[unknown], reasons)


def _merge_problems(reader: pd.DataFrame, parse: pd.DataFrame, checks: pd.DataFrame) -> pd.DataFrame:
    """The problems of each cell, the first finder winning: the file's reader (a record it could
    not split is wrong as a whole: nothing else is said of that row), then the normalisers (over
    the 'missing value' the contract then sees in the same cell), then the contract."""
    frames = []
    for found in (reader, parse, checks):
        if not len(found):
            continue
        if frames:
            before = pd.concat(frames, ignore_index=True)
            whole = before.loc[before["column"] == RECORD, "row"].to_numpy()
            seen = pd.MultiIndex.from_frame(before[["row", "column"]])
            key = pd.MultiIndex.from_frame(found[["row", "column"]])
            found = found[~key.isin(seen) & ~found["row"].isin(whole).to_numpy()]
        frames.append(found)
    if not frames:
        return _no_problems()
    merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return merged.sort_values(["row", "column"], kind="stable").reset_index(drop=True)


def _with_lines(problems: pd.DataFrame, lines: np.ndarray | None) -> pd.DataFrame:
    """Problems with the source ``line`` of their row, in ``REJECTED_COLUMNS`` order."""
    if not len(problems):  # the common case, on the serving path: no pandas work
        return _NO_REJECTED.copy()
    rows = problems["row"].to_numpy(dtype=np.int64)
    return problems.assign(line=rows if lines is None else lines[rows - 1])[REJECTED_COLUMNS]


def problem_texts(rejected: pd.DataFrame) -> list[str]:
    """Each problem as an analyst reads it: ``column 'value': reason`` (a whole record's: the reason)."""
    return [f"{c} {v!r}: {r}" if c != RECORD else r
            for c, v, r in zip(rejected["column"], rejected["value"], rejected["reason"])]


def _strict_message(source: str, rejected: pd.DataFrame, limit: int = 50) -> str:
    lines = [f"{source}: {len(rejected):,} problems in {rejected['row'].nunique():,} rows; file rejected"]
    for r in rejected.head(limit).itertuples(index=False):
        at = f"line {r.line} (row {r.row})" if r.line != r.row else f"row {r.row}"
        lines.append(f"  {at}, column {r.column}, value {r.value!r}: {r.reason}")
    if len(rejected) > limit:
        lines.append(f"  ... and {len(rejected) - limit:,} more (see ContractError.rejected)")
    return "\n".join(lines)


def load_declarations(data, mapping: Mapping | None = None,
                      mode: str = LENIENT, fx: dict[str, float] | None = None,
                      source: str | None = None, *, encoding: str | None = None, sheet: str | None = None,
                      limits=None) -> LoadResult:
    """Read declarations through a mapping into the contract.

    ``data`` is a path, the bytes of an upload (``source`` names it) or a frame. Files go through
    :func:`contraband.data.intake.read_manifest` (CSV of any common delimiter and encoding, gzip,
    XLSX ``sheet``, Parquet; ``encoding`` overrides detection; ``limits`` bounds sizes): a record
    it cannot split is rejected by itself. ``mode`` is ``"lenient"`` (valid rows plus rejected
    rows with reasons) or ``"strict"`` (any problem raises :class:`ContractError` listing them
    all). ``fx`` gives USD per unit of a currency, overriding the mapping's rates.
    """
    if mode not in (STRICT, LENIENT):
        raise ValueError(f"mode must be {STRICT!r} or {LENIENT!r}, not {mode!r}")
    if isinstance(data, pd.DataFrame):
        return _load(data, source or "<frame>", None, _no_problems(), [], mapping, mode, fx)
    from contraband.data.intake import Limits, read_manifest  # intake imports this module

    table = read_manifest(data, source, encoding=encoding, sheet=sheet, limits=limits or Limits())
    return load_table(table, mapping, mode, fx)


def load_table(table, mapping: Mapping | None = None, mode: str = LENIENT,
               fx: dict[str, float] | None = None) -> LoadResult:
    """Declarations from a :class:`~contraband.data.intake.RawTable` (a whole file, or one chunk
    of a streamed file: its lines are the file's own) through the contract."""
    if mode not in (STRICT, LENIENT):
        raise ValueError(f"mode must be {STRICT!r} or {LENIENT!r}, not {mode!r}")
    reader = pd.DataFrame({"file": table.source, "row": table.problems["position"].to_numpy() + 1,
                           "column": table.problems["column"].to_numpy(dtype=object),
                           "value": table.problems["value"].to_numpy(dtype=object),
                           "reason": table.problems["reason"].to_numpy(dtype=object)})
    notes = [table.format] + ([f"encoding {table.encoding}"] if table.encoding else []) + \
        ([f"delimiter {table.delimiter!r}"] if table.delimiter else [])
    return _load(table.frame, table.source, table.lines, reader, notes, mapping, mode, fx)


def _load(frame: pd.DataFrame, source: str, lines, reader: pd.DataFrame, notes: list[str], mapping, mode: str,
          fx) -> LoadResult:
    columns, parse_problems, ignored, absent = _canonical_columns(frame, mapping or identity(), fx or {}, source)
    rejected = _with_lines(_merge_problems(reader, parse_problems, _check(columns, absent, source, lines)), lines)
    if mode == STRICT and len(rejected):
        raise ContractError(_strict_message(source, rejected), rejected)
    valid = _valid_columns(columns, len(frame), rejected)
    raw = ids = None
    if len(rejected):
        rows = np.unique(rejected["row"].to_numpy(dtype=np.int64))
        raw = frame.set_axis(pd.RangeIndex(1, len(frame) + 1, name="row")) if 2 * len(rows) > len(frame) \
            else frame.iloc[rows - 1].set_axis(pd.Index(rows, name="row"))  # most rows rejected: no copy of them
        ids = pd.Series(columns["declaration_id"][rows - 1] if "declaration_id" in columns
                        else np.full(len(rows), None, dtype=object), index=rows, dtype=object)
    return LoadResult(valid, rejected, len(frame), source, absent, ignored, lines, raw, ids, notes)
