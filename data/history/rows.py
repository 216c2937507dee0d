"""Declarations and outcomes as the store keeps them: stored rows with their row hashes (what
recognises a re-send), outcome versions from a frame or from analysts' records, and days."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from contraband.data.columns import Columns, as_columns
from contraband.data.contract import FIELD_BY_NAME, is_extra_column
from contraband.data.history import schema as S
from contraband.data.keys import DAY0, day_numbers
from contraband.data.normalise import identifier

#: where the data gives no record date, an outcome counts from its declaration's day plus this
DEFAULT_OUTCOME_LAG_DAYS = 7
_FEW = 64  # a request of at most this many new declarations (and no outcomes) takes the lean path
_ENTITY_FIELDS = ("declaration_id", "day", "hs_code", "origin_country", "export_country", "transit_countries",
                  "destination_country", "exporter_id", "consignee_id", "declarant_id",
                  # the figures of the measures counted by bin (the exporter's own norm)
                  "declared_value_usd", "net_weight_kg", "gross_weight_kg", "quantity", "quantity_unit", "packages")

#: what the series need of each version of a declaration: its entities, day and span
_VERSION_FIELDS = (*_ENTITY_FIELDS, "version", "recorded_day", "ingest")
_EPOCH_DAY = int((DAY0 - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1))
_MISSING_HASH = np.uint64(0x9E3779B97F4A7C15)
_HASHED = (*S.COLUMN_FIELDS, "day", "extras")


def _today() -> int:
    """Today's day number (UTC): the day an amendment recorded now counts from."""
    return int(time.time() // 86400) - _EPOCH_DAY


def _day(when) -> int:
    """The day number of a time (a time with a zone counts in UTC)."""
    t = pd.Timestamp(when)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return int((t.normalize() - DAY0) // pd.Timedelta(days=1))


def _categorical(column: pd.Series) -> pd.Categorical:
    """A text column as a categorical of str (missing stays missing), built per distinct value."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        cats = [str(v) for v in column.cat.categories]
        if len(set(cats)) == len(cats):
            return pd.Categorical.from_codes(column.cat.codes.to_numpy(), categories=pd.Index(cats, dtype=object))
        column = column.astype("object")
    codes, uniques = pd.factorize(column.to_numpy(dtype=object, na_value=None), use_na_sentinel=True)
    labels = [str(v) for v in uniques]
    if len(set(labels)) != len(labels):  # e.g. 1 and "1" in one object column
        codes, uniques = pd.factorize(np.array(labels, dtype=object)[codes].tolist() if len(codes) else [])
        labels = list(uniques)
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=object))


def _column_hash(values) -> np.ndarray:
    """Per-cell hashes of one stored column: text by value (a categorical hashes its categories
    once), numbers by bits; every missing cell hashes alike."""
    if isinstance(values, pd.Categorical):
        cats = np.asarray(values.categories, dtype=object)
        hashed = pd.util.hash_array(cats, categorize=False) if len(cats) else np.zeros(0, np.uint64)
        table = np.append(hashed, _MISSING_HASH)
        return table[np.where(values.codes < 0, len(cats), values.codes)]
    values = np.asarray(values)
    if values.dtype == object:
        missing = np.array([v is None for v in values], dtype=bool)
        filled = np.where(missing, "", values).astype(object)
        return np.where(missing, _MISSING_HASH, pd.util.hash_array(filled, categorize=False))
    if values.dtype.kind == "f":
        return np.where(np.isnan(values), _MISSING_HASH, pd.util.hash_array(np.nan_to_num(values, nan=0.0)))
    return pd.util.hash_array(values.astype(np.int64))


def _row_hashes(columns: list) -> np.ndarray:
    """One hash per stored row (the same for a row whichever path recorded it)."""
    n = len(columns[0])
    hashed = {}
    if n <= _FEW:  # a few rows: every text cell in one call, every number in another (same hashes)
        arrays = [c if isinstance(c, pd.Categorical) else np.asarray(c) for c in columns]
        for kind in ("O", "f"):
            group = [i for i, c in enumerate(arrays) if not isinstance(c, pd.Categorical) and c.dtype.kind == kind]
            if group:
                joined = _column_hash(np.concatenate([arrays[i] for i in group]))
                hashed.update({i: joined[k * n:(k + 1) * n] for k, i in enumerate(group)})
    out = None
    for i, column in enumerate(columns):
        h = hashed[i] if i in hashed else _column_hash(column)
        out = h if out is None else (out ^ h) * np.uint64(1000003 + 2 * i)
    return out.view(np.int64)


def _extras_json(frame) -> np.ndarray:
    """The ``x_*`` extras of each row as JSON (None when there are none): a frame or Columns."""
    columns = as_columns(frame)
    extras = [c for c in columns.names if is_extra_column(c)]
    if not extras:
        return np.full(len(columns), None, dtype=object)
    cells = [columns.cells(c) for c in extras]
    out = []
    for row in zip(*cells):
        values = {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in zip(extras, row)
                  if v is not None and not (isinstance(v, float) and v != v)}
        out.append(json.dumps(values, default=float) if values else None)
    return np.array(out, dtype=object)


def _small_rows(columns: Columns) -> dict:
    """A few declarations as stored columns (plain arrays), their row hashes and entity keys."""
    if "declaration_id" not in columns or "declaration_date" not in columns:
        raise ValueError("the history records declarations with a declaration_id and a declaration_date")
    out = {"day": columns.days()}
    for name in S.COLUMN_FIELDS:
        if FIELD_BY_NAME[name].kind in ("number", "flag"):
            out[name] = columns.number(name)
        else:
            out[name] = np.array([None if v is None or (isinstance(v, float) and v != v) else str(v)
                                  for v in columns.cells(name)], dtype=object)
    if any(v is None for v in out["declaration_id"]):
        raise ValueError("every declaration needs a declaration_id to be recorded in the history")
    out["extras"] = _extras_json(columns)
    out["row_hash"] = _row_hashes([out[c] for c in _HASHED])
    out["keys"] = columns.entity_keys()
    return out


def _stored_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical declarations as stored rows: contract fields (text as categoricals), day,
    extras (JSON) and the row hash (over everything stored, so an identical re-send matches)."""
    if "declaration_id" not in frame or "declaration_date" not in frame:
        raise ValueError("the history records declarations with a declaration_id and a declaration_date")
    n = len(frame)
    out = {"day": day_numbers(frame["declaration_date"])}
    for name in S.COLUMN_FIELDS:
        kind = FIELD_BY_NAME[name].kind
        if name not in frame:
            out[name] = pd.Categorical([None] * n, categories=pd.Index([], dtype=object))
        elif kind in ("number", "flag"):
            out[name] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        elif name == "declaration_id":
            ids = frame[name].to_numpy(dtype=object, na_value=None)
            if not (pd.api.types.is_string_dtype(frame[name].dtype) and not frame[name].dtype == object):
                ids = np.array([None if v is None else str(v) for v in ids], dtype=object)
            out[name] = ids
        else:
            out[name] = _categorical(frame[name])
    rows = pd.DataFrame(out)
    if rows["declaration_id"].isna().any():
        raise ValueError("every declaration needs a declaration_id to be recorded in the history")
    rows["extras"] = pd.Series(_extras_json(frame), dtype=object, index=rows.index)
    rows["row_hash"] = _row_hashes([rows[c].array if isinstance(rows[c].dtype, pd.CategoricalDtype)
                                    else rows[c].to_numpy() for c in _HASHED])
    return rows


def _versions_from_frame(frame: pd.DataFrame, lag_days: int, source: str) -> pd.DataFrame:
    """Outcome versions carried by a declarations frame: one per inspected row.

    The record time is ``outcome_date`` where the data gives one, else the declaration date
    plus ``lag_days``."""
    if "inspected" not in frame:
        return pd.DataFrame(columns=S.OUTCOME_COLUMNS)
    inspected = pd.to_numeric(frame["inspected"], errors="coerce").fillna(0).to_numpy() == 1
    rows = frame[inspected]
    declared = pd.to_datetime(rows["declaration_date"])
    recorded = declared + pd.Timedelta(days=int(lag_days))
    if "outcome_date" in rows:
        given = pd.to_datetime(rows["outcome_date"])
        recorded = given.where(given.notna(), recorded)
    contraband = pd.to_numeric(rows["contraband"], errors="coerce") if "contraband" in rows else \
        pd.Series(np.nan, index=rows.index)
    seized = pd.to_numeric(rows["seized_value_usd"], errors="coerce") if "seized_value_usd" in rows else \
        pd.Series(np.nan, index=rows.index)
    return pd.DataFrame({
        "declaration_id": rows["declaration_id"].astype("object").map(str).to_numpy(),
        "recorded_at": recorded.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").to_numpy(dtype=object),
        "recorded_day": day_numbers(recorded),
        "inspected": 1,
        "contraband": contraband.to_numpy(dtype="float64"),
        "seized_value_usd": seized.to_numpy(dtype="float64"),
        "material": None,
        "note": None,
        "source": source,
        "ingest": None,
    })


def _new_or_changed(incoming: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """The incoming outcome versions that are not stored yet, or differ from the stored version
    with the same record time."""
    if not len(incoming):
        return incoming
    if not len(stored):
        return incoming.reset_index(drop=True)
    both = incoming.reset_index(drop=True).merge(stored, on=["declaration_id", "recorded_at"], how="left",
                                                 suffixes=("", "_stored"), indicator=True)
    differs = (both["_merge"] == "left_only").to_numpy().copy()
    for c in ("inspected", "contraband", "seized_value_usd"):
        a = pd.to_numeric(both[c], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(both[c + "_stored"], errors="coerce").to_numpy(dtype=float)
        differs |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
    for c in ("material", "note"):
        a = both[c].astype("object").where(both[c].notna(), None).to_numpy()
        b = both[c + "_stored"].astype("object").where(both[c + "_stored"].notna(), None).to_numpy()
        differs |= a != b
    return incoming.reset_index(drop=True)[differs]


def _declaration_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Stored declaration rows (contract columns, ``day``, ``extras``) as canonical declarations:
    the date from its day number, the contract's dtypes, the extras unpacked."""
    frame = frame.copy()
    frame.insert(1, "declaration_date", DAY0 + pd.to_timedelta(frame.pop("day").astype("int64"), unit="D"))
    for name in S.COLUMN_FIELDS:
        kind = FIELD_BY_NAME[name].kind
        if kind in ("number", "flag"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        else:
            frame[name] = frame[name].astype("str").where(frame[name].notna())
    extras = frame.pop("extras")
    if extras.notna().any():
        # a declaration without extras reads back as None, or NaN beside others that have some
        unpacked = pd.DataFrame([_unpacked(e) for e in extras], index=frame.index)
        frame = pd.concat([frame, unpacked], axis=1)
    return frame


def _unpacked(cell) -> dict:
    """A stored extras cell as its columns: JSON text of an object; anything else (none, NaN, a
    value another writer left that is not such JSON) as no extras, so that a stored row always
    reads back."""
    if not isinstance(cell, (str, bytes)) or not cell:
        return {}
    try:
        value = json.loads(cell)
    except ValueError:
        return {}
    return {str(k): v for k, v in value.items() if is_extra_column(str(k))} if isinstance(value, dict) else {}


def _outcome_versions(records: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list]:
    """Inspection results as outcome versions (record time: ``recorded_at``, else now), and the
    problems of the rows that break the outcome rules, found without the store."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    frame = records.reset_index(drop=True)
    recorded = pd.to_datetime(frame["recorded_at"], utc=True).dt.tz_localize(None) \
        if "recorded_at" in frame else pd.Series(now, index=frame.index)
    recorded = recorded.where(recorded.notna(), now)
    ids = identifier(frame["declaration_id"].astype("object").map(str))  # one spelling, no look-alike
    versions = pd.DataFrame({
        "declaration_id": np.where(ids.bad, frame["declaration_id"].astype("object").map(str).to_numpy(), ids.values),
        "recorded_at": recorded.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").to_numpy(dtype=object),
        "recorded_day": day_numbers(recorded),
        "inspected": pd.to_numeric(frame.get("inspected", 1), errors="coerce"),
        "contraband": pd.to_numeric(frame["contraband"], errors="coerce") if "contraband" in frame else np.nan,
        "seized_value_usd": pd.to_numeric(frame["seized_value_usd"], errors="coerce")
        if "seized_value_usd" in frame else np.nan,
        "material": frame["material"].astype("object") if "material" in frame else None,
        "note": frame["note"].astype("object") if "note" in frame else None,
        "source": source,
        "ingest": None,
    })
    problems = [(i, ids.reason[i]) for i in np.flatnonzero(ids.bad)]
    bad_flag = ~versions["inspected"].isin([0, 1])
    problems += [(i, "inspected must be 0 or 1") for i in np.flatnonzero(bad_flag)]
    bad_result = versions["contraband"].notna() & ~versions["contraband"].isin([0, 1])
    problems += [(i, "contraband must be 0, 1 or missing (result pending)") for i in np.flatnonzero(bad_result)]
    uninspected = (versions["inspected"] == 0) & versions["contraband"].notna()
    problems += [(i, "a result is given for a declaration that was not inspected") for i in np.flatnonzero(uninspected)]
    return versions, problems


def _is_one_of(ids, others) -> np.ndarray:
    """Whether each declaration id is one of ``others``, by hashing. (numpy's ``isin`` sorts
    object arrays with Python comparisons: 10,000 ids against 10,000 took 2.8 s, 20,000 took 8.3 s.)"""
    return pd.Index(np.asarray(ids, dtype=object), dtype=object).isin(np.asarray(list(others), dtype=object))


def _last_of_each(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame with each declaration id once (the last row of a repeated id: as if the rows
    had come one after another)."""
    if "declaration_id" not in frame or frame["declaration_id"].is_unique:
        return frame
    return frame[~frame["declaration_id"].duplicated(keep="last").to_numpy()]


def _no_outcomes() -> pd.DataFrame:
    return pd.DataFrame(columns=S.OUTCOME_COLUMNS)


_NO_REFUSALS = pd.DataFrame({"declaration_id": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})


def _no_refusals() -> pd.DataFrame:
    return _NO_REFUSALS.copy()  # a copy of an empty frame costs a twentieth of building one


@dataclass
class IngestReport:
    """What a write did: declarations new to the store, amended (a new version beside the
    earlier ones), unchanged (an identical re-send), refused (``refused``: each with its reason,
    e.g. an inspected declaration re-sent with other values through scoring), and outcome
    versions recorded."""

    received: int = 0
    new: int = 0
    amended: int = 0
    unchanged: int = 0
    outcome_versions: int = 0
    seconds: float = 0.0
    refused: pd.DataFrame = field(default_factory=_no_refusals)

    def refuse(self, ids, reasons) -> None:
        self.refused = pd.concat([self.refused, pd.DataFrame({"declaration_id": list(ids), "reason": list(reasons)})],
                                 ignore_index=True) if len(self.refused) else \
            pd.DataFrame({"declaration_id": pd.Series(list(ids), dtype=object), "reason": pd.Series(list(reasons), dtype=object)})

    def add(self, other: "IngestReport") -> None:
        for name in ("received", "new", "amended", "unchanged", "outcome_versions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if len(other.refused):
            self.refuse(other.refused["declaration_id"], other.refused["reason"])

    def summary(self) -> str:
        refused = f", {len(self.refused):,} refused" if len(self.refused) else ""
        text = (f"history: {self.received:,} declarations received ({self.new:,} new, {self.amended:,} amended, "
                f"{self.unchanged:,} unchanged{refused}), {self.outcome_versions:,} outcome versions recorded "
                f"({self.seconds:.1f} s)")
        for reason, n in self.refused["reason"].value_counts().items() if len(self.refused) else ():
            text += f"\n  {n:>8,} refused: {reason}"
        return text


@dataclass
class OutcomeReport:
    recorded: int = 0
    unchanged: int = 0  # the same result as the declaration's current version: not recorded again
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["row", "declaration_id", "reason"]))
