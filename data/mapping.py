"""Foreign schemas: a TOML mapping file maps another customs system's columns onto the contract.

Format (see ``data/mappings/kcs.toml`` and ``docs/data.md``)::

    label = "Fraud"                    # source column holding the outcome -> ``contraband``
    absent = ["goods_description"]     # required fields this source does not record

    [source]
    name = "Korea Customs Service"
    date_format = "%Y-%m-%d"           # optional; ISO 8601 by default

    [fields]                           # canonical field = source column, or a table:
    declaration_id = "Declaration ID"
    hs_code = { column = "HS6 Code", pad = 6 }           # restore leading zeros
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

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contraband.data.contract import EXTRA_PREFIX, FIELD_BY_NAME, LABEL, REQUIRED_FIELDS

_FIELD_KEYS = {"column", "value", "pad", "unit", "unit_column", "currency", "currency_column", "values"}
_EXTRA_KINDS = ("category", "number")


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class FieldSource:
    """Where one canonical field comes from, and how to convert it."""

    column: str | None = None
    value: Any = None
    pad: int | None = None
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
    return Mapping(name="canonical", fields={name: FieldSource(column=name) for name in FIELD_BY_NAME})


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
    values = spec.get("values")
    return FieldSource(
        column=spec.get("column"),
        value=spec.get("value"),
        pad=spec.get("pad"),
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
    raw_fields = dict(doc.get("fields", {}))
    if "label" in doc:
        if LABEL in raw_fields:
            raise MappingError(f"{path}: give the label either as 'label' or as [fields] {LABEL}")
        raw_fields[LABEL] = doc["label"]
    fields = {}
    for name, spec in raw_fields.items():
        if name not in FIELD_BY_NAME:
            raise MappingError(f"{path}: [fields] {name} is not a field of the declaration contract")
        fields[name] = _field_source(path, name, spec)
    absent = frozenset(doc.get("absent", []))
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
    for name, spec in doc.get("extras", {}).items():
        if isinstance(spec, str):
            spec = {"column": spec, "kind": "category"}
        kind = spec.get("kind", "category")
        if kind not in _EXTRA_KINDS or "column" not in spec:
            raise MappingError(f"{path}: [extras] {name} needs a column and kind in {_EXTRA_KINDS}")
        extras[name] = Extra(column=spec["column"], kind=kind)
    source = doc.get("source", {})
    return Mapping(
        name=source.get("name", Path(path).stem),
        fields=fields,
        absent=absent,
        extras=extras,
        rates={str(k).upper(): float(v) for k, v in doc.get("rates", {}).items()},
        date_format=source.get("date_format"),
        path=path,
    )


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


def bundled_mapping(name: str) -> Path:
    """Path of a mapping shipped with the product (``data/mappings/NAME.toml``)."""
    return Path(__file__).parent / "mappings" / f"{name}.toml"
