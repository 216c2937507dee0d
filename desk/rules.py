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
        """Which declarations of ``frame`` (canonical columns) the rule hits, on their own day."""
        hit = np.ones(len(frame), dtype=bool)
        days = _days(frame)
        if self.valid_from:
            hit &= days >= day_of(self.valid_from)
        if self.valid_to:
            hit &= days <= day_of(self.valid_to)
        for name, value in self.conditions.items():
            if not hit.any():
                break
            if name in _LISTS:
                hit &= _any_of(name, frame.get(_LISTS[name]), value, len(frame))
            else:
                numbers = _usd_per_kg(frame) if name == "usd_per_kg" else _number(frame.get(_RANGES[name]), len(frame))
                inside = ~np.isnan(numbers)
                if "min" in value:
                    inside &= numbers >= value["min"]
                if "max" in value:
                    inside &= numbers <= value["max"]
                hit &= inside
        return hit


def _days(frame: pd.DataFrame) -> np.ndarray:
    from contraband.data.keys import day_numbers

    return day_numbers(pd.to_datetime(frame["declaration_date"]))


def _text(column, n: int) -> pd.Series:
    if column is None:
        return pd.Series([""] * n, dtype=object)
    return pd.Series(np.asarray(column, dtype=object)).where(pd.notna(column), "").astype(str)


def _number(column, n: int) -> np.ndarray:
    if column is None:
        return np.full(n, np.nan)
    return pd.to_numeric(pd.Series(np.asarray(column, dtype=object)), errors="coerce").to_numpy(dtype=np.float64)


def _usd_per_kg(frame: pd.DataFrame) -> np.ndarray:
    value, weight = _number(frame.get("declared_value_usd"), len(frame)), _number(frame.get("net_weight_kg"), len(frame))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(weight > 0, value / weight, np.nan)


def _any_of(name: str, column, values: list[str], n: int) -> np.ndarray:
    text = _text(column, n)
    wanted = [v.strip() for v in values]
    if name == "hs_prefixes":
        return text.str.startswith(tuple(wanted)).to_numpy(dtype=bool)
    if name == "description_words":
        pattern = r"\b(?:" + "|".join(re.escape(w) for w in wanted) + r")\b"
        return text.str.contains(pattern, case=False, regex=True).to_numpy(dtype=bool)
    if name == "transit_countries":
        upper = {w.upper() for w in wanted}
        return np.array([bool(upper & set(t.upper().split(";"))) for t in text], dtype=bool)
    if name.endswith("_countries"):
        return text.str.upper().isin({w.upper() for w in wanted}).to_numpy(dtype=bool)
    return text.isin(set(wanted)).to_numpy(dtype=bool)


def hits(rules: list[Rule], frame: pd.DataFrame) -> pd.DataFrame:
    """The strongest rule hitting each declaration (red before yellow, then the oldest rule):
    ``declaration_id``, ``rule_id``, ``lane``, ``reason``, one row per declaration hit."""
    out = []
    taken = np.zeros(len(frame), dtype=bool)
    ids = frame["declaration_id"].astype(str).to_numpy(dtype=object)
    for rule in sorted((r for r in rules if not r.retired), key=lambda r: (r.lane != "red", _number_of(r.rule_id))):
        hit = rule.matches(frame) & ~taken
        taken |= hit
        if hit.any():
            out.append(pd.DataFrame({"declaration_id": ids[hit], "rule_id": rule.rule_id, "lane": rule.lane,
                                     "reason": f"{rule.name}: {rule.rationale} ({rule.in_words()})"}))
    if not out:
        return pd.DataFrame(columns=["declaration_id", "rule_id", "lane", "reason"])
    return pd.concat(out, ignore_index=True)


def _number_of(rule_id: str) -> int:
    digits = re.sub(r"\D", "", rule_id or "")
    return int(digits) if digits else 0

