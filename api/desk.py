"""The targeting desk over HTTP: who the caller's key is, the selection policy, the analysts'
rules (and a rule's preview), the case queue, outcomes from the queue (one or a file of them),
lane overrides, their review and the audit trail.

Who may do what: an analyst works the queue (lists and exports it, records outcomes, closes
cases, overrides a lane with a reason) and reads the rules and their figures; a supervisor also
sets the policy, writes, changes and retires rules, and reviews the overrides; an admin also
reads and exports the audit trail.

What the desk refuses (:class:`~contraband.desk.CaseError`: no such case, a state that does not
allow it, a field that does not hold) is answered 404, 409 or 400 by the app's handler
(:func:`refused`), with the desk's own sentence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

from fastapi import APIRouter, Depends, File, Form, Path as PathParam, Query, Request, UploadFile
from fastapi.responses import Response
from starlette.convertors import Convertor, register_url_convertor

from contraband.api.deps import AUTH_RESPONSES, BAD_BODY, ApiError, Caller, admin, analyst, problem, supervisor
from contraband.api.limits import LimitedJsonRoute
from contraband.api.schemas import (
    CORRECTION,
    AuditList,
    Case,
    CaseClose,
    CaseList,
    CaseOutcome,
    Decision,
    LaneOverride,
    Me,
    OutcomesImported,
    OverrideList,
    Performance,
    PolicyBody,
    PolicyShown,
    PolicyVersions,
    RuleBody,
    RuleList,
    RulePreview,
    RuleRetire,
    RuleShown,
    RuleVersions,
)
from contraband.data.export import csv_bytes
from contraband.data.intake import IntakeError
from contraband.data.keys import date_of
from contraband.data.load import ContractError
from contraband.desk import CaseError, PolicyError
from contraband.desk.desk import in_queue_order
from contraband.desk.rules import RuleError
from contraband.desk.imports import read_outcomes

router = APIRouter(prefix="/v1", responses=BAD_BODY, route_class=LimitedJsonRoute, tags=["desk"])
_STATUS = {"not_found": 404, "conflict": 409, "invalid": 400, "forbidden": 403}
_CASE_ERRORS = {403: problem("a correction of a recorded outcome without a supervisor's key and a reason"),
                404: problem("no such case or declaration"), 409: problem("the case's state does not allow it")}
_PAGE = 1000
#: a case number in a path: a whole number the database can hold ("/v1/cases/outcomes" is no case)
CASE_ID = PathParam(ge=1, le=2**62, description="the case number")
UPLOAD_PATHS = ("/v1/cases/outcomes",)  # file uploads (the upload size limit, not the JSON one)


def _actor(caller: Caller) -> str:
    return f"api:{caller.key_id}"


def refused(exc: CaseError) -> ApiError:
    """What the desk refused, as the answer (the app's handler of :class:`CaseError`)."""
    return ApiError(_STATUS.get(exc.kind, 400), exc.kind if exc.kind != "invalid" else "bad_request", str(exc))


def _case(row: dict) -> dict:
    """A case as answered (the desk gives missing values as None): the result as a flag."""
    found = row.get("contraband_found")
    return {**row, "contraband_found": None if found is None else bool(found)}


@router.get("/me", response_model=Me, summary="Who the caller's key is", responses=AUTH_RESPONSES)
def who_am_i(caller: Caller = Depends(analyst)):
    """The key's id and role (what the page shows, and what it offers)."""
    return {"key_id": caller.key_id, "role": caller.role}


@router.get("/policy", response_model=PolicyShown, summary="The selection policy in force",
            responses=AUTH_RESPONSES)
def current_policy(request: Request, caller: Caller = Depends(analyst)):
    return request.app.state.desk.policy().shown()


@router.get("/policy/versions", response_model=PolicyVersions, summary="Every version of the selection policy",
            responses=AUTH_RESPONSES)
def policy_versions(request: Request, caller: Caller = Depends(supervisor)):
    return {"versions": request.app.state.desk.policy_versions()}


@router.put("/policy", response_model=PolicyShown, summary="Set the selection policy (a new version)",
            responses={**AUTH_RESPONSES, 400: problem("a policy that cannot be applied")})
def set_policy(request: Request, body: PolicyBody, caller: Caller = Depends(supervisor)):
    """Each lane's capacity per day (a count, or a share of the day's declarations), the random
    control's share and the office column. The policy applies to manifests scored from now on;
    declarations already given a lane keep it."""
    payload = body.model_dump(exclude_none=True)
    payload["red"], payload["yellow"] = body.red.capacity(), body.yellow.capacity()
    try:
        return request.app.state.desk.set_policy(payload, actor=_actor(caller)).shown()
    except PolicyError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@router.get("/cases", response_model=CaseList, summary="The case queue",
            responses={**AUTH_RESPONSES, 200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                               "description": "the cases (JSON, or CSV with format=csv)"}})
def list_cases(request: Request, state: Optional[Literal["open", "inspected", "closed"]] = Query(None),
               lane: Optional[Literal["red", "yellow", "green"]] = Query(None),
               after: int = Query(0, ge=0, le=2**62, description="cases after this case number"),
               limit: int = Query(_PAGE, ge=1, le=_PAGE), format: Literal["json", "csv"] = Query("json"),
               caller: Caller = Depends(analyst)):
    """Each case with its declaration's HS code, goods description and route, red first, then
    yellow (then green), the highest risk first within a lane, then by case number.

    Pages follow case numbers (``after``: the cases after this number, ``next_after``: the last
    number of this page), so the order holds within a page; with format=csv every matching case
    (no paging), in that order, as a file."""
    desk = request.app.state.desk
    if format == "csv":
        frame = in_queue_order(desk.with_goods_and_route(desk.cases(state=state, lane=lane, after=after)))
        return Response(csv_bytes(frame), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="cases.csv"'})
    frame = desk.cases(state=state, lane=lane, after=after, limit=limit + 1)
    more = len(frame) > limit
    frame = frame.iloc[:limit]
    next_after = int(frame["case_id"].iloc[-1]) if more else None  # by case number, before the queue's order
    frame = in_queue_order(desk.with_goods_and_route(frame))
    rows = [_case(r) for r in frame.astype(object).where(frame.notna(), None).to_dict("records")]
    return {"cases": rows, "next_after": next_after}


@router.get("/cases/{case_id:int}", response_model=Case, summary="One case", responses={**AUTH_RESPONSES, **_CASE_ERRORS})
def one_case(request: Request, case_id: int = CASE_ID, caller: Caller = Depends(analyst)):
    return _case(request.app.state.desk.case(case_id))


@router.post("/cases/{case_id:int}/outcome", response_model=Case, summary="Record a case's inspection outcome",
             responses={**AUTH_RESPONSES, **_CASE_ERRORS})
def case_outcome(request: Request, outcome: CaseOutcome, case_id: int = CASE_ID, caller: Caller = Depends(analyst)):
    """The outcome goes into the history (it counts in the features of declarations from the
    next day on, and in retraining) and into the case, which becomes inspected, with an audit
    event, in one transaction. A different result for a case with its outcome (inspected or
    closed) is a correction: a supervisor's key with ``correction_reason`` (403 otherwise; both
    versions are kept)."""
    fields = outcome.model_dump()
    reason = fields.pop("correction_reason")
    return _case(request.app.state.desk.record_outcome(case_id, fields, actor=_actor(caller), role=caller.role,
                                                       reason=reason))


@router.post("/cases/{case_id:int}/close", response_model=Case, summary="Close an inspected case",
             responses={**AUTH_RESPONSES, **_CASE_ERRORS})
def close_case(request: Request, body: CaseClose, case_id: int = CASE_ID, caller: Caller = Depends(analyst)):
    return _case(request.app.state.desk.close(case_id, actor=_actor(caller), note=body.note))


@router.post("/cases/outcomes", response_model=OutcomesImported, summary="Import the outcomes of many cases (a file)",
             responses={**AUTH_RESPONSES, 413: problem("the file is larger than the service accepts"),
                        415: problem("not a CSV, XLSX or Parquet file")})
def import_outcomes(request: Request,
                    file: UploadFile = File(..., description="one row per case: case_id or declaration_id, found, "
                                                             "material, concealment, hs_code_found, seized_quantity_kg, "
                                                             "seized_value_usd, note"),
                    correction_reason: Optional[str] = Form(None, max_length=2000, description=CORRECTION),
                    caller: Caller = Depends(analyst)):
    """Each row is checked by itself: a row with a problem comes back with its line, column and
    reason (a correction of a recorded outcome without a supervisor's key and a reason among
    them); the others are recorded."""
    limits = request.app.state.settings.upload_limits
    name = Path(file.filename or "outcomes").name or "outcomes"
    data = file.file.read(limits.max_bytes + 1)
    try:
        parsed = read_outcomes(data, name, limits)
    except IntakeError as exc:
        raise ApiError({"too_large": 413, "unsupported": 415}.get(exc.kind, 400), exc.kind, str(exc)) from None
    except ContractError as exc:
        raise ApiError(400, "unreadable", str(exc)) from None
    done, refused = request.app.state.desk.record_outcomes([(key, fields) for _, key, fields in parsed.rows],
                                                           actor=_actor(caller), declaration_ids=parsed.by_declaration,
                                                           role=caller.role, reason=correction_reason)
    key = "declaration_id" if parsed.by_declaration else "case_id"
    rejected = parsed.problems + [{"line": parsed.lines[parsed.rows[i][0]], "column": key, "reason": reason}
                                  for i, _, reason in refused]
    return {"recorded": len(done), "rejected": sorted(rejected, key=lambda r: (r["line"] or 0, r["column"])),
            "notes": parsed.notes}


@router.post("/declarations/{declaration_id}/lane", response_model=Decision, summary="Override a declaration's lane",
             responses={**AUTH_RESPONSES, **_CASE_ERRORS})
def override_lane(request: Request, declaration_id: str, body: LaneOverride, caller: Caller = Depends(analyst)):
    """Into red or yellow opens a case; into green closes an open one. The reason is required
    and kept, with the lane before and after, in the audit trail."""
    return _decision(request.app.state.desk.override(declaration_id, body.lane, body.reason, actor=_actor(caller)))


@router.get("/overrides", response_model=OverrideList, summary="Every overridden lane (a supervisor's review)",
            responses=AUTH_RESPONSES)
def list_overrides(request: Request, caller: Caller = Depends(supervisor)):
    frame = request.app.state.desk.overrides()
    return {"overrides": [_decision(r) for r in frame.astype(object).where(frame.notna(), None).to_dict("records")]}


@router.get("/audit", response_model=AuditList, summary="The audit trail",
            responses={**AUTH_RESPONSES, 200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                                               "description": "the events (JSON, or the whole trail as CSV)"}})
def audit_trail(request: Request, after: int = Query(0, ge=0, le=2**62, description="events after this number"),
                limit: int = Query(_PAGE, ge=1, le=_PAGE), action: Optional[str] = Query(None, max_length=50),
                format: Literal["json", "csv"] = Query("json"), caller: Caller = Depends(admin)):
    """Who did what, when, with the state before and after: every policy change, selection,
    outcome, close, override and key created or revoked. With format=csv, the whole trail."""
    desk = request.app.state.desk
    if format == "csv":
        return Response(csv_bytes(desk.audit_frame()), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
    events = desk.audit(after=after, limit=limit + 1, action=action)
    more = len(events) > limit
    events = events[:limit]
    return {"events": events, "next_after": events[-1]["event"] if more else None}


@router.get("/performance", response_model=Performance, summary="Live performance of lanes, rules and the model",
            responses=AUTH_RESPONSES)
def live_performance(request: Request, caller: Caller = Depends(analyst)):
    """By week, lane and source: declarations, inspections, seizures and the hit rate with its
    95 % interval; from the random control, the prevalence and the model's recall; the model's
    hit rate against the rules' on the same weeks."""
    return request.app.state.desk.performance()


RULE_ID = PathParam(pattern=r"^R-[0-9]{1,18}$", description="the rule's id (R-1, R-2, ...)")


class _RuleIdConvertor(Convertor):
    """A rule's id in a path (R-1, R-2, ...): ``/rules/preview`` is no rule, so a PUT there is a
    method the path does not have (405), not a change of a rule named "preview"."""

    regex = "R-[0-9]{1,18}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value) -> str:
        return str(value)


register_url_convertor("rule_id", _RuleIdConvertor())
_RULE_ERRORS = {400: problem("a rule that cannot be kept"), 404: problem("no such rule"),
                409: problem("the rule is retired")}


@router.get("/rules", response_model=RuleList, summary="The analysts' rules, with their figures",
            responses=AUTH_RESPONSES)
def list_rules(request: Request, retired: bool = Query(False, description="the retired ones too"),
               caller: Caller = Depends(analyst)):
    """Each rule's current version, with the declarations it hit, their inspections and
    seizures, its seizure rate with a 95 % interval, and whether it is due for review."""
    desk = request.app.state.desk
    figures = {f["rule_id"]: f for f in desk.rule_figures()}
    return {"rules": [{**r.shown(), "figures": figures[r.rule_id]} for r in desk.rules(retired=retired)]}


@router.post("/rules", response_model=RuleShown, summary="Write a new rule", responses={**AUTH_RESPONSES,
                                                                                       **_RULE_ERRORS})
def add_rule(request: Request, body: RuleBody, caller: Caller = Depends(supervisor)):
    """The rule selects from the next manifest on (its lane, within the lane's capacity)."""
    try:
        return request.app.state.desk.add_rule(body.rule(), actor=_actor(caller), note=body.note or "").shown()
    except RuleError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@router.post("/rules/preview", response_model=RulePreview, summary="What a rule would hit (nothing saved)",
             responses={**AUTH_RESPONSES, 400: problem("a rule that cannot be kept")})
def preview_rule(request: Request, body: RuleBody, caller: Caller = Depends(supervisor)):
    """The body of POST /v1/rules, checked the same way (400 for a rule that cannot be kept),
    matched as the rule would match, and nothing saved: its hits among the last manifest your
    key scored and among the history's last 30 days of declarations."""
    desk = request.app.state.desk
    try:
        rule = desk.draft_rule(body.rule())
    except RuleError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    return desk.preview_rule(rule, _manifest_ids(desk.last_manifest(caller.key_id)))


def _manifest_ids(answer: bytes | None) -> list[str]:
    """The declaration ids of a kept manifest's answer (its scored rows, in its order)."""
    if answer is None:
        return []
    return [str(r["declaration_id"]) for r in json.loads(answer)["rows"] if r.get("declaration_id") is not None]


@router.get("/rules/{rule_id:rule_id}", response_model=RuleVersions, summary="Every version of a rule",
            responses={**AUTH_RESPONSES, **_RULE_ERRORS})
def rule_versions(request: Request, rule_id: str = RULE_ID, caller: Caller = Depends(analyst)):
    return {"versions": [r.shown() for r in request.app.state.desk.rule_versions(rule_id)]}


@router.put("/rules/{rule_id:rule_id}", response_model=RuleShown, summary="Change a rule (a new version)",
            responses={**AUTH_RESPONSES, **_RULE_ERRORS})
def change_rule(request: Request, body: RuleBody, rule_id: str = RULE_ID, caller: Caller = Depends(supervisor)):
    try:
        return request.app.state.desk.change_rule(rule_id, body.rule(), actor=_actor(caller),
                                                  note=body.note or "").shown()
    except RuleError as exc:
        raise ApiError(400, "bad_request", str(exc)) from None


@router.post("/rules/{rule_id:rule_id}/retire", response_model=RuleShown, summary="Retire a rule (it stays, with its figures)",
             responses={**AUTH_RESPONSES, **_RULE_ERRORS})
def retire_rule(request: Request, body: RuleRetire, rule_id: str = RULE_ID, caller: Caller = Depends(supervisor)):
    return request.app.state.desk.retire_rule(rule_id, actor=_actor(caller), reason=body.reason).shown()


def _decision(row: dict) -> dict:
    """A decision as answered (the desk gives missing values as None): its day as a date."""
    return {**{k: v for k, v in row.items() if k != "case_id"}, "day": f"{date_of(int(row['day'])):%Y-%m-%d}"}

