"""Scoring endpoints: an uploaded manifest, a JSON batch of declarations, one declaration's evidence.

The JSON answer of an uploaded manifest is kept for the caller's key (one per key, the last),
so ``GET /v1/manifests/last`` gives it again after a page reload.

Every path goes through the same intake and contract as the CLI
(:func:`contraband.data.load.load_declarations`) and the same scoring
(:func:`contraband.models.scoring.scores`): the declarations are recorded in the history store,
then scored against the history before their day. Rejected rows come back with their reasons.

An upload is read within the service's limits (its size, what it unpacks to) and through a
mapping chosen by name. JSON declarations are cells for the contract to judge, row by row: a
number that is not finite (``NaN``, ``Infinity``, ``1e400``) is such a cell, rejected with its
row's reasons. A small batch is scored on the event loop (a few milliseconds), a larger one in
the thread pool, so it never holds up the worker's other requests.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Literal, Optional

import anyio
import anyio.to_thread
import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response

from contraband.api.deps import AUTH_RESPONSES, BAD_BODY, NOT_READY, ApiError, Caller, analyst, problem, served
from contraband.api.evidence import evidence as evidence_of
from contraband.api.limits import LimitedJsonRoute
from contraband.api.schemas import DeclarationBatch, DeclarationsResult, Evidence, ManifestResult
from contraband.data.contract import EXTRA_PREFIX, FIELD_BY_NAME, REQUIRED_FIELDS, is_truth_column
from contraband.data.export import csv_bytes
from contraband.data.intake import LEGACY_ENCODINGS, IntakeError, _clip
from contraband.data.load import ContractError, load_declarations
from contraband.models.output import REASON_COLUMNS, for_manifest, request_columns
from contraband.desk.desk import lane_counts, route_in_words
from contraband.desk.vocabulary import INSPECTED_LANES
from contraband.models.scoring import scores

router = APIRouter(prefix="/v1", tags=["scoring"], responses=BAD_BODY, route_class=LimitedJsonRoute)
#: the paths whose body is a manifest upload (the upload limit, not the JSON one)
UPLOAD_PATHS = ("/v1/manifests",)
#: the text encodings an upload may name (else detected)
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "ascii", "latin-1",
             *(e for e in LEGACY_ENCODINGS if e != "latin_1")]
#: batches up to this many declarations (an analyst's one) are scored one batch at a time per
#: worker (:func:`few_declarations`), larger ones in the shared thread pool
FEW_ROWS = 16
#: rejected rows echoed in a manifest's JSON answer, the first ones (every one: format=csv); the
#: answer's size and the work to build it follow the accepted rows, not a file of rejects
REJECTED_SHOWN = 1000
#: request keys read besides the contract's fields: extra columns (x_...), at most this many
MAX_EXTRA_KEYS = 64
_STATUS = {"too_large": 413, "unsupported": 415, "unreadable": 400}
_UPLOAD_ERRORS = {400: problem("the file cannot be read, the upload is not valid multipart, or a parameter is wrong "
                               "(a mapping or an encoding this service does not have)"),
                  413: problem("the file is larger than the service accepts, or unpacks to more"),
                  415: problem("not a CSV, XLSX or Parquet file")}


def _records(frame: pd.DataFrame) -> list[dict]:
    """JSON-ready rows: dates as ISO days, missing values as null."""
    out = {}
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            values = col.dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
        else:
            values = col.to_numpy(dtype=object)
        missing = pd.isna(col).to_numpy()
        if missing.any():
            values = values.copy()
            values[missing] = None
        out[c] = values
    names = list(out)
    return [dict(zip(names, row)) for row in zip(*out.values())] if names else [{} for _ in range(len(frame))]


def _reasons(columns: dict, i: int) -> list[str]:
    return [r for r in (columns[c][i] for c in REASON_COLUMNS) if isinstance(r, str) and r]


#: what a rejected row says in the score fields of an answer
_UNSCORED = {"risk_score": None, "rank": None, "flagged": False, "exploration": False, "reasons": []}


def _scored(columns: dict, i: int) -> dict:
    """The score fields of one answer row (both JSON answers): risk score, rank, flag,
    exploration mark and reasons."""
    return {"risk_score": float(columns["risk_score"][i]), "rank": int(columns["rank"][i]),
            "flagged": bool(columns["flagged"][i]), "exploration": bool(columns["exploration"][i]),
            "reasons": _reasons(columns, i)}


def issues_by_row(rejected: pd.DataFrame) -> dict[int, list[dict]]:
    by_row: dict[int, list[dict]] = {}
    for row, column, value, reason in zip(rejected["row"], rejected["column"], rejected["value"], rejected["reason"]):
        by_row.setdefault(int(row), []).append({"column": str(column), "reason": str(reason),
                                                "value": None if value is None or pd.isna(value) else _clip(str(value))})
    return by_row


def _summary(source, notes, rows, scored, rejected, budget, result, model, t0) -> dict:
    columns = result.columns
    return {"source": source, "notes": notes, "rows": rows, "scored": scored, "rejected": rejected,
            "flagged": int(columns["flagged"].sum()), "exploration": int(columns["exploration"].sum()),
            "budget": budget, "flag_rule": result.flag_rule,
            "model": {"name": model.name, "version": model.version, "source": model.source},
            "seconds": round(time.perf_counter() - t0, 4)}


def _encoding(name: Optional[str]) -> Optional[str]:
    if name is not None and name not in ENCODINGS:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise ApiError(400, "bad_request", f"unknown text encoding {shown!r}; give one of {', '.join(ENCODINGS)} "
                                           "(or none: it is detected)")
    return name


def json_response(payload: dict) -> Response:
    """A large answer as JSON (orjson: a 9,000-row manifest in a tenth of the standard library's
    time); numpy's numbers as numbers, a number that is not finite as null."""
    return Response(orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


@router.post("/manifests", response_model=ManifestResult, summary="Score an uploaded manifest",
             responses={**AUTH_RESPONSES, **_UPLOAD_ERRORS, **NOT_READY,
                        200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                              "description": "the ranked list (JSON, or CSV with format=csv)"}})
def score_manifest(request: Request,
                   file: UploadFile = File(..., description="CSV (any common delimiter, encoding; .gz), XLSX or Parquet"),
                   budget: float = Query(0.05, gt=0, le=1, description="share of declarations to flag"),
                   exploration: float = Query(0.1, ge=0, lt=1, description="share of the budget for exploration picks "
                                                                                "(without queue: under a policy the random "
                                                                                "control is the one random draw)"),
                   format: Literal["json", "csv"] = Query("json"),
                   mapping: Optional[str] = Query(None, description="another customs system's columns, by the name of "
                                                                    "a mapping of this service (e.g. kcs; the schema "
                                                                    "lists them); unknown: 400"),
                   encoding: Optional[str] = Query(None, description="the file's text encoding, one of the schema's "
                                                                     "(default: detected); unknown: 400"),
                   sheet: Optional[str] = Query(None, max_length=100, description="XLSX sheet (default: the first)"),
                   queue: bool = Query(True, description="give each declaration a lane under the selection policy "
                                                         "and open a case for the red and yellow ones (false: "
                                                         "score only)"),
                   caller: Caller = Depends(analyst), model=Depends(served)):
    """Every row of the manifest comes back: the declarations ranked by risk with the flag, the
    exploration mark and the reasons, and (with queue) their lane, why, and the case opened;
    the rejected rows with their line, problems and cells."""
    t0 = time.perf_counter()
    encoding = _encoding(encoding)
    chosen = request.app.state.mappings.get(mapping)
    name = Path(file.filename or "manifest").name or "manifest"
    limits = request.app.state.settings.upload_limits
    data = file.file.read(limits.max_bytes + 1)
    try:
        loaded = load_declarations(data, chosen, mode="lenient", source=name, encoding=encoding, sheet=sheet,
                                   limits=limits)
    except IntakeError as exc:
        raise ApiError(_STATUS.get(exc.kind, 400), exc.kind, str(exc)) from None
    except ContractError as exc:
        raise ApiError(400, "unreadable", str(exc)) from None
    # under a policy the random control is the one random mechanism: no exploration picks beside it
    result = scores(model.detector, loaded.columns, request.app.state.store, budget=budget,
                    exploration=0.0 if queue else exploration, flag_by="budget", source=f"api:{caller.key_id}:{name}")
    loaded = loaded.refusing(result.refused)  # declarations the store would not record: rejected
    rejected_rows = loaded.rejected_rows(None if format == "csv" else REJECTED_SHOWN)
    lines = loaded.line_of(loaded.columns.index)
    desk, lanes, policy = request.app.state.desk, None, None
    if queue and len(loaded.declarations):
        policy = desk.policy()
        lanes = desk.select(loaded.declarations.assign(risk_score=result.columns["risk_score"],
                                                       flagged=result.columns["flagged"]),
                            actor=f"api:{caller.key_id}", source=name, model=f"{model.name}/{model.version}")
        result.explain(model.detector, np.flatnonzero(lanes["lane"].isin(INSPECTED_LANES).to_numpy()))
    if format == "csv":
        table = for_manifest(loaded.declarations, result.frame(), loaded.rejected, lines=lines,
                             rejected_rows=rejected_rows.assign(file=name), lanes=lanes)
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", name.split(".")[0]) or "manifest"  # a header takes ASCII only
        return Response(csv_bytes(table), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{stem}_scored.csv"'})
    declarations = loaded.declarations
    declarations = declarations[[c for c in declarations.columns if not is_truth_column(c)]]
    records = _records(declarations)
    cols = result.columns
    order = np.argsort(cols["rank"], kind="stable")
    shown = _lane_fields(lanes) if lanes is not None else [{}] * len(records)
    rows = [{"line": int(lines[i]), "declaration_id": records[i].get("declaration_id"), **_scored(cols, i),
             **shown[i], "route": route_in_words(records[i]), "declaration": records[i]} for i in order]
    issues = issues_by_row(loaded.rejected_first(REJECTED_SHOWN))  # the first rows alone: bounded work
    shown = sorted(issues)
    raw = None if loaded.rejected_raw is None else loaded.rejected_raw.reindex(shown)
    names = [] if raw is None else [str(c) for c in raw.columns]
    cells = [{}] * len(shown) if raw is None else [
        {k: (None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)) for k, v in zip(names, r)}
        for r in raw.astype(object).itertuples(index=False, name=None)]
    rejected = [{"line": int(line), "row": row, "problems": issues[row], "cells": c,
                 "declaration_id": None if row_id is None or pd.isna(row_id) else str(row_id)}
                for line, row_id, row, c in zip(rejected_rows["line"], rejected_rows["declaration_id"], shown, cells)]
    summary = _summary(name, loaded.notes, loaded.rows_read, len(rows), loaded.rejected_count, budget, result, model,
                       t0)
    summary["rejected_shown"] = len(rejected)
    if lanes is not None:
        summary["lanes"] = lane_counts(lanes)
        summary["policy_version"] = policy.version
        summary["rules_skipped"] = lanes.attrs.get("rules_skipped", [])
    answer = json_response({"summary": summary, "rows": rows, "rejected": rejected})
    desk.keep_manifest(caller.key_id, name, answer.body)  # the same bytes: a page reload finds them again
    return answer


@router.get("/manifests/last", response_model=ManifestResult, summary="The last manifest your key scored",
            responses={**AUTH_RESPONSES, 404: problem("no manifest scored with this key yet")})
def last_manifest(request: Request, caller: Caller = Depends(analyst)):
    """The JSON answer of the last manifest scored (format=json) with the caller's key, as it was
    sent then (its lanes and cases as they were decided; GET /v1/cases has them as they are now)."""
    kept = request.app.state.desk.last_manifest(caller.key_id)
    if kept is None:
        raise ApiError(404, "not_found", "no manifest scored with this key yet")
    return Response(kept, media_type="application/json")


def _lane_fields(lanes: pd.DataFrame) -> list[dict]:
    """Each declaration's lane, its source, why, and its case (JSON-ready)."""
    case = lanes["case_id"].to_numpy(dtype="float64")
    model_lane = lanes["model_lane"].where(lanes["model_lane"].notna(), None).to_numpy(dtype=object)
    return [{"lane": lane, "lane_source": source, "lane_reason": why, "model_lane": own,
             "case_id": None if c != c else int(c)}
            for lane, source, why, own, c in zip(lanes["lane"], lanes["source"], lanes["why"], model_lane, case)]


def _cell(value):
    """A request cell as the contract reads it: scalars as they are, a number that is not finite
    as its text (the contract rejects it, where NaN would read as missing), anything else as
    JSON text."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value if value is None or isinstance(value, (str, int, float, bool)) else json.dumps(value)


def request_frame(declarations: list[dict]) -> pd.DataFrame:
    """The declarations as a frame of object columns: the contract's fields (the required ones
    always, missing cells as None, so a declaration without one is rejected by itself) and at
    most :data:`MAX_EXTRA_KEYS` extra columns; other keys are not read."""
    keys = dict.fromkeys(k for d in declarations for k in d)
    extras = [k for k in keys if isinstance(k, str) and k.startswith(EXTRA_PREFIX)][:MAX_EXTRA_KEYS]
    names = list(dict.fromkeys([*REQUIRED_FIELDS, *(k for k in keys if k in FIELD_BY_NAME), *extras]))
    columns = {}
    for name in names:
        column = np.empty(len(declarations), dtype=object)
        column[:] = [_cell(d.get(name)) for d in declarations]
        columns[name] = column
    return pd.DataFrame(columns, copy=False, dtype=object)  # no text inference: the contract reads cells


@router.post("/declarations/score", response_model=DeclarationsResult, summary="Score declarations (JSON)",
             responses={**AUTH_RESPONSES, **NOT_READY,
                        413: problem("the body is larger than the service accepts for JSON, or holds more "
                                     "declarations than it scores per request")})
async def score_declarations(request: Request, batch: DeclarationBatch, caller: Caller = Depends(analyst),
                             model=Depends(served)):
    """One answer per declaration, in request order. A small batch (below a day's volume, e.g.
    one declaration) is flagged by the model's budget threshold over recent declarations; a
    larger one by its own budget share. A declaration the contract rejects (a missing field, a
    value it cannot read, a number that is not finite) comes back with its problems while the
    others are scored; an empty batch gets an empty answer."""
    # In a thread, never on the event loop, even one declaration: recording it waits for the
    # store's writers' turn (a batch writing, other workers). A few declarations take turns on one
    # thread of the worker's own (fewer threads contending for the interpreter lock: at 100
    # requests/s, p50 29-42 ms against 75-126 ms in the shared pool); a larger batch goes to the pool.
    few = request.app.state.few_declarations if len(batch.declarations) <= FEW_ROWS else None
    return await anyio.to_thread.run_sync(_score_batch, request, batch, caller, model, limiter=few)


def few_declarations() -> anyio.CapacityLimiter:
    """The worker's turn for scoring a few declarations (made in its event loop, at start)."""
    return anyio.CapacityLimiter(1)


def _score_batch(request: Request, batch: DeclarationBatch, caller: Caller, model) -> Response:
    t0 = time.perf_counter()
    frame = request_frame(batch.declarations)
    try:
        loaded = load_declarations(frame, mode="lenient", source="request")
    except ContractError as exc:  # pragma: no cover - every field is a column: rows are judged one by one
        raise ApiError(400, "bad_request", str(exc).replace("--mapping", "mapping")) from None
    result = scores(model.detector, loaded.columns, request.app.state.store, budget=batch.budget,
                    exploration=batch.exploration, flag_by="auto", source=f"api:{caller.key_id}")
    loaded = loaded.refusing(result.refused)  # declarations the store would not record: rejected
    cols = request_columns(len(frame), result, loaded.rejected)
    issues = issues_by_row(loaded.rejected)
    ids = frame["declaration_id"].to_numpy(dtype=object)
    rows = []
    for i in range(len(frame)):
        rows.append({"row": i + 1, "declaration_id": None if ids[i] is None else str(ids[i]),
                     **(_UNSCORED if i + 1 in issues else _scored(cols, i)), "problems": issues.get(i + 1, [])})
    summary = _summary("request", [], len(frame), len(frame) - len(issues), len(issues), batch.budget, result, model, t0)
    return json_response({"summary": summary, "rows": rows})


@router.get("/declarations/{declaration_id}/evidence", response_model=Evidence,
            summary="A declaration's evidence beside its HS norm",
            responses={**AUTH_RESPONSES, **NOT_READY, 404: problem("no such declaration in the history")})
def declaration_evidence(request: Request, declaration_id: str, caller: Caller = Depends(analyst),
                         model=Depends(served)):
    """What the model saw: value and weight ratios against the HS code's norms learned in
    training, the reference table's typical range, the traders' and route's history before the
    declaration's day, and the inspection outcomes recorded for it."""
    found = evidence_of(model.detector, request.app.state.store, declaration_id)
    if found is None:
        raise ApiError(404, "not_found", f"declaration {declaration_id!r} is not in the history")
    return json_response(found)

