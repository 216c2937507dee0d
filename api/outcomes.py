"""Inspection outcomes in and out, and the served model's description and reload.

Outcomes go into the history store with the time they are recorded and the key that recorded
them, through the desk's one core (:mod:`~contraband.desk.outcomes`: a declaration's case and the
audit trail follow in the same transaction): a supervisor's correction, with a reason, adds a
version (the latest is the current result, earlier ones are kept), a re-sent identical result
adds nothing. An outcome recorded today counts in the seizure features
of declarations from tomorrow on.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request

from contraband.api.champion import NoModel
from contraband.api.deps import (
    AUTH_RESPONSES,
    BAD_BODY,
    NOT_READY,
    ApiError,
    Caller,
    admin,
    analyst,
    problem,
    served,
)
from contraband.api.limits import LimitedJsonRoute
from contraband.api.schemas import ModelInfo, OutcomeBatch, OutcomeList, OutcomesRecorded
from contraband.desk import outcomes

router = APIRouter(prefix="/v1", responses=BAD_BODY, route_class=LimitedJsonRoute)
SOURCE_PREFIX = "api:"


@router.post("/outcomes", response_model=OutcomesRecorded, tags=["outcomes"], summary="Record inspection outcomes",
             responses={**AUTH_RESPONSES, 413: problem("the body is larger than the service accepts for JSON, or "
                                                       "holds more outcomes than it records per request")})
def record_outcomes(request: Request, batch: OutcomeBatch, caller: Caller = Depends(analyst)):
    """Each outcome is checked by itself: an unknown declaration, a result for a declaration that
    was not inspected, a different result for one already recorded without a supervisor's key
    and ``correction_reason``, or an outcome for a closed case (its outcome changes only through
    the case) is rejected with its reason while the others are recorded. An outcome for a
    declaration with a case updates the case too, and every one is an audit event, in the same
    transaction (:mod:`~contraband.desk.outcomes`)."""
    results = [(o.declaration_id, {"inspected": int(o.inspected),
                                   "contraband_found": None if o.contraband_found is None else int(o.contraband_found),
                                   "seized_value_usd": o.seized_value_usd, "material": o.material, "note": o.note})
               for o in batch.outcomes]
    actor = SOURCE_PREFIX + caller.key_id
    done = outcomes.record(request.app.state.desk, results, actor, role=caller.role, reason=batch.correction_reason,
                           declaration_ids=True, through_case=False, source=actor)
    rejected = [{"row": i + 1, "declaration_id": results[i][0], "reason": reason, "kind": kind}
                for i, kind, reason in done.refused]
    return {"recorded": done.recorded, "unchanged": done.unchanged, "rejected": rejected}


def _optional(value):
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


@router.get("/outcomes", response_model=OutcomeList, tags=["outcomes"], summary="List recorded outcomes",
            responses=AUTH_RESPONSES)
def list_outcomes(request: Request,
                  declaration_id: Optional[str] = Query(None, max_length=200, description="one declaration's"),
                  versions: bool = Query(False, description="every version, not only the current result"),
                  limit: int = Query(100, ge=1, le=10_000), offset: int = Query(0, ge=0, le=10**9),
                  caller: Caller = Depends(analyst)):
    """Latest recorded first."""
    store = request.app.state.store
    frame = with_current(store.outcomes(ids=[declaration_id] if declaration_id is not None else None,
                                        all_versions=True))
    if len(frame):
        if not versions:
            frame = frame[frame["current"]]
        frame = frame.sort_values(["recorded_at", "declaration_id"], ascending=False, kind="stable")
    total = len(frame)
    page = frame.iloc[offset:offset + limit] if len(frame) else frame
    return {"outcomes": shaped(page), "total": total}


def with_current(frame: pd.DataFrame) -> pd.DataFrame:
    """Outcome versions (oldest first per declaration) marked ``current``: the latest of each."""
    return frame.assign(current=(~frame.duplicated("declaration_id", keep="last")).to_numpy()) if len(frame) \
        else frame.assign(current=pd.Series(dtype=bool))


def shaped(frame: pd.DataFrame) -> list[dict]:
    """Outcome versions in the service's one vocabulary (:class:`~contraband.api.schemas.OutcomeVersion`):
    ``contraband_found``, ``seized_value_usd``, ``recorded_by``...; the evidence shows them so too."""
    return [{"declaration_id": r.declaration_id, "recorded_at": r.recorded_at, "inspected": bool(r.inspected),
             "contraband_found": None if pd.isna(r.contraband) else bool(r.contraband),
             "material": _optional(r.material), "seized_value_usd": _optional(r.seized_value_usd),
             "note": _optional(r.note), "recorded_by": _optional(r.source), "current": bool(r.current)}
            for r in frame.itertuples()]


@router.get("/model", response_model=ModelInfo, tags=["model"], summary="The served model",
            responses={**AUTH_RESPONSES, **NOT_READY})
async def model_info(caller: Caller = Depends(analyst), model=Depends(served)):
    return model.describe()


@router.post("/model/reload", response_model=ModelInfo, tags=["model"], summary="Reload the model's alias (admin)",
             responses={**AUTH_RESPONSES, **NOT_READY})
def reload_model(request: Request, caller: Caller = Depends(admin)):
    """Resolve the alias again and swap the new model in atomically: requests in flight finish
    on the model they started with. Other workers follow within seconds."""
    try:
        return request.app.state.champion.reload().describe()
    except NoModel as exc:
        raise ApiError(503, "not_ready", f"reload failed, the current model stays: {exc}") from None
