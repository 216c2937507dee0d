"""The canonical declaration contract: one source of truth for a declaration line.

Every entry point (generated worlds, mapped foreign exports, analysts' uploads) ends in a frame
with these columns, checked by :func:`schema`. Field names carry their units.

Column groups
-------------
- required: present in every declaration line;
- optional: used when the source has them;
- outcome: inspection results, present only where known (``contraband`` only on inspected rows);
- extras: ``x_*`` pass-through columns a mapping declares (for example a customs office code);
- truth: ``truth_*`` hidden ground truth of the synthetic world. Never a feature.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pycountry

if TYPE_CHECKING:  # pandera is imported where a schema is built (about 0.7 s a process that only loads files skips)
    import pandera.pandas as pa

REQUIRED = "required"
OPTIONAL = "optional"
OUTCOME = "outcome"

TRUTH_PREFIX = "truth_"
EXTRA_PREFIX = "x_"

#: ISO 3166 user-assigned code that customs systems use for "country unknown".
UNKNOWN_COUNTRY = "ZZ"

TRANSPORT_MODES = ("sea", "air", "road", "rail", "post", "courier")
QUANTITY_UNITS = ("KG", "G", "T", "L", "M3", "M2", "M", "PCS", "PR", "SET", "DZ")
#: the quantity units that weigh rather than count
MASS_UNITS = ("KG", "G", "T")
INCOTERMS = (
    "EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP",
    "DAT", "DDU", "DAF", "DES", "DEQ",
)
#: Incoterms 2020 meant for sea and inland waterway transport only
SEA_ONLY_INCOTERMS = ("FAS", "FOB", "CFR", "CIF")


@dataclass(frozen=True)
class Field:
    """One column of the contract."""

    name: str
    kind: str  # id, date, hs_code, text, country, countries, number, code, flag
    group: str  # required, optional, outcome
    description: str
    choices: tuple[str, ...] | None = None


FIELDS: tuple[Field, ...] = (
    Field("declaration_id", "id", REQUIRED, "Declaration (line) identifier"),
    Field("declaration_date", "date", REQUIRED, "Date the declaration was lodged"),
    Field("hs_code", "hs_code", REQUIRED, "HS / tariff code: 6, 8 or 10 digits, leading zeros kept"),
    Field("goods_description", "text", REQUIRED, "Goods description as declared"),
    Field("origin_country", "country", REQUIRED, "Declared country of origin (ISO 3166 alpha-2)"),
    Field("export_country", "country", REQUIRED, "Country the goods were shipped from (alpha-2)"),
    Field("destination_country", "country", REQUIRED, "Country of destination (alpha-2)"),
    Field("net_weight_kg", "number", REQUIRED, "Net weight in kilograms"),
    Field("declared_value_usd", "number", REQUIRED, "Declared customs value in US dollars"),
    Field("gross_weight_kg", "number", OPTIONAL, "Gross weight in kilograms"),
    Field("quantity", "number", OPTIONAL, "Supplementary quantity, in quantity_unit"),
    Field("quantity_unit", "code", OPTIONAL, "Unit of quantity", QUANTITY_UNITS),
    Field("packages", "number", OPTIONAL, "Number of packages"),
    Field("transit_countries", "countries", OPTIONAL, "Countries of transit, ';'-separated alpha-2"),
    Field("port_of_loading", "text", OPTIONAL, "Port of loading (UN/LOCODE where known)"),
    Field("port_of_discharge", "text", OPTIONAL, "Port of discharge (UN/LOCODE where known)"),
    Field("transport_mode", "code", OPTIONAL, "Mode of transport", TRANSPORT_MODES),
    Field("exporter_id", "id", OPTIONAL, "Exporter (seller, consignor) identifier"),
    Field("consignee_id", "id", OPTIONAL, "Consignee (importer, buyer) identifier"),
    Field("declarant_id", "id", OPTIONAL, "Declarant (forwarder, broker) identifier"),
    Field("incoterm", "code", OPTIONAL, "Incoterm", INCOTERMS),
    Field("inspected", "flag", OUTCOME, "1 if the declaration was inspected, 0 if not"),
    Field("contraband", "flag", OUTCOME, "Inspection outcome: 1 contraband found; inspected rows only"),
    Field("seized_value_usd", "number", OUTCOME, "Value seized at inspection, US dollars"),
    Field("outcome_date", "date", OUTCOME, "Date the inspection outcome was recorded (inspected rows only)"),
)

FIELD_BY_NAME = {f.name: f for f in FIELDS}
REQUIRED_FIELDS = tuple(f.name for f in FIELDS if f.group == REQUIRED)
OPTIONAL_FIELDS = tuple(f.name for f in FIELDS if f.group == OPTIONAL)
OUTCOME_FIELDS = tuple(f.name for f in FIELDS if f.group == OUTCOME)
#: The only canonical columns a feature may read (plus declared ``x_*`` extras).
FEATURE_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
LABEL = "contraband"


def is_truth_column(name: str) -> bool:
    return name.startswith(TRUTH_PREFIX)


def is_extra_column(name: str) -> bool:
    return name.startswith(EXTRA_PREFIX)


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes, plus ``ZZ`` (unknown)."""
    return frozenset(c.alpha_2 for c in pycountry.countries) | {UNKNOWN_COUNTRY}


def _country_list_ok(values: pd.Series) -> pd.Series:
    codes = country_codes()
    return values.map(lambda s: all(t in codes for t in s.split(";")), na_action="ignore").fillna(True).astype(bool)


def _checks(field: Field) -> list[pa.Check]:
    import pandera.pandas as pa

    if field.kind == "hs_code":
        return [pa.Check.str_matches(r"^(?:[0-9]{2}){3,5}$", error="HS code must have 6, 8 or 10 digits")]
    if field.kind == "country":
        return [pa.Check.isin(sorted(country_codes()), error="not an ISO 3166 alpha-2 country code")]
    if field.kind == "countries":
        return [pa.Check(_country_list_ok, error="not a ';'-separated list of ISO 3166 alpha-2 codes")]
    if field.kind == "number":
        return [pa.Check.ge(0, error="must not be negative")]
    if field.kind == "flag":
        return [pa.Check.isin([0, 1], error="must be 0 or 1")]
    if field.choices:
        return [pa.Check.isin(list(field.choices), error=f"must be one of {', '.join(field.choices)}")]
    if field.kind in ("id", "text") and field.group == REQUIRED:
        return [pa.Check.str_length(min_value=1, error="must not be empty")]
    return []


_DTYPES = {  # the schema's dtype by kind of field (a date: pandera's DateTime, in _schema where pandera is imported)
    "number": "float64",
    "flag": "Int8",
}


def as_numbers(values) -> np.ndarray:
    """A column (Series, array or pandas array) as float64, missing as NaN."""
    if isinstance(values, (pd.Series, pd.api.extensions.ExtensionArray)):
        if pd.api.types.is_numeric_dtype(values.dtype):
            return values.to_numpy(dtype="float64", na_value=np.nan)
        values = values.to_numpy(dtype=object, na_value=None)
    values = np.asarray(values)
    if values.dtype.kind in "fiu":
        return values.astype("float64")
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _flag_is(values, one: int) -> np.ndarray:
    """Cells equal to ``one`` (missing: False)."""
    return as_numbers(values) == one


def _present(values) -> np.ndarray:
    if isinstance(values, (pd.Series, pd.api.extensions.ExtensionArray)):
        return values.notna() if isinstance(values, pd.Series) else ~values.isna()
    values = np.asarray(values)
    return ~pd.isna(values) if values.dtype == object else ~np.isnan(values.astype("float64"))


def cross_field_problems(df) -> list[tuple[np.ndarray, str, str]]:
    """Rules that span fields, as (mask of offending rows, column to blame, reason).

    ``df`` is a canonical frame or a mapping of its columns (arrays)."""
    problems = []
    names = set(df.keys()) if isinstance(df, dict) else set(df.columns)
    if "contraband" in names:
        inspected = _flag_is(df["inspected"], 1) if "inspected" in names else np.zeros(len(df["contraband"]), bool)
        bad = np.asarray(_present(df["contraband"])) & ~inspected
        problems.append((bad, "contraband", "contraband outcome given for a row that was not inspected"))
    if "seized_value_usd" in names:
        seized = np.nan_to_num(as_numbers(df["seized_value_usd"]), nan=0.0)
        found = _flag_is(df["contraband"], 1) if "contraband" in names else np.zeros(len(seized), bool)
        bad = (seized > 0) & ~found
        problems.append((bad, "seized_value_usd", "seized value given for a row with no contraband found"))
    if "outcome_date" in names:
        recorded = pd.to_datetime(pd.Series(np.asarray(df["outcome_date"])))
        inspected = _flag_is(df["inspected"], 1) if "inspected" in names else np.zeros(len(recorded), bool)
        problems.append((recorded.notna().to_numpy() & ~inspected, "outcome_date",
                         "outcome date given for a row that was not inspected"))
        if "declaration_date" in names:
            declared = pd.to_datetime(pd.Series(np.asarray(df["declaration_date"])))
            early = (recorded < declared).fillna(False).to_numpy(dtype=bool)
            problems.append((early, "outcome_date", "outcome recorded before the declaration was lodged"))
    return problems


@cache
def _schema(absent: frozenset[str]) -> pa.DataFrameSchema:
    import pandera.pandas as pa

    columns = {}
    for f in FIELDS:
        columns[f.name] = pa.Column(
            pa.DateTime if f.kind == "date" else _DTYPES.get(f.kind, str),
            checks=_checks(f),
            required=f.group == REQUIRED,
            nullable=f.group != REQUIRED or f.name in absent,
        )
    return pa.DataFrameSchema(columns, strict=False, name="declaration")


def schema(absent: frozenset[str] | set[str] | tuple[str, ...] = frozenset()) -> pa.DataFrameSchema:
    """The pandera schema of a canonical declaration frame (per-column rules).

    Rules spanning several fields live in :func:`cross_field_problems`.

    ``absent`` names required fields that the source system does not record (a mapping declares
    them); those columns exist but may be entirely empty, and features built on them switch off.
    """
    unknown = set(absent) - set(REQUIRED_FIELDS)
    if unknown:
        raise ValueError(f"only required fields can be declared absent, not {sorted(unknown)}")
    return _schema(frozenset(absent))
