"""Foreign schemas: a TOML mapping file maps another customs system's columns onto the contract.

Format (see ``data/mappings/kcs.toml`` and ``docs/data.md``)::

    label = "Fraud"                    # source column holding the outcome -> ``contraband``
    absent = ["goods_description"]     # required fields this source does not record

    [source]
    name = "Korea Customs Service"
    date_format = "%Y-%m-%d"           # optional; ISO 8601 by default

    [fields]                           # canonical field = source column, or a table:
    declaration_id = "Declaration ID"
    hs_code = { column = "HS6 Code", pad = true }        # restore a leading zero lost to numbers
    net_weight_kg = { column = "Net Mass", unit = "lb" } # or unit_column = "Weight Unit"
    declared_value_usd = { column = "Item Price", currency = "KRW" }  # or currency_column
    destination_country = { value = "KR" }               # constant
    transport_mode = { column = "Mode", values = { "10" = "sea", "90" = "" } }  # "" = unknown

    [rates]                            # USD per one unit of currency; the caller may override
    KRW = 0.000769

    [extras]                           # pass-through columns, named x_<name> in the contract
    office_id = { column = "Office ID", kind = "category" }
    tax_rate_pct = { column = "Tax Rate", kind = "number" }
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contraband.data.contract import EXTRA_PREFIX, FIELD_BY_NAME, LABEL, REQUIRED_FIELDS, TRUTH_PREFIX
from contraband.data.normalise import WEIGHT_UNITS

_FIELD_KEYS = {"column", "value", "pad", "unit", "unit_column", "currency", "currency_column", "values"}
_EXTRA_KINDS = ("category", "number")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class FieldSource:
    """Where one canonical field comes from, and how to convert it."""

    column: str | None = None
    value: Any = None
    pad: bool = False
    unit: str | None = None
    unit_column: str | None = None
    currency: str | None = None
    currency_column: str | None = None
    values: dict[str, str] | None = None


@dataclass(frozen=True)
class Extra:
    column: str
    kind: str  # category | number


@dataclass(frozen=True)
class Mapping:
    name: str
    fields: dict[str, FieldSource]
    absent: frozenset[str] = frozenset()
    extras: dict[str, Extra] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    date_format: str | None = None
    path: str | None = None
    identity: bool = False  # the file is already in contract columns (see :func:`identity`)

    def source_columns(self) -> set[str]:
        cols = set()
        for src in self.fields.values():
            cols |= {c for c in (src.column, src.unit_column, src.currency_column) if c}
        cols |= {e.column for e in self.extras.values()}
        return cols

    def extra_names(self) -> list[str]:
        return [EXTRA_PREFIX + name for name in self.extras]


def identity() -> Mapping:
    """The mapping of a file already in the contract's column names."""
    return Mapping(name="canonical", fields={name: FieldSource(column=name) for name in FIELD_BY_NAME},
                   identity=True)


def is_currency_code(code: Any) -> bool:
    """A 3-letter alphabetic currency code (ISO 4217 style, any case)."""
    return isinstance(code, str) and re.fullmatch(r"[A-Za-z]{3}", code.strip()) is not None


def usd_rate(code: Any, rate: Any) -> str | None:
    """What is wrong with one 'USD per unit' rate, or None if it is usable."""
    if not is_currency_code(code):
        return f"{code!r} is not a 3-letter currency code"
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate) or rate <= 0:
        return f"rate {rate!r} must be a finite number > 0 (US dollars per one {str(code).upper()})"
    return None


def _check_type(path: str, where: str, value: Any, ok: bool, expected: str) -> None:
    if not ok:
        raise MappingError(f"{path}: {where} must be {expected}, not {value!r}")


def _field_source(path: str, name: str, spec: Any) -> FieldSource:
    if isinstance(spec, str):
        return FieldSource(column=spec)
    if not isinstance(spec, dict):
        raise MappingError(f"{path}: [fields] {name} must be a column name or a table")
    unknown = set(spec) - _FIELD_KEYS
    if unknown:
        raise MappingError(f"{path}: [fields] {name} has unknown keys {sorted(unknown)}")
    if ("column" in spec) == ("value" in spec):
        raise MappingError(f"{path}: [fields] {name} needs exactly one of 'column' or 'value'")
    if (spec.get("unit") or spec.get("unit_column")) and not name.endswith("_kg"):
        raise MappingError(f"{path}: [fields] {name}: weight units apply to *_kg fields only")
    if (spec.get("currency") or spec.get("currency_column")) and not name.endswith("_usd"):
        raise MappingError(f"{path}: [fields] {name}: currencies apply to *_usd fields only")
    where = f"[fields] {name}"
    for key in ("column", "unit_column", "currency_column"):
        if key in spec:
            _check_type(path, f"{where}.{key}", spec[key], isinstance(spec[key], str), "a column name (text)")
    if "pad" in spec:
        pad = spec["pad"]
        _check_type(path, f"{where}.pad", pad, type(pad) is bool,
                    "true or false (true: an odd-length code, which lost a leading zero to numeric storage, gains "
                    "one: 10129 -> 010129; a fixed width would turn 381010 into 00381010)")
        if name != "hs_code":
            raise MappingError(f"{path}: {where}.pad applies to hs_code only")
    if "unit" in spec:
        unit = spec["unit"]
        _check_type(path, f"{where}.unit", unit, isinstance(unit, str) and unit.strip().lower() in WEIGHT_UNITS,
                    "a weight unit (kg, g, lb, t)")
    if "currency" in spec:
        _check_type(path, f"{where}.currency", spec["currency"], is_currency_code(spec["currency"]),
                    "a 3-letter currency code")
    values = spec.get("values")
    if "values" in spec:
        _check_type(path, f"{where}.values", values, isinstance(values, dict), 'a table of codes ({ "10" = "sea" })')
    return FieldSource(
        column=spec.get("column"),
        value=spec.get("value"),
        pad=bool(spec.get("pad", False)),
        unit=spec.get("unit"),
        unit_column=spec.get("unit_column"),
        currency=spec.get("currency"),
        currency_column=spec.get("currency_column"),
        values={str(k): str(v) for k, v in values.items()} if values else None,
    )


def from_dict(doc: dict, path: str = "<mapping>") -> Mapping:
    """Build a :class:`Mapping` from a parsed TOML document, checking every key."""
    known_top = {"source", "fields", "absent", "label", "rates", "extras"}
    unknown = set(doc) - known_top
    if unknown:
        raise MappingError(f"{path}: unknown top-level keys {sorted(unknown)}")
    raw_fields = dict(_table(path, "fields", doc))
    if "label" in doc:
        if LABEL in raw_fields:
            raise MappingError(f"{path}: give the label either as 'label' or as [fields] {LABEL}")
        raw_fields[LABEL] = doc["label"]
    fields = {}
    for name, spec in raw_fields.items():
        if name not in FIELD_BY_NAME:
            raise MappingError(f"{path}: [fields] {name} is not a field of the declaration contract")
        fields[name] = _field_source(path, name, spec)
    absent = doc.get("absent", [])
    _check_type(path, "absent", absent, isinstance(absent, list) and all(isinstance(a, str) for a in absent),
                "a list of field names")
    absent = frozenset(absent)
    bad_absent = absent - set(REQUIRED_FIELDS)
    if bad_absent:
        raise MappingError(f"{path}: absent lists {sorted(bad_absent)}, which are not required fields")
    both = absent & set(fields)
    if both:
        raise MappingError(f"{path}: {sorted(both)} are both mapped and declared absent")
    missing = set(REQUIRED_FIELDS) - set(fields) - absent
    if missing:
        raise MappingError(
            f"{path}: required fields {sorted(missing)} are neither mapped nor declared absent"
        )
    extras = {}
    for name, spec in _table(path, "extras", doc).items():
        if isinstance(spec, str):
            spec = {"column": spec, "kind": "category"}
        _check_type(path, f"[extras] {name}", spec, isinstance(spec, dict), "a column name or a table")
        kind = spec.get("kind", "category")
        if kind not in _EXTRA_KINDS or "column" not in spec:
            raise MappingError(f"{path}: [extras] {name} needs a column and kind in {_EXTRA_KINDS}")
        _check_type(path, f"[extras] {name}.column", spec["column"], isinstance(spec["column"], str),
                    "a column name (text)")
        extras[name] = Extra(column=spec["column"], kind=kind)
    _check_leaks(path, fields, extras)
    rates = {}
    for code, rate in _table(path, "rates", doc).items():
        problem = usd_rate(code, rate)
        if problem:
            raise MappingError(f"{path}: [rates] {code}: {problem}")
        rates[code.strip().upper()] = float(rate)
    source = _table(path, "source", doc)
    date_format = source.get("date_format")
    _check_type(path, "[source] date_format", date_format, date_format is None or isinstance(date_format, str),
                'a strptime format such as "%d/%m/%Y"')
    return Mapping(
        name=str(source.get("name", Path(path).stem)),
        fields=fields,
        absent=absent,
        extras=extras,
        rates=rates,
        date_format=date_format,
        path=path,
    )


def _table(path: str, key: str, doc: dict) -> dict:
    value = doc.get(key, {})
    _check_type(path, f"[{key}]", value, isinstance(value, dict), "a table")
    return value


def _check_leaks(path: str, fields: dict[str, FieldSource], extras: dict[str, Extra]) -> None:
    """No input may read the outcome's source column or a hidden truth_* column."""
    label = fields[LABEL].column if LABEL in fields else None
    reads = [(f"[fields] {n}", c) for n, s in fields.items() for c in (s.column, s.unit_column, s.currency_column)]
    reads += [(f"[extras] {n}", e.column) for n, e in extras.items()]
    for where, column in reads:
        if column is None:
            continue
        if column.startswith(TRUTH_PREFIX):
            raise MappingError(f"{path}: {where} reads {column!r}, hidden ground truth that no input may use")
        if column == label and where != f"[fields] {LABEL}":
            raise MappingError(f"{path}: {where} reads the label column {column!r}; the outcome cannot be an input")


def load_mapping(path: str | Path) -> Mapping:
    """Read a mapping file (TOML)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"mapping file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path}: not valid TOML: {exc}") from None
    return from_dict(doc, str(path))


BUNDLED = Path(__file__).parent / "mappings"
#: a mapping's name is its file's stem: letters, digits, '-' and '_'
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def mapping_files(folder: str | Path | None = None) -> dict[str, Path]:
    """The mapping files by name: the bundled ones (``data/mappings/NAME.toml``), then those of
    ``folder`` (a file there replaces a bundled one of the same name). Names are found by
    listing the folders, so a name never becomes a path."""
    found: dict[str, Path] = {}
    for where in (BUNDLED, folder):
        if where is not None and Path(where).is_dir():
            found.update((p.stem, p) for p in sorted(Path(where).glob("*.toml")) if _NAME.fullmatch(p.stem) and p.is_file())
    return found


def bundled_mapping(name: str) -> Path:
    """Path of a mapping shipped with the product (``data/mappings/NAME.toml``)."""
    bundled = mapping_files()
    if name not in bundled:
        raise MappingError(f"no bundled mapping named {name!r}; the bundled mappings are {', '.join(sorted(bundled))}")
    return bundled[name]
