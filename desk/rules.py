"""Analysts' targeting rules: conditions on a declaration, a lane, a rationale and the officer's
instructions, valid between two dates.

A rule's conditions all hold for a hit (and); within one condition, any listed value will do
(or). Conditions:

- ``hs_prefixes``: the HS code starts with one of them ("8505", "284690");
- ``origin_countries``, ``export_countries``, ``destination_countries``: alpha-2 codes;
- ``transit_countries``: the route passes through one of them;
- ``exporters``, ``consignees``, ``declarants``: trader ids;
- ``value_usd``, ``net_weight_kg``, ``usd_per_kg``: ``{"min": a, "max": b}`` (either bound);
- ``description_words``: one of these words (or phrases) is in the goods description (any
  case, whole words).

A rule is versioned: changing it adds a version, retiring it adds a retired version; nothing is
deleted. Its hits count under its id across versions.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contraband.data.keys import day_of

_LISTS = {"hs_prefixes": "hs_code", "origin_countries": "origin_country", "export_countries": "export_country",
          "destination_countries": "destination_country", "transit_countries": "transit_countries",
          "exporters": "exporter_id", "consignees": "consignee_id", "declarants": "declarant_id",
          "description_words": "goods_description"}
_RANGES = {"value_usd": "declared_value_usd", "net_weight_kg": "net_weight_kg", "usd_per_kg": None}
CONDITIONS = (*_LISTS, *_RANGES)
_WORDS = {"hs_prefixes": "HS code starts with", "origin_countries": "origin", "export_countries": "shipped from",
          "destination_countries": "destination", "transit_countries": "transit through", "exporters": "exporter",
          "consignees": "consignee", "declarants": "declarant", "description_words": "description mentions",
          "value_usd": "declared value (USD)", "net_weight_kg": "net weight (kg)", "usd_per_kg": "USD per kg"}
#: the words an analyst reads for each condition (the page's rule form is built from them)
CONDITION_WORDS = _WORDS
#: the conditions that are a range (min, max) rather than a list of values
RANGED_CONDITIONS = _RANGES
_MAX_VALUES = 500


class RuleError(ValueError):
    """A rule that cannot be kept (the message names the field)."""


@dataclass(frozen=True)
class Rule:
    """One version of a rule."""

    name: str
    lane: str
    conditions: dict
    rationale: str
    instructions: str = ""
    valid_from: str | None = None  # YYYY-MM-DD, inclusive: declarations of that day on
    valid_to: str | None = None  # inclusive
    rule_id: str = ""
    version: int = 0
    author: str = ""
    created_at: str = ""
    retired: bool = False
    note: str = ""

    def __post_init__(self):
        if self.lane not in ("red", "yellow"):
            raise RuleError(f"lane: a rule sends declarations to red or yellow, not {self.lane!r}")
        for name, limit in (("name", 120), ("rationale", 2000), ("instructions", 4000)):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > limit:
                raise RuleError(f"{name}: text of at most {limit} characters")
        if not self.name.strip() or not self.rationale.strip():
            raise RuleError("a rule needs a name and a rationale (the reason an analyst reads)")
        if not isinstance(self.conditions, dict) or not self.conditions:
            raise RuleError("conditions: a rule needs at least one condition")
        unknown = set(self.conditions) - set(CONDITIONS)
        if unknown:
            raise RuleError(f"conditions: unknown {', '.join(sorted(unknown))} (known: {', '.join(CONDITIONS)})")
        for name, value in self.conditions.items():
            if name in _LISTS:
                if not isinstance(value, list) or not value or len(value) > _MAX_VALUES or not all(
                        isinstance(v, str) and v.strip() and len(v) <= 200 for v in value):
                    raise RuleError(f"conditions.{name}: a list of 1 to {_MAX_VALUES} non-empty texts")
                if name == "hs_prefixes" and not all(v.strip().isdigit() and 2 <= len(v.strip()) <= 10 for v in value):
                    raise RuleError("conditions.hs_prefixes: HS code prefixes of 2 to 10 digits")
            else:
                bounds = value if isinstance(value, dict) else None
                if not bounds or set(bounds) - {"min", "max"} or not all(
                        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                        for v in bounds.values()):
                    raise RuleError(f"conditions.{name}: {{\"min\": number, \"max\": number}} (either or both)")
                if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
                    raise RuleError(f"conditions.{name}: min above max")
        for name in ("valid_from", "valid_to"):
            value = getattr(self, name)
            if value is not None:
                try:
                    datetime.date.fromisoformat(value)
                    if len(value) != 10:
                        raise ValueError(value)
                except (ValueError, TypeError):
                    raise RuleError(f"{name}: a date (YYYY-MM-DD), not {value!r}") from None
        if self.valid_from and self.valid_to and day_of(self.valid_from) > day_of(self.valid_to):
            raise RuleError("valid_from is after valid_to")

    def body(self) -> dict:
        return {"name": self.name, "lane": self.lane, "conditions": self.conditions, "rationale": self.rationale,
                "instructions": self.instructions, "valid_from": self.valid_from, "valid_to": self.valid_to}

    def shown(self) -> dict:
        return {"rule_id": self.rule_id, "version": self.version, **self.body(), "author": self.author,
                "created_at": self.created_at, "retired": self.retired, "note": self.note,
                "in_words": self.in_words()}

    def in_words(self) -> str:
        """The conditions as an analyst reads them."""
        parts = []
        for name, value in self.conditions.items():
            if name in _LISTS:
                shown = ", ".join(f'"{v}"' if name == "description_words" else v for v in value[:8])
                parts.append(f"{_WORDS[name]} {shown}{', ...' if len(value) > 8 else ''}")
            else:
                lo, hi = value.get("min"), value.get("max")
                parts.append(f"{_WORDS[name]} " + (f"{lo:,g} to {hi:,g}" if lo is not None and hi is not None
                                                   else f"at least {lo:,g}" if lo is not None else f"at most {hi:,g}"))
        return "; ".join(parts)

    def matches(self, frame: pd.DataFrame) -> np.ndarray:
        """Which declarations of ``frame`` (canonical columns) the rule hits, on their own day:
        one boolean per row, by position (the frame's index plays no part). A missing or odd
        cell never matches a condition on it, and never raises."""
        n = len(frame)
        hit = np.ones(n, dtype=bool)
        if self.valid_from or self.valid_to:
            days, known = _days(frame)
            if self.valid_from:
                hit &= known & (days >= day_of(self.valid_from))
            if self.valid_to:
                hit &= known & (days <= day_of(self.valid_to))
        for name, value in self.conditions.items():
            if not hit.any():
                break
            if name in _LISTS:
                hit &= _any_of(name, _cells(frame, _LISTS[name]), value)
            else:
                numbers = _usd_per_kg(frame) if name == "usd_per_kg" else _numbers(frame, _RANGES[name])
                inside = ~np.isnan(numbers)
                if "min" in value:
                    inside &= numbers >= value["min"]
                if "max" in value:
                    inside &= numbers <= value["max"]
                hit &= inside
        return hit


def _days(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each row's day number, and whether its date could be read (a missing or unreadable date
    is outside every validity window)."""
    from contraband.data.keys import day_numbers

    out = np.zeros(len(frame), dtype=np.int64)
    if "declaration_date" not in frame:
        return out, np.zeros(len(frame), dtype=bool)
    dates = pd.to_datetime(pd.Series(np.asarray(frame["declaration_date"], dtype=object)), errors="coerce",
                           format="mixed")
    known = dates.notna().to_numpy()
    if known.any():
        out[known] = day_numbers(dates[known].dt.tz_localize(None) if dates.dt.tz is not None else dates[known])
    return out, known


def _cell(value) -> str:
    """A cell as text: "" for a missing one; a whole float without its ".0" (an HS code read as a
    number)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _cells(frame: pd.DataFrame, column: str) -> list[str]:
    """A column's cells as text, by position ("" for every row where the column is absent)."""
    if column not in frame:
        return [""] * len(frame)
    return [_cell(v) for v in np.asarray(frame[column], dtype=object)]


def _numbers(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column's cells as numbers, by position (NaN where absent, missing, not a number or not
    finite)."""
    if column not in frame:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(pd.Series(np.asarray(frame[column], dtype=object)), errors="coerce")
    values = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


def _usd_per_kg(frame: pd.DataFrame) -> np.ndarray:
    value, weight = _numbers(frame, "declared_value_usd"), _numbers(frame, "net_weight_kg")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(weight > 0, value / weight, np.nan)
    return np.where(np.isfinite(ratio), ratio, np.nan)


def _any_of(name: str, cells: list[str], values: list[str]) -> np.ndarray:
    wanted = [v.strip() for v in values]
    if name == "hs_prefixes":
        prefixes = tuple(wanted)
        return np.fromiter((c.strip().startswith(prefixes) for c in cells), dtype=bool, count=len(cells))
    if name == "description_words":
        pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in wanted) + r")\b", re.IGNORECASE)
        return np.fromiter((pattern.search(c) is not None for c in cells), dtype=bool, count=len(cells))
    if name == "transit_countries":
        upper = {w.upper() for w in wanted}
        return np.fromiter((bool(upper & {t.strip().upper() for t in c.split(";")}) for c in cells), dtype=bool,
                           count=len(cells))
    if name.endswith("_countries"):
        upper = {w.upper() for w in wanted}
        return np.fromiter((c.strip().upper() in upper for c in cells), dtype=bool, count=len(cells))
    exact = set(wanted)
    return np.fromiter((c.strip() in exact for c in cells), dtype=bool, count=len(cells))


@dataclass(frozen=True)
class RuleFailure:
    """A rule that could not be applied to a manifest: skipped, the other rules and every
    declaration go on."""

    rule_id: str
    name: str
    error: str

    def shown(self) -> dict:
        return {"rule_id": self.rule_id, "name": self.name, "error": self.error}


HIT_COLUMNS = ["declaration_id", "rule_id", "lane", "reason", "rules_hit"]


def hits(rules: list[Rule], frame: pd.DataFrame, failures: list | None = None) -> pd.DataFrame:
    """The strongest rule hitting each declaration (red before yellow, then the oldest rule):
    ``declaration_id``, ``rule_id``, ``lane``, ``reason`` and ``rules_hit`` (every rule in force
    that matched it, strongest first, ``;``-separated: a rule's figures count the hits a stronger
    rule decided), one row per declaration hit.

    A rule that fails on this frame is skipped and appended to ``failures``
    (:class:`RuleFailure`); it never costs the other rules or the declarations."""
    n = len(frame)
    ids = np.asarray(frame["declaration_id"], dtype=object).astype(str)
    strongest = np.full(n, -1, dtype=np.int64)
    matched: list[list[str]] = [[] for _ in range(n)]
    ordered = sorted((r for r in rules if not r.retired), key=lambda r: (r.lane != "red", _number_of(r.rule_id)))
    for k, rule in enumerate(ordered):
        try:
            hit = np.asarray(rule.matches(frame), dtype=bool)
            if hit.shape != (n,):
                raise ValueError(f"{hit.shape[0] if hit.ndim else 0} answers for {n} declarations")
        except Exception as exc:  # noqa: BLE001 - one rule's failure must never cost an upload
            if failures is not None:
                failures.append(RuleFailure(rule.rule_id, rule.name, f"{type(exc).__name__}: {exc}"))
            continue
        for i in np.flatnonzero(hit):
            matched[i].append(rule.rule_id)
        strongest[hit & (strongest < 0)] = k
    rows = np.flatnonzero(strongest >= 0)
    if not len(rows):
        return pd.DataFrame(columns=HIT_COLUMNS)
    chosen = [ordered[k] for k in strongest[rows]]
    return pd.DataFrame({"declaration_id": ids[rows], "rule_id": [r.rule_id for r in chosen],
                         "lane": [r.lane for r in chosen],
                         "reason": [f"{r.name}: {r.rationale} ({r.in_words()})" for r in chosen],
                         "rules_hit": [";".join(matched[i]) for i in rows]})


def _number_of(rule_id: str) -> int:
    digits = re.sub(r"\D", "", rule_id or "")
    return int(digits) if digits else 0

