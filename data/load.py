"""Reading declarations: file -> mapping -> normalisers -> contract, losing nothing.

``load_declarations`` is the one entry point every caller uses (generator output, foreign
exports through a mapping, analysts' uploads). In *lenient* mode it returns the valid rows plus
a table of rejected rows (file, row, column, value, reason); in *strict* mode any problem
rejects the whole file with a :class:`ContractError` listing every problem. Row numbers count
records from 1 (row 1 is the first record after the header). Blank lines in a CSV file are
skipped and not counted, so row N is line N + 1 only in a file without blank lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from contraband.data import normalise as norm
from contraband.data.contract import (
    EXTRA_PREFIX,
    FIELD_BY_NAME,
    FIELDS,
    REQUIRED_FIELDS,
    cross_field_problems,
    is_truth_column,
    schema,
)
from contraband.data.mapping import FieldSource, Mapping, identity, usd_rate

STRICT = "strict"
LENIENT = "lenient"
REJECTED_COLUMNS = ["file", "row", "column", "value", "reason"]
_TRUTH_TEXT = ("truth_typology", "truth_material")


class ContractError(ValueError):
    """Declarations that break the contract. ``rejected`` holds every problem found."""

    def __init__(self, message: str, rejected: pd.DataFrame | None = None):
        super().__init__(message)
        self.rejected = rejected if rejected is not None else pd.DataFrame(columns=REJECTED_COLUMNS)


@dataclass
class LoadResult:
    """Valid declarations (indexed by source row number) and the rejected rows' reasons."""

    declarations: pd.DataFrame
    rejected: pd.DataFrame
    rows_read: int
    source: str
    absent: frozenset[str] = frozenset()
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return int(self.rejected["row"].nunique()) if len(self.rejected) else 0

    def summary(self) -> str:
        lines = [
            f"{self.source}: {self.rows_read:,} rows read, {len(self.declarations):,} valid, "
            f"{self.rows_rejected:,} rejected"
        ]
        if len(self.rejected):
            counts = self.rejected.groupby(["column", "reason"]).size().sort_values(ascending=False)
            for (column, reason), n in counts.head(10).items():
                lines.append(f"  {n:>8,}  {column}: {reason}")
        if self.absent:
            lines.append(f"  not recorded by this source: {', '.join(sorted(self.absent))}")
        if self.ignored_columns:
            lines.append(f"  ignored columns (not in the contract or the mapping): {', '.join(self.ignored_columns)}")
        return "\n".join(lines)


def _one_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def read_table(path: str | Path) -> pd.DataFrame:
    """Read CSV (every column as text, so codes keep their leading zeros) or Parquet.

    A file that cannot be read (empty, ragged rows, corrupt, duplicated column names, unknown
    type) raises :class:`ContractError` naming the file. Blank CSV lines are skipped.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"declarations file not found: {path}")
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if suffix.endswith(".parquet") or suffix.endswith(".pq"):
            return pd.read_parquet(path)
        if not (suffix.endswith(".csv") or suffix.endswith(".csv.gz") or suffix.endswith(".txt")):
            raise ContractError(f"{path}: unsupported file type (use .csv, .csv.gz or .parquet)")
        # the header as written: the CSV reader renames a repeated name to 'name.1'
        header = pd.read_csv(path, header=None, nrows=1, dtype="str", keep_default_na=False).iloc[0]
        _check_unique_columns(pd.Index(header), str(path))
        return pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""], engine="pyarrow")
    except ContractError:
        raise
    except pd.errors.EmptyDataError:
        raise ContractError(f"{path}: the file is empty (no header line)") from None
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise ContractError(f"{path}: cannot read the file: {_one_line(exc)}") from None


def _check_unique_columns(columns: pd.Index, source: str) -> None:
    repeated = sorted(set(columns[columns.duplicated()].astype("str")))
    if repeated:
        raise ContractError(f"{source}: duplicated column names: {', '.join(repeated)}")


def _raw(frame: pd.DataFrame, src: FieldSource) -> pd.Series:
    if src.column is not None:
        return frame[src.column]
    return pd.Series([src.value] * len(frame), index=frame.index, dtype="object")


def _normalise_field(name: str, frame: pd.DataFrame, src: FieldSource, mapping: Mapping,
                     fx: dict[str, float]) -> norm.Parsed:
    f = FIELD_BY_NAME[name]
    raw = _raw(frame, src)
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
        unit = frame[src.unit_column] if src.unit_column else (src.unit or "kg")
        return norm.weight_kg(raw, unit)
    if name.endswith("_usd") and (src.currency or src.currency_column):
        rates = {**mapping.rates, **{k.upper(): v for k, v in fx.items()}}
        currency = frame[src.currency_column] if src.currency_column else src.currency
        return norm.money_usd(raw, currency, rates)
    return norm.number(raw)


def _shown(values: pd.Series) -> pd.Series:
    """Values as an analyst reads them in a report: text, with missing shown as ''."""
    return values.astype("object").where(values.notna(), "").astype("str")


def _problems(source: str, rows: pd.Series, column: str, values: pd.Series, reason: str | pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {"file": source, "row": rows.to_numpy(), "column": column,
         "value": _shown(values).to_numpy(), "reason": reason if isinstance(reason, str) else reason.to_numpy()}
    )


def _passthrough(raw: pd.Series, name: str) -> pd.Series:
    """``truth_*``/``x_*`` columns come out alike from CSV, Parquet or a frame: numbers if every
    present value is a number (``truth_contraband`` as int8), else text."""
    parsed = None if name in _TRUTH_TEXT else norm.number(raw)
    if parsed is None or parsed.bad.any():
        return norm.text(raw).values
    if name == "truth_contraband" and parsed.values.notna().all():
        return parsed.values.astype("int8")
    return parsed.values


def canonicalise(frame: pd.DataFrame, mapping: Mapping | None = None, fx: dict[str, float] | None = None,
                 source: str = "<frame>") -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Map and normalise a raw frame into contract columns.

    Returns the canonical frame (index = 1-based source row number), the table of values that
    could not be read, and the source columns that were ignored.
    """
    mapping = mapping or identity()
    fx = fx or {}
    for code, rate in fx.items():
        if problem := usd_rate(code, rate):
            raise ValueError(f"fx: {problem}")
    _check_unique_columns(frame.columns, source)
    frame = frame.reset_index(drop=True)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="row")
    if mapping.identity:
        fields = {n: s for n, s in mapping.fields.items() if s.column in frame.columns}
        absent = frozenset()
    else:
        fields = mapping.fields
        absent = mapping.absent
        missing = sorted(c for c in mapping.source_columns() if c not in frame.columns)
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
    out: dict[str, pd.Series] = {}
    problems = []
    for f in FIELDS:
        if f.name in fields:
            try:
                parsed = _normalise_field(f.name, frame, fields[f.name], mapping, fx)
            except ValueError as exc:  # a unit or currency the mapping or caller got wrong
                raise ContractError(f"{source}: {f.name}: {exc}") from None
            out[f.name] = parsed.values
            if parsed.bad.any():
                src = fields[f.name]
                raw = _raw(frame, src)[parsed.bad]
                problems.append(_problems(source, raw.index.to_series(), f.name, raw, parsed.reason))
        elif f.name in absent:
            out[f.name] = pd.Series(pd.NA, index=frame.index, dtype="str")
    for name, extra in mapping.extras.items():
        raw = frame[extra.column]
        parsed = norm.number(raw) if extra.kind == "number" else norm.identifier(raw)
        out[EXTRA_PREFIX + name] = parsed.values
        if parsed.bad.any():
            bad = raw[parsed.bad]
            problems.append(_problems(source, bad.index.to_series(), EXTRA_PREFIX + name, bad, parsed.reason))
    passthrough = [c for c in frame.columns if is_truth_column(c)]
    if mapping.identity:
        passthrough += [c for c in frame.columns if c.startswith(EXTRA_PREFIX)]
    for c in passthrough:
        out[c] = _passthrough(frame[c], c)
    used = mapping.source_columns() | set(passthrough)
    if mapping.identity:
        used |= set(fields)
    ignored = [c for c in frame.columns if c not in used]
    canonical = pd.DataFrame(out, index=frame.index)
    rejected = pd.concat(problems, ignore_index=True) if problems else pd.DataFrame(columns=REJECTED_COLUMNS)
    return canonical, rejected, ignored


def validate(canonical: pd.DataFrame, absent: frozenset[str] = frozenset(),
             source: str = "<frame>") -> pd.DataFrame:
    """Check a canonical frame against the contract; return every problem (empty if none)."""
    found = []
    try:
        schema(absent).validate(canonical, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        if fc["index"].isna().any():  # a failure with no row (a wrong dtype): a bug upstream
            raise ContractError(f"{source}: {fc[fc['index'].isna()].to_string()}") from None
        found.append(pd.DataFrame(
            {"file": source, "row": fc["index"].astype("int64").to_numpy(), "column": fc["column"].to_numpy(),
             "value": _shown(fc["failure_case"]).to_numpy(), "reason": fc["check"].to_numpy()}
        ))
    for mask, column, reason in cross_field_problems(canonical):
        if mask.any():
            found.append(_problems(source, canonical.index[mask].to_series(), column, canonical.loc[mask, column], reason))
    if "declaration_id" in canonical:
        ids = canonical["declaration_id"]
        again = ids.notna() & ids.duplicated()
        if again.any():
            rows = canonical.index.to_series()
            first = rows.groupby(ids.to_numpy()).transform("min")[again]
            reason = "duplicate declaration_id (first at row " + first.astype("int64").astype("str") + ")"
            found.append(_problems(source, rows[again], "declaration_id", ids[again], reason))
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=REJECTED_COLUMNS)


def _merge_problems(parse: pd.DataFrame, checks: pd.DataFrame) -> pd.DataFrame:
    """Parse problems win over the 'missing value' the contract then sees in the same cell."""
    if len(parse) and len(checks):
        seen = pd.MultiIndex.from_frame(parse[["row", "column"]])
        key = pd.MultiIndex.from_frame(checks[["row", "column"]])
        checks = checks[~key.isin(seen)]
    frames = [f for f in (parse, checks) if len(f)]
    if not frames:
        return pd.DataFrame(columns=REJECTED_COLUMNS)
    merged = pd.concat(frames, ignore_index=True)
    merged["reason"] = merged["reason"].replace({"not_nullable": "missing value"})
    return merged.sort_values(["row", "column"], kind="stable").reset_index(drop=True)


def _strict_message(source: str, rejected: pd.DataFrame, limit: int = 50) -> str:
    lines = [f"{source}: {len(rejected):,} problems in {rejected['row'].nunique():,} rows; file rejected"]
    for r in rejected.head(limit).itertuples(index=False):
        lines.append(f"  row {r.row}, column {r.column}, value {r.value!r}: {r.reason}")
    if len(rejected) > limit:
        lines.append(f"  ... and {len(rejected) - limit:,} more (see ContractError.rejected)")
    return "\n".join(lines)


def load_declarations(data: str | Path | pd.DataFrame, mapping: Mapping | None = None,
                      mode: str = LENIENT, fx: dict[str, float] | None = None,
                      source: str | None = None) -> LoadResult:
    """Read declarations through a mapping into the contract.

    ``mode`` is ``"lenient"`` (valid rows plus rejected rows with reasons) or ``"strict"`` (any
    problem raises :class:`ContractError` listing them all). ``fx`` gives USD per unit of a
    currency, overriding the mapping's rates.
    """
    if mode not in (STRICT, LENIENT):
        raise ValueError(f"mode must be {STRICT!r} or {LENIENT!r}, not {mode!r}")
    if isinstance(data, pd.DataFrame):
        frame, source = data, source or "<frame>"
    else:
        frame, source = read_table(data), source or str(data)
    canonical, parse_problems, ignored = canonicalise(frame, mapping, fx, source)
    absent = mapping.absent if mapping else frozenset()
    rejected = _merge_problems(parse_problems, validate(canonical, absent, source))
    if mode == STRICT and len(rejected):
        raise ContractError(_strict_message(source, rejected), rejected)
    valid = canonical.drop(index=rejected["row"].unique()) if len(rejected) else canonical
    return LoadResult(valid, rejected, len(frame), source, absent, ignored)
