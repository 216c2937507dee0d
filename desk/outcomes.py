"""Inspection outcomes by every path, through one core: a case's form, a file of cases' outcomes,
``POST /v1/outcomes`` (:func:`record`).

An outcome goes into the history as an outcome version (it counts in the seizure features of
declarations from the next day on, and in retraining) and, where its declaration has a case,
into the case, which becomes inspected; both with an audit event, in one transaction. Whatever
the path:

- a declaration's recorded result (inspected, found or not) is corrected only by a supervisor,
  with a reason; an analyst's different result for it is refused, and says why;
- a closed case's outcome stands: only the case's own path (its form, the cases' file) may
  correct it, by a supervisor with a reason; ``/v1/outcomes`` is refused for it;
- a result identical to the current one changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy import select

from contraband.data.normalise import identifier_text
from contraband.desk import audit
from contraband.desk import schema as S

#: the roles that may correct a recorded result
CORRECTING_ROLES = ("supervisor", "admin")
#: what a case holds of its outcome
CASE_FIELDS = ("contraband_found", "material", "concealment", "hs_code_found", "seized_quantity_kg",
               "seized_value_usd", "note")
_RESULT = ("inspected", "contraband", "seized_value_usd", "material", "note")


@dataclass
class Recorded:
    """What :func:`record` did: the cases it changed (as they are now), how many outcome versions
    went into the history, how many repeated the current result, and the refused ones as
    (position in the outcomes sent, kind, reason); kind is ``not_found``, ``conflict``,
    ``forbidden`` or ``invalid`` (what the history refuses: an unknown declaration...)."""

    cases: list[dict] = field(default_factory=list)
    recorded: int = 0
    unchanged: int = 0
    refused: list[tuple[int, str, str]] = field(default_factory=list)


def record(desk, outcomes: list[tuple], actor: str, *, role: str = "analyst", reason: str | None = None,
           declaration_ids: bool = False, through_case: bool = True, source: str | None = None,
           recorded_at=None) -> Recorded:
    """Record ``outcomes``: (case number, or with ``declaration_ids`` declaration id; fields) pairs.
    The fields are a case's words (:data:`CASE_FIELDS`, ``contraband_found`` 0/1 or None while
    pending), with ``inspected`` (default 1). ``through_case``: the path names the case (its form,
    the cases' file), so a key without a case is refused; otherwise (``/v1/outcomes``) a
    declaration without a case takes its outcome into the history alone. ``reason``: why a
    recorded result is corrected (required for a correction, with a supervisor's ``role``)."""
    keys = [str(k) if declaration_ids else int(k) for k, _ in outcomes]
    odd = {}  # declaration ids in no one spelling: refused, never matched to a look-alike
    if declaration_ids:
        spelt = [identifier_text(k) for k in keys]
        odd = {i: problem for i, (_, problem) in enumerate(spelt) if problem}
        keys = [k if i in odd else (text or "") for i, (k, (text, _)) in enumerate(zip(keys, spelt))]
    reason = (reason or "").strip() or None
    found = _cases(desk, [k for i, k in enumerate(keys) if i not in odd], declaration_ids)
    out = Recorded()
    chosen, seen = [], set()  # (position, declaration id, case number or None)
    for i, key in enumerate(keys):
        what = f"declaration {key}" if declaration_ids else f"case {key}"
        case = found.get(key)
        if i in odd:
            out.refused.append((i, "invalid", f"declaration id {key!r}: {odd[i]}"))
        elif case is None and (through_case or not declaration_ids):
            out.refused.append((i, "not_found", f"no case for {what}" if declaration_ids else f"no {what}"))
        elif key in seen:
            out.refused.append((i, "conflict", f"{what} appears twice"))
        elif case is not None and case["state"] == "closed" and not (through_case and role in CORRECTING_ROLES
                                                                     and reason):
            out.refused.append((i, "conflict", f"case {case['case_id']} of declaration {case['declaration_id']} is "
                                               "closed: its outcome stands, and changes only through the case, "
                                               "by a supervisor with a reason"))
        else:
            seen.add(key)
            chosen.append((i, case["declaration_id"] if case else key, case))
    if not chosen:
        return out
    current = _current(desk.store, [d for _, d, _ in chosen])
    ready = []
    for i, declaration_id, case in chosen:
        fields = outcomes[i][1]
        before = current.get(declaration_id)
        if _correction(before, case, fields) and not (role in CORRECTING_ROLES and reason):
            out.refused.append((i, "forbidden", _why_not(declaration_id, before, case, role)))
        else:
            ready.append((i, declaration_id, case))
    if not ready:
        out.refused.sort()
        return out
    history = pd.DataFrame([history_outcome(d, outcomes[i][1]) for i, d, _ in ready])
    if recorded_at is not None:
        history["recorded_at"] = pd.Timestamp(recorded_at)
    by_declaration = {d: (i, case) for i, d, case in ready}
    at = audit.now()

    def then(conn, written: pd.DataFrame, earlier: pd.DataFrame) -> None:
        previous = {r["declaration_id"]: _result(r) for r in earlier.to_dict("records")}
        for version in written.to_dict("records"):
            i, case = by_declaration[version["declaration_id"]]
            fields = outcomes[i][1]
            was = previous.get(version["declaration_id"])
            corrects = was is not None and _is_result(was)
            if case is not None and _is_result(_result(version)):
                out.cases.append(_into_case(desk, conn, case["case_id"], fields, actor, at,
                                            reason if corrects else None))
            else:
                now = _result(version)
                audit.record(conn, actor, "outcome.correct" if corrects else "outcome",
                             f"declaration:{version['declaration_id']}", was,
                             {**now, "reason": reason} if corrects else now, at=at)

    report = desk.store.record_outcomes(history, source=source or f"desk:{actor}", then=then)
    out.recorded, out.unchanged = report.recorded, report.unchanged
    if len(report.rejected):  # rows of the frame sent, from 1
        out.refused += [(ready[int(r.row) - 1][0], "conflict",
                         f"the history refused the outcome of {ready[int(r.row) - 1][1]}: {r.reason}")
                        if through_case else (ready[int(r.row) - 1][0], "invalid", r.reason)
                        for r in report.rejected.itertuples()]
    if report.unchanged:  # the history kept its result; a case's own fields may still be new
        written = {c["declaration_id"] for c in out.cases}
        for i, declaration_id, case in ready:
            if case is not None and declaration_id not in written and _case_differs(case, outcomes[i][1]) \
                    and _is_result(current.get(declaration_id)):
                with desk.store.writing() as conn:
                    out.cases.append(_into_case(desk, conn, case["case_id"], outcomes[i][1], actor, at,
                                                reason if case["state"] != "open" else None))
    out.refused.sort()
    return out


def history_outcome(declaration_id: str, fields: dict) -> dict:
    """The history's words for an outcome in a case's words (what features and retraining read)."""
    found = fields.get("contraband_found")
    found = None if found is None else int(found)
    return {"declaration_id": declaration_id, "inspected": int(fields.get("inspected", 1)),
            "contraband": math.nan if found is None else found,
            "seized_value_usd": fields.get("seized_value_usd") if found else None,
            "material": fields.get("material"), "note": fields.get("note")}


def _into_case(desk, conn, case_id: int, fields: dict, actor: str, at: str, reason: str | None) -> dict:
    """The outcome into its case (open becomes inspected; a closed case stays closed), audited."""
    before = desk._case(conn, case_id)
    values = {k: fields[k] for k in CASE_FIELDS if k in fields}
    state = "inspected" if before["state"] == "open" else before["state"]
    conn.execute(S.cases.update().where(S.cases.c.case_id == int(case_id))
                 .values(state=state, updated_at=at, inspected_by=actor, **values))
    after = desk._case(conn, case_id)
    audit.record(conn, actor, "case.correct" if reason else "case.outcome", f"case:{case_id}", before,
                 {**after, "reason": reason} if reason else after, at=at)
    return after


def _cases(desk, keys: list, declaration_ids: bool) -> dict:
    """The cases of ``keys`` (case numbers or declaration ids): key -> the case's row."""
    column = S.cases.c.declaration_id if declaration_ids else S.cases.c.case_id
    found = {}
    with desk.engine.connect() as conn:
        for start in range(0, len(keys), 900):
            for row in conn.execute(select(*S.cases.c).where(column.in_(keys[start:start + 900]))).all():
                found[row._mapping[column.name]] = dict(row._mapping)
    return found


def _current(store, ids: list) -> dict:
    """Each declaration's current outcome (the latest version) in the history's words."""
    frame = store.outcomes(ids=ids) if ids else None
    if frame is None or not len(frame):
        return {}
    frame = frame.sort_values("recorded_at", kind="stable").drop_duplicates("declaration_id", keep="last")
    return {r["declaration_id"]: {**_result(r), "recorded_at": r.get("recorded_at"), "source": r.get("source")}
            for r in frame.to_dict("records")}


def _result(row: dict) -> dict:
    return {k: _plain(row.get(k)) for k in _RESULT}


def _plain(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def _is_result(result: dict | None) -> bool:
    """A recorded result: inspected, and whether contraband was found known (not pending)."""
    return result is not None and result.get("inspected") == 1 and result.get("contraband") is not None


def _correction(before: dict | None, case: dict | None, fields: dict) -> bool:
    """Would these fields change a recorded result (the history's, or an inspected case's)?"""
    new = _result(history_outcome("", fields))
    if _is_result(before) and any(_differs(before[k], new[k]) for k in _RESULT):
        return True
    return case is not None and case["state"] != "open" and _case_differs(case, fields)


def _case_differs(case: dict, fields: dict) -> bool:
    return any(_differs(case.get(k), fields[k]) for k in CASE_FIELDS if k in fields)


def _differs(a, b) -> bool:
    a, b = _plain(a), _plain(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a != b


def _why_not(declaration_id: str, before: dict | None, case: dict | None, role: str) -> str:
    if _is_result(before):
        said = "contraband found" if before["contraband"] else "nothing found"
        when = str(before.get("recorded_at") or "")[:10]
        by = before.get("source") or "unknown"
        what = f"declaration {declaration_id} already has a recorded result ({said}, {when}, by {by})"
    else:
        what = f"case {case['case_id']} of declaration {declaration_id} already has its outcome"
    who = "a supervisor's key and a reason" if role not in CORRECTING_ROLES else "a reason"
    return f"{what}: a correction needs {who}"
