"""Property-based tests of every rule condition against a brute-force reading, row by row.

Frames come with any index (shifted, shuffled, repeated, text labels), missing and odd cells
(None, NaN, pd.NA, numbers where text is expected, infinities, text where numbers are
expected); a rule's answer for a row must be what the condition says of that row's cells alone
(the index and the other rows play no part), and no cell ever makes a rule raise."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contraband.desk.rules import CONDITIONS, Rule, RuleFailure, hits

CODES = ["850511", "850519", "284690", "690890", "381090"]
COUNTRIES = ["CN", "cn", "TH", "MX", "KR", "VN"]
TRADERS = ["E1", "E2", "C1", " E1 ", "D9"]
WORDS = ["solder paste", "tiles", "magnet", "Magnets", "rare earth oxide"]

odd = st.sampled_from([None, float("nan"), pd.NA, "", "  ", float("inf"), -1.5, 0])
text_cells = {
    "hs_code": st.one_of(odd, st.sampled_from(CODES), st.integers(0, 999999), st.sampled_from([850511.0, 2846.5])),
    "origin_country": st.one_of(odd, st.sampled_from(COUNTRIES)),
    "export_country": st.one_of(odd, st.sampled_from(COUNTRIES)),
    "destination_country": st.one_of(odd, st.sampled_from(COUNTRIES)),
    "transit_countries": st.one_of(odd, st.lists(st.sampled_from(COUNTRIES), max_size=3).map(";".join),
                                   st.just("th; mx")),
    "exporter_id": st.one_of(odd, st.sampled_from(TRADERS)),
    "consignee_id": st.one_of(odd, st.sampled_from(TRADERS)),
    "declarant_id": st.one_of(odd, st.sampled_from(TRADERS)),
    "goods_description": st.one_of(odd, st.lists(st.sampled_from(WORDS + ["of", "pallet"]), max_size=4).map(" ".join),
                                   st.text(max_size=12)),
}
number_cells = st.one_of(odd, st.floats(-10, 1e6, allow_nan=False), st.integers(-5, 10**6),
                         st.sampled_from(["12.5", "n/a", "1e3"]))
date_cells = st.one_of(st.sampled_from([None, "", "not a date", float("nan")]),
                       st.dates(pd.Timestamp("2026-04-25").date(), pd.Timestamp("2026-05-10").date()).map(str))

LIST_VALUES = {"hs_prefixes": st.lists(st.sampled_from(["85", "8505", "850519", "2846", "69"]), min_size=1, max_size=3),
               "origin_countries": st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=3),
               "export_countries": st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=3),
               "destination_countries": st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=3),
               "transit_countries": st.lists(st.sampled_from(["TH", "mx", "VN"]), min_size=1, max_size=3),
               "exporters": st.lists(st.sampled_from(TRADERS[:3] + ["D9"]), min_size=1, max_size=3),
               "consignees": st.lists(st.sampled_from(TRADERS[:3]), min_size=1, max_size=3),
               "declarants": st.lists(st.sampled_from(["D9", "E1"]), min_size=1, max_size=3),
               "description_words": st.lists(st.sampled_from(WORDS), min_size=1, max_size=3)}
bounds = st.fixed_dictionaries({}, optional={"min": st.floats(-5, 1000), "max": st.floats(0, 2e5)}).filter(
    lambda b: b and (len(b) < 2 or b["min"] <= b["max"]))
CONDITION_VALUES = {**LIST_VALUES, "value_usd": bounds, "net_weight_kg": bounds, "usd_per_kg": bounds}
assert set(CONDITION_VALUES) == set(CONDITIONS)  # every condition kind is drawn


@st.composite
def frames(draw):
    n = draw(st.integers(0, 9))
    columns = {"declaration_id": [f"D{i}" for i in range(n)],
               "declaration_date": draw(st.lists(date_cells, min_size=n, max_size=n))}
    for name, cells in text_cells.items():
        if draw(st.booleans()) or name == "hs_code":  # a column may be absent altogether
            columns[name] = draw(st.lists(cells, min_size=n, max_size=n))
    for name in ("declared_value_usd", "net_weight_kg"):
        columns[name] = draw(st.lists(number_cells, min_size=n, max_size=n))
    frame = pd.DataFrame(columns, dtype=object)
    index = draw(st.sampled_from(["range", "shifted", "shuffled", "repeated", "text"]))
    if index == "shifted":
        frame.index = np.arange(n) + draw(st.integers(1, 1000))
    elif index == "shuffled":
        frame.index = draw(st.permutations(list(range(n))))
    elif index == "repeated":
        frame.index = [7] * n
    elif index == "text":
        frame.index = [f"row{i}" for i in range(n)]
    return frame


@st.composite
def rules(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(CONDITIONS)), min_size=1, max_size=3, unique=True))
    conditions = {k: draw(CONDITION_VALUES[k]) for k in kinds}
    window = draw(st.sampled_from([(None, None), ("2026-05-01", None), (None, "2026-05-03"),
                                   ("2026-04-28", "2026-05-05")]))
    return Rule(name="r", lane=draw(st.sampled_from(["red", "yellow"])), conditions=conditions, rationale="why",
                valid_from=window[0], valid_to=window[1], rule_id=f"R-{draw(st.integers(1, 9))}")


# --- the brute force: one row's cells, read as the docstring of desk/rules.py says -----------
def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v))


def _as_text(v) -> str:
    if _missing(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _as_number(v) -> float | None:
    if _missing(v) or isinstance(v, bool):
        return None
    try:
        x = float(str(v).strip()) if isinstance(v, str) else float(v)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


FIELD = {"hs_prefixes": "hs_code", "origin_countries": "origin_country", "export_countries": "export_country",
         "destination_countries": "destination_country", "transit_countries": "transit_countries",
         "exporters": "exporter_id", "consignees": "consignee_id", "declarants": "declarant_id",
         "description_words": "goods_description"}


def _holds(name: str, wanted, row: dict) -> bool:
    if name in FIELD:
        cell = _as_text(row.get(FIELD[name])).strip()
        if name == "hs_prefixes":
            return any(cell.startswith(p) for p in wanted)
        if name == "description_words":
            words = re.findall(r"\w+", cell.lower())
            return any(_contains(words, re.findall(r"\w+", w.lower())) for w in wanted)
        if name == "transit_countries":
            return bool({t.strip().upper() for t in cell.split(";")} & {w.upper() for w in wanted})
        if name.endswith("_countries"):
            return cell.upper() in {w.upper() for w in wanted}
        return cell in {w.strip() for w in wanted}
    if name == "usd_per_kg":
        value, weight = _as_number(row.get("declared_value_usd")), _as_number(row.get("net_weight_kg"))
        x = value / weight if value is not None and weight is not None and weight > 0 else None
        x = x if x is not None and math.isfinite(x) else None  # a ratio that overflows is no figure
    else:
        x = _as_number(row.get({"value_usd": "declared_value_usd", "net_weight_kg": "net_weight_kg"}[name]))
    return x is not None and wanted.get("min", -math.inf) <= x <= wanted.get("max", math.inf)


def _contains(words: list[str], phrase: list[str]) -> bool:
    return any(words[i:i + len(phrase)] == phrase for i in range(len(words) - len(phrase) + 1))


def _in_window(rule: Rule, row: dict) -> bool:
    if not (rule.valid_from or rule.valid_to):
        return True
    day = pd.to_datetime(row.get("declaration_date"), errors="coerce")
    if pd.isna(day):
        return False
    return (not rule.valid_from or day >= pd.Timestamp(rule.valid_from)) and \
        (not rule.valid_to or day <= pd.Timestamp(rule.valid_to))


def _brute(rule: Rule, frame: pd.DataFrame) -> list[bool]:
    rows = [dict(zip(frame.columns, values)) for values in frame.itertuples(index=False, name=None)]
    return [_in_window(rule, r) and all(_holds(k, v, r) for k, v in rule.conditions.items()) for r in rows]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), rule=rules())
def test_every_condition_matches_each_row_as_brute_force_does_whatever_the_index_and_cells(frame, rule):
    got = rule.matches(frame)
    assert got.dtype == bool and got.shape == (len(frame),)
    assert got.tolist() == _brute(rule, frame)
    # each row's answer is its own: the same row alone, or in reverse order, gets the same
    if len(frame):
        assert rule.matches(frame.iloc[::-1]).tolist() == got[::-1].tolist()
        assert rule.matches(frame.iloc[[len(frame) - 1]]).tolist() == [got[-1]]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), chosen=st.lists(rules(), min_size=1, max_size=4))
def test_hits_take_the_strongest_rule_and_list_every_rule_that_matched(frame, chosen):
    chosen = [Rule(**{**r.body(), "rule_id": f"R-{i + 1}"}) for i, r in enumerate(chosen)]
    out = hits(chosen, frame)
    ids = [str(i) for i in frame["declaration_id"]]
    strength = sorted(chosen, key=lambda r: (r.lane != "red", int(r.rule_id[2:])))
    expected = {}
    for i, row in enumerate(ids):
        matched = [r for r in strength if _brute(r, frame.iloc[[i]])[0]]
        if matched:
            expected[row] = (matched[0].rule_id, matched[0].lane, ";".join(r.rule_id for r in matched))
    got = {r.declaration_id: (r.rule_id, r.lane, r.rules_hit) for r in out.itertuples()}
    assert got == expected


class _Broken(Rule):
    def matches(self, frame):
        raise KeyError("a column this rule did not expect")


def test_a_rule_that_fails_is_skipped_reported_and_costs_nobody_else():
    frame = pd.DataFrame({"declaration_id": ["a", "b"], "declaration_date": ["2026-05-01"] * 2,
                          "hs_code": ["850511", "690890"]}, index=[5, 6])
    good = Rule(name="magnets", lane="yellow", conditions={"hs_prefixes": ["8505"]}, rationale="x", rule_id="R-2")
    broken = _Broken(name="bad", lane="red", conditions={"hs_prefixes": ["69"]}, rationale="x", rule_id="R-1")
    failures: list[RuleFailure] = []
    out = hits([broken, good], frame, failures)
    assert list(out["declaration_id"]) == ["a"] and list(out["rule_id"]) == ["R-2"]
    assert [f.rule_id for f in failures] == ["R-1"] and "KeyError" in failures[0].error


@pytest.mark.parametrize("transit", [None, float("nan"), 3.0, ""])
def test_a_transit_rule_never_breaks_on_a_missing_or_numeric_transit(transit):
    """The page's transit rule once answered 500 on every upload ('float' has no 'upper')."""
    frame = pd.DataFrame({"declaration_id": ["a", "b"], "declaration_date": ["2026-05-01"] * 2,
                          "transit_countries": [transit, "VN;TH"]}, index=[1, 2])
    rule = Rule(name="via Thailand", lane="red", conditions={"transit_countries": ["TH"]}, rationale="x")
    assert rule.matches(frame).tolist() == [False, True]
