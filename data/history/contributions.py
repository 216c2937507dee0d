"""What a declaration and its inspection outcomes add to the entity series.

A declaration adds one declaration, on its own day, to the series of each of its entities.
Its outcome is a chain of versions, each recorded on a day: the first result, then any
corrections. A version counts from the day it was recorded; each version adds the difference
between its contribution and the previous version's, so at any day the series hold exactly
the versions recorded before it. A version contributes one inspection when the declaration
was inspected *and* the result is known, and one seizure when contraband was found: a pending
inspection (inspected, result missing) counts as neither clean nor seized.

A declaration with several versions (:mod:`~contraband.data.history.versions`) contributes
each version over the days it counts, ``day`` to ``until``: the version's entities gain one
declaration and the outcome known so far on its first day, the outcome's later steps while it
counts, and lose all of it on the day it stops. A step recorded before a version starts counts
from the version's first day.

Amending a declaration or correcting an outcome subtracts the old contributions and adds the
new ones, so the series always equal a rebuild from the stored declarations and outcomes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data.keys import KINDS, entity_keys
from contraband.data.history.series import COUNTS, NEVER

_SHIFT = np.int64(1) << np.int64(24)
DELTA_COLUMNS = ["key", "day", *COUNTS]


def outcome_steps(versions: pd.DataFrame) -> pd.DataFrame:
    """Per version: the change in (inspections, seizures) it brings, on the day it was recorded.

    ``versions`` has declaration_id, recorded_at, recorded_day, inspected, contraband."""
    if not len(versions):
        return pd.DataFrame({"declaration_id": pd.Series(dtype=object), "day": pd.Series(dtype=np.int64),
                             "inspections": pd.Series(dtype=np.int64), "seizures": pd.Series(dtype=np.int64)})
    v = versions.sort_values(["declaration_id", "recorded_at"], kind="stable")
    inspected = pd.to_numeric(v["inspected"], errors="coerce").fillna(0).to_numpy() == 1
    result = pd.to_numeric(v["contraband"], errors="coerce")
    known = inspected & result.notna().to_numpy()
    contribution = np.column_stack([known, known & (result.fillna(0).to_numpy() == 1)]).astype(np.int64)
    ids = v["declaration_id"].to_numpy(dtype=object)
    first = np.r_[True, ids[1:] != ids[:-1]]
    previous = np.vstack([np.zeros((1, 2), dtype=np.int64), contribution[:-1]])
    previous[first] = 0
    step = contribution - previous
    out = pd.DataFrame({"declaration_id": ids, "day": v["recorded_day"].to_numpy(dtype=np.int64),
                        "inspections": step[:, 0], "seizures": step[:, 1]})
    return out[(step != 0).any(axis=1)].reset_index(drop=True)


def _aggregate(codes: np.ndarray, values: np.ndarray, day: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """Sum counts by (key, day); rows with a missing key (code -1) add nothing."""
    ok = codes >= 0
    if not ok.any():
        return pd.DataFrame({c: pd.Series(dtype=object if c == "key" else np.int64) for c in DELTA_COLUMNS})
    composite = codes[ok] * _SHIFT + day[ok].astype(np.int64)
    group, uniques = pd.factorize(composite)
    uniques = np.asarray(uniques, dtype=np.int64)
    out = pd.DataFrame({"key": pd.Series(values[uniques // _SHIFT], dtype=object), "day": uniques % _SHIFT})
    for i, c in enumerate(COUNTS):
        out[c] = np.bincount(group, weights=counts[ok, i], minlength=len(uniques)).astype(np.int64)
    return out


def contributions(declarations: pd.DataFrame, steps: pd.DataFrame, sign: int = 1) -> dict[str, pd.DataFrame]:
    """Per entity kind: the (key, day, counts) that ``declarations`` (canonical rows with a
    ``day`` column: the first day each counts, and optionally ``until``, the day it stops, where
    one declaration may have several rows, its versions) and their outcome ``steps`` add, times
    ``sign``."""
    if not len(declarations):
        return {}
    keys = entity_keys(declarations)
    day = declarations["day"].to_numpy(dtype=np.int64)
    until = declarations["until"].to_numpy(dtype=np.int64) if "until" in declarations else None
    if until is not None and (until == NEVER).all():
        until = None
    n = len(declarations)
    # rows of (declaration row, day, declarations, inspections, seizures) added to its entities
    rows = [np.arange(n)]
    days = [day]
    counts = [np.column_stack([np.full(n, sign, dtype=np.int64), np.zeros((n, 2), dtype=np.int64)])]
    if until is not None:  # a version that stops counting takes its declaration away that day
        ends = np.flatnonzero(until != NEVER)
        rows.append(ends)
        days.append(until[ends])
        counts.append(np.column_stack([np.full(len(ends), -sign, dtype=np.int64), np.zeros((len(ends), 2), dtype=np.int64)]))
    n_declared = sum(len(r) for r in rows)
    if len(steps):
        row, step = _versions_of(declarations["declaration_id"].to_numpy(dtype=object),
                                 steps["declaration_id"].to_numpy(dtype=object))
        step_day = steps["day"].to_numpy(dtype=np.int64)[step]
        change = np.column_stack([steps["inspections"].to_numpy(dtype=np.int64),
                                  steps["seizures"].to_numpy(dtype=np.int64)])[step] * sign
        if until is not None:  # a step recorded after a version stopped belongs to a later one
            live = step_day < until[row]
            row, step_day, change = row[live], step_day[live], change[live]
        rows.append(row)
        days.append(np.maximum(step_day, day[row]))
        counts.append(np.column_stack([np.zeros(len(row), dtype=np.int64), change]))
        if until is not None:
            ends = until[row] != NEVER
            rows.append(row[ends])
            days.append(until[row[ends]])
            counts.append(np.column_stack([np.zeros(int(ends.sum()), dtype=np.int64), -change[ends]]))
    row, d, c = np.concatenate(rows), np.concatenate(days), np.vstack(counts)
    declared_only = slice(0, n_declared)
    out = {}
    for name, coded in keys.items():
        if KINDS[name].outcomes:
            frame = _aggregate(coded.codes[row], coded.values, d, c)
        else:
            frame = _aggregate(coded.codes[row[declared_only]], coded.values, d[declared_only], c[declared_only])
        if len(frame):
            out[name] = frame
    return out


def _versions_of(ids: np.ndarray, step_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (declaration row, step) of the same declaration: every version of a declaration
    gets each of its steps. An outcome for no declaration given is an error."""
    index = pd.Index(ids)
    if index.is_unique:
        position = index.get_indexer(step_ids)
        if (position < 0).any():
            raise ValueError(f"an outcome refers to declaration {step_ids[position < 0][0]!r}, which is not in "
                             "the history")
        return position.astype(np.int64), np.arange(len(step_ids))
    pairs = pd.DataFrame({"id": ids, "row": np.arange(len(ids))}).merge(
        pd.DataFrame({"id": step_ids, "step": np.arange(len(step_ids))}), on="id", how="right")
    if pairs["row"].isna().any():
        missing = pairs.loc[pairs["row"].isna(), "id"].iloc[0]
        raise ValueError(f"an outcome refers to declaration {missing!r}, which is not in the history")
    return pairs["row"].to_numpy(dtype=np.int64), pairs["step"].to_numpy(dtype=np.int64)


def difference(new: dict[str, pd.DataFrame], old: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """``new`` minus ``old`` (already signed by :func:`contributions`), zero rows dropped."""
    return total([new, old])


def total(parts: list[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The sum of several kinds-to-deltas maps, by (kind, key, day), zero rows dropped."""
    out = {}
    for name in dict.fromkeys(n for p in parts for n in p):
        frame = summed([p[name] for p in parts if name in p])
        if frame is not None:
            out[name] = frame
    return out


def summed(frames: list[pd.DataFrame]) -> pd.DataFrame | None:
    """Deltas of one kind summed by (key, day), zero rows dropped (None if nothing is left)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return None
    if len(frames) == 1:
        frame = frames[0]
    else:
        frame = pd.concat(frames, ignore_index=True).groupby(["key", "day"], as_index=False, sort=False)[
            list(COUNTS)].sum()
    frame = frame[(frame[list(COUNTS)] != 0).any(axis=1)]
    return frame.reset_index(drop=True) if len(frame) else None
