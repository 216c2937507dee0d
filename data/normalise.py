"""Normalisers: turn the many spellings of a value into the contract's one spelling.

Each normaliser takes a raw column and returns a :class:`Parsed`: the normalised values, a mask
of the cells it could not read (their normalised value is missing) and the reason to report for
them. Nothing is dropped here; the loader turns the masks into rejected-row reports.
Lookups run once per distinct value, so a million rows with a few hundred spellings stay cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import numpy as np
import pandas as pd
import pycountry

from contraband.data.contract import QUANTITY_UNITS, TRANSPORT_MODES, UNKNOWN_COUNTRY, country_codes


@dataclass
class Parsed:
    values: pd.Series
    bad: pd.Series  # bool mask: a value was present but could not be read
    reason: str


def _present(raw: pd.Series) -> pd.Series:
    """Cells that hold something (not missing, not blank)."""
    s = raw.astype("str")
    return raw.notna() & (s.str.strip() != "")


def _as_text(raw: pd.Series) -> pd.Series:
    """Strings with surrounding blanks removed; blanks become missing."""
    s = raw.astype("str").str.strip()
    return s.where(_present(raw))


def _map_distinct(text: pd.Series, lookup) -> pd.Series:
    """Apply ``lookup`` to each distinct value once (missing stays missing)."""
    distinct = pd.unique(text.dropna())
    table = {v: lookup(v) for v in distinct}
    return text.map(table).astype("str")


def text(raw: pd.Series) -> Parsed:
    values = _as_text(raw)
    return Parsed(values, pd.Series(False, index=raw.index), "")


def identifier(raw: pd.Series) -> Parsed:
    """Identifiers are text; numbers read from Excel lose a spurious '.0'."""
    values = _as_text(raw).str.replace(r"^([0-9]+)\.0$", r"\1", regex=True)
    return Parsed(values, pd.Series(False, index=raw.index), "")


# --- HS codes -------------------------------------------------------------------------------

_HS_SEPARATORS = re.compile(r"[\s.\-]")
#: a code stored as a float ('381010.0', '10129.0'). Dotted HS notation has 4 digits before the
#: dot ('7504.00' is heading 7504, subheading 00), and no real code stored as a number has fewer
#: than 5 (chapter 01 becomes 1xxxx), so 5+ digits with a zero decimal part is a float.
_FLOAT_CODE = re.compile(r"^([0-9]{5,})\.0+$")


def hs_code(raw: pd.Series, pad: int | None = None) -> Parsed:
    """HS codes as digit strings: '3810.10', '3810 10 00' -> '381010', '38101000'.

    A float rendering loses its decimal part ('381010.0' -> '381010'); ``pad`` restores leading
    zeros lost by a system that stored the code as a number (``pad=6`` turns 10129 into '010129').
    Codes that are not 6-10 ASCII digits afterwards are bad.
    """
    s = _as_text(raw).str.replace(_FLOAT_CODE, r"\1", regex=True)
    s = s.str.replace(_HS_SEPARATORS, "", regex=True)
    if pad:
        s = s.str.zfill(pad)
    ok = s.str.fullmatch(r"[0-9]{6,10}").fillna(False).astype(bool)
    present = s.notna()
    return Parsed(s.where(ok), present & ~ok, "HS code must have 6 to 10 digits")


# --- countries ------------------------------------------------------------------------------

_COUNTRY_ALIASES = {
    "CHINA": "CN", "PRC": "CN", "PEOPLE'S REPUBLIC OF CHINA": "CN", "MAINLAND CHINA": "CN",
    "HONG KONG": "HK", "HONGKONG": "HK", "MACAU": "MO", "TAIWAN": "TW",
    "USA": "US", "U.S.A.": "US", "U.S.": "US", "UNITED STATES OF AMERICA": "US", "AMERICA": "US",
    "UK": "GB", "U.K.": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "BRITAIN": "GB",
    "SOUTH KOREA": "KR", "KOREA": "KR", "REPUBLIC OF KOREA": "KR", "NORTH KOREA": "KP",
    "VIETNAM": "VN", "VIET NAM": "VN", "RUSSIA": "RU", "IRAN": "IR", "LAOS": "LA", "SYRIA": "SY",
    "TURKEY": "TR", "CZECH REPUBLIC": "CZ", "HOLLAND": "NL", "THE NETHERLANDS": "NL",
    "UAE": "AE", "EMIRATES": "AE", "BOLIVIA": "BO", "VENEZUELA": "VE", "TANZANIA": "TZ",
    "MOLDOVA": "MD", "BRUNEI": "BN", "IVORY COAST": "CI", "CONGO DR": "CD", "UNKNOWN": UNKNOWN_COUNTRY,
}


@cache
def _country_lookup(value: str) -> str | None:
    key = value.strip().upper()
    codes = country_codes()
    if key in codes:
        return key
    if key in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[key]
    try:  # names, official names, alpha-3 and numeric codes; no fuzzy guessing
        return pycountry.countries.lookup(value.strip()).alpha_2
    except LookupError:
        return None


def country(raw: pd.Series) -> Parsed:
    """ISO alpha-2 from alpha-2, alpha-3, numeric-free names and common aliases."""
    s = _as_text(raw)
    values = _map_distinct(s, _country_lookup)
    values = values.where(values.notna() & (values != "None"))
    bad = s.notna() & values.isna()
    return Parsed(values, bad, "not a recognised country (ISO 3166 name, alpha-2 or alpha-3)")


_LIST_SPLIT = re.compile(r"\s*[;,|>/]\s*")


def _country_list_lookup(value: str) -> str | None:
    codes = [_country_lookup(t) for t in _LIST_SPLIT.split(value) if t.strip()]
    if not codes or any(c is None for c in codes):
        return None
    return ";".join(codes)


def country_list(raw: pd.Series) -> Parsed:
    """Transit countries as ';'-separated alpha-2 ('Thailand, Mexico' -> 'TH;MX')."""
    s = _as_text(raw)
    values = _map_distinct(s, _country_list_lookup)
    values = values.where(values.notna() & (values != "None"))
    bad = s.notna() & values.isna()
    return Parsed(values, bad, "not a list of recognised countries")


# --- numbers, weights, money ----------------------------------------------------------------

_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


def number(raw: pd.Series) -> Parsed:
    """Finite numbers; '1,234.5' thousands separators accepted. Text, inf and NaN spelt out are bad."""
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        present = raw.notna()
    else:
        s = _as_text(raw)
        has_commas = s.str.contains(",", regex=False).fillna(False).astype(bool)
        if has_commas.any():
            thousands = s.str.fullmatch(_THOUSANDS).fillna(False).astype(bool)
            s = s.where(~thousands, s.str.replace(",", "", regex=False))
        values = pd.to_numeric(s, errors="coerce").astype("float64")
        present = s.notna()
    bad = present & ~np.isfinite(values)  # unreadable text (NaN) or inf
    return Parsed(values.where(~bad), bad, "not a finite number")


#: kilograms per unit of weight
WEIGHT_UNITS = {
    "kg": 1.0, "kgs": 1.0, "kgm": 1.0, "kilogram": 1.0, "kilograms": 1.0,
    "g": 0.001, "gram": 0.001, "grams": 0.001,
    "lb": 0.45359237, "lbs": 0.45359237, "pound": 0.45359237, "pounds": 0.45359237,
    "t": 1000.0, "mt": 1000.0, "tonne": 1000.0, "tonnes": 1000.0, "tne": 1000.0,
}


def weight_factor(unit: str) -> float:
    try:
        return WEIGHT_UNITS[unit.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown weight unit {unit!r}; known: kg, g, lb, t") from None


def weight_kg(raw: pd.Series, unit: str | pd.Series = "kg") -> Parsed:
    """Weights in kg from kg, g, lb or t; ``unit`` is one unit or a per-row column of units."""
    parsed = number(raw)
    if isinstance(unit, str):
        return Parsed(parsed.values * weight_factor(unit), parsed.bad, parsed.reason)
    units = _as_text(unit).str.lower()
    factors = units.map(WEIGHT_UNITS).astype("float64")
    bad_unit = parsed.values.notna() & factors.isna()
    values = parsed.values * factors
    bad = parsed.bad | bad_unit
    reason = "not a finite number, or a weight unit other than kg, g, lb, t"
    return Parsed(values, bad, reason)


def money_usd(raw: pd.Series, currency: str | pd.Series, usd_rates: dict[str, float]) -> Parsed:
    """Values in USD. ``usd_rates`` gives US dollars per one unit of each currency (caller's rate)."""
    rates = {k.upper(): float(v) for k, v in usd_rates.items()}
    rates.setdefault("USD", 1.0)
    parsed = number(raw)
    if isinstance(currency, str):
        code = currency.strip().upper()
        if code not in rates:
            raise ValueError(f"no USD rate given for currency {code}; pass one (e.g. --fx {code}=0.00077)")
        return Parsed(parsed.values * rates[code], parsed.bad, parsed.reason)
    codes = _as_text(currency).str.upper()
    factors = codes.map(rates).astype("float64")
    bad = parsed.bad | (parsed.values.notna() & factors.isna())
    return Parsed(parsed.values * factors, bad, "not a finite number, or a currency with no USD rate given")


# --- codes ----------------------------------------------------------------------------------

_TRANSPORT_ALIASES = {
    "ocean": "sea", "maritime": "sea", "vessel": "sea", "ship": "sea", "sea freight": "sea",
    "air freight": "air", "air cargo": "air", "airfreight": "air", "plane": "air",
    "truck": "road", "lorry": "road", "land": "road",
    "train": "rail", "railway": "rail",
    "mail": "post", "postal": "post", "parcel post": "post",
    "express": "courier", "express courier": "courier", "express delivery": "courier",
}


def transport_mode(raw: pd.Series, values: dict[str, str] | None = None) -> Parsed:
    """Transport mode in the contract's words; ``values`` maps a source system's own codes."""
    s = _as_text(raw)
    own = {str(k): v for k, v in (values or {}).items()}

    def lookup(v: str) -> str | None:
        if v in own:
            return own[v] or "<missing>"
        key = v.lower()
        if key in TRANSPORT_MODES:
            return key
        return _TRANSPORT_ALIASES.get(key)

    mapped = _map_distinct(s, lookup)
    mapped = mapped.where(mapped.notna() & (mapped != "None"))
    bad = s.notna() & mapped.isna()
    mapped = mapped.where(mapped != "<missing>")  # a mapping's explicit "code means unknown"
    return Parsed(mapped, bad, f"transport mode must be one of {', '.join(TRANSPORT_MODES)}")


_UNIT_ALIASES = {
    "KGS": "KG", "KGM": "KG", "KILO": "KG", "KILOGRAM": "KG", "GRM": "G", "TNE": "T", "MT": "T",
    "LTR": "L", "LITRE": "L", "LITER": "L", "LITRES": "L", "LITERS": "L",
    "MTQ": "M3", "CBM": "M3", "MTK": "M2", "SQM": "M2", "MTR": "M",
    "PC": "PCS", "PCE": "PCS", "PIECE": "PCS", "PIECES": "PCS", "NAR": "PCS", "U": "PCS", "UNIT": "PCS",
    "UNITS": "PCS", "EA": "PCS", "NO": "PCS", "NPR": "PR", "PAIR": "PR", "PAIRS": "PR", "SETS": "SET",
    "DZN": "DZ", "DOZ": "DZ",
}


def quantity_unit(raw: pd.Series) -> Parsed:
    s = _as_text(raw).str.upper()

    def lookup(v: str) -> str | None:
        return v if v in QUANTITY_UNITS else _UNIT_ALIASES.get(v)

    values = _map_distinct(s, lookup)
    values = values.where(values.notna() & (values != "None"))
    return Parsed(values, s.notna() & values.isna(), f"quantity unit must be one of {', '.join(QUANTITY_UNITS)}")


def code(raw: pd.Series, choices: tuple[str, ...]) -> Parsed:
    """Upper-case codes from a closed list (Incoterms)."""
    s = _as_text(raw).str.upper()
    ok = s.isin(choices)
    return Parsed(s.where(ok), s.notna() & ~ok, f"must be one of {', '.join(choices)}")


#: YYYY-MM-DD, optionally with a time and then optionally a UTC offset ('2024-11-01T23:00+05:00')
_ISO_DATE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)


def _strftime(value: str, fmt: str) -> str | None:
    try:
        return datetime.strptime(value, fmt).strftime("%Y-%m-%d")  # the date as written, offset ignored
    except ValueError:
        return None


def date(raw: pd.Series, fmt: str | None = None) -> Parsed:
    """Dates (day precision): YYYY-MM-DD (a time may follow) unless the source's ``fmt`` says otherwise.

    A value with a UTC offset counts on its own local calendar date ('2024-11-01T23:00+05:00' is
    2024-11-01); '2024' or '2024-11' alone is not a date.
    """
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        values = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) else raw
        return Parsed(values.dt.normalize(), pd.Series(False, index=raw.index), "")
    s = _as_text(raw)
    if fmt is None:
        ymd = s.str.slice(0, 10).where(s.str.fullmatch(_ISO_DATE).fillna(False).astype(bool))
    else:
        ymd = s.map({v: _strftime(v, fmt) for v in pd.unique(s.dropna())})
    values = pd.to_datetime(ymd, format="%Y-%m-%d", errors="coerce")
    bad = s.notna() & values.isna()
    return Parsed(values, bad, f"not a date{' in format ' + fmt if fmt else ' (YYYY-MM-DD)'}")


_FLAG_VALUES = {
    "1": 1, "0": 0, "1.0": 1, "0.0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "y": 1, "n": 0,
}


def flag(raw: pd.Series) -> Parsed:
    s = _as_text(raw).str.lower()
    values = s.map(_FLAG_VALUES).astype("Float64").astype("Int8")
    bad = s.notna() & values.isna()
    return Parsed(values, bad, "must be 0 or 1")


__all__ = [
    "Parsed", "text", "identifier", "hs_code", "country", "country_list", "number", "weight_kg",
    "weight_factor", "money_usd", "transport_mode", "quantity_unit", "code", "date", "flag",
    "WEIGHT_UNITS",
]
