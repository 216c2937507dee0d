"""Recorded declarations as they changed: their versions, and an admin's amendment.

A declaration sent again with other values through scoring is an amendment, a new version that
counts from the day it arrives; one with a recorded inspection is refused there. Amending it is
an admin's action, with a reason that is kept with the new version:

- ``GET /v1/declarations/{id}/versions`` (any key): every version, oldest first, with who sent
  it, when, from which day the history counts it and an admin's reason;
- ``POST /v1/declarations/amend`` (admin key): recorded declarations with their corrected
  values and the reason. Each row is judged by itself: a row the contract rejects, or one for a
  declaration not in the history (an amendment changes a recorded declaration; scoring records a
  new one), comes back rejected with its reason while the others are amended. Each declaration
  amended is an event of the audit trail (``declaration.amend``), in the transaction that writes it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Request

from contraband.api.deps import AUTH_RESPONSES, BAD_BODY, ApiError, Caller, admin, analyst, problem
from contraband.api.limits import LimitedJsonRoute
from contraband.api.schemas import AmendmentBatch, AmendmentResult, DeclarationVersions
from contraband.api.scoring import issues_by_row, json_response, request_frame
from contraband.data.load import load_declarations

router = APIRouter(prefix="/v1", tags=["declarations"], responses=BAD_BODY, route_class=LimitedJsonRoute)
#: why a row of an amendment is rejected when its declaration was never recorded
NOT_RECORDED = "not in the history: an amendment changes a recorded declaration (scoring records a new one)"


@router.get("/declarations/{declaration_id}/versions", response_model=DeclarationVersions,
            summary="Every recorded version of a declaration",
            responses={**AUTH_RESPONSES, 404: problem("no such declaration in the history")})
def declaration_versions(request: Request, declaration_id: str, caller: Caller = Depends(analyst)):
    """Oldest first: who sent each version, when, from which day it counts, and an admin's reason."""
    versions = request.app.state.store.declaration_versions(declaration_id)
    if not versions:
        raise ApiError(404, "not_found", f"declaration {declaration_id!r} is not in the history")
    return json_response({"declaration_id": declaration_id, "versions": versions})


@router.post("/declarations/amend", response_model=AmendmentResult, summary="Amend recorded declarations (admin)",
             responses={**AUTH_RESPONSES, 413: problem("the body is larger than the service accepts for JSON, or holds "
                                                       "more declarations than it takes per request")})
def amend_declarations(request: Request, batch: AmendmentBatch, caller: Caller = Depends(admin)):
    """Each declaration whose values differ from its recorded version becomes a new version,
    inspected or not, counting from today; the earlier versions stay, and the admin's key and
    reason are kept with it. One identical to its current version changes nothing."""
    store = request.app.state.store
    frame = request_frame(batch.declarations)
    loaded = load_declarations(frame, mode="lenient", source="amendment")
    ids = loaded.columns.cells("declaration_id")
    # each row's declaration id as the contract reads it (trimmed, a number as text), the raw
    # cell where the row is rejected before its id is read
    read = dict(zip(np.asarray(loaded.columns.index, dtype=np.int64), ids))
    before = store.current_versions(ids)
    unknown = [d not in before for d in ids]
    loaded = loaded.refusing(pd.DataFrame({"row": loaded.columns.index[unknown], "reason": NOT_RECORDED}))
    if len(loaded.columns):
        report = request.app.state.desk.amend(loaded.declarations, by=f"api:{caller.key_id}", reason=batch.reason)
        refused = dict(zip(report.refused["declaration_id"], report.refused["reason"]))
        ids = loaded.columns.cells("declaration_id")
        loaded = loaded.refusing(pd.DataFrame({"row": loaded.columns.index[[d in refused for d in ids]],
                                               "reason": [refused[d] for d in ids if d in refused]}))
    after = store.current_versions(list(read.values()))
    issues = issues_by_row(loaded.rejected)
    rows = []
    for i, d in enumerate(frame["declaration_id"], start=1):
        d = read.get(i, None if d is None else str(d))
        status = "rejected" if i in issues else "amended" if after.get(d, 0) > before.get(d, 0) else "unchanged"
        rows.append({"row": i, "declaration_id": d, "status": status, "version": after.get(d),
                     "problems": issues.get(i, [])})
    counted = {s: sum(r["status"] == s for r in rows) for s in ("amended", "unchanged", "rejected")}
    return json_response({**counted, "rows": rows})
