"""What a declaration and its inspection outcomes add to the entity series.

A declaration adds one declaration, on its own day, to the series of each of its entities.
Its outcome is a chain of versions, each recorded on a day: the first result, then any
corrections. A version counts from the day it was recorded; each version adds the difference
between its contribution and the previous version's, so at any day the series hold exactly
the versions recorded before it. A version contributes one inspection when the declaration
was inspected *and* the result is known, and one seizure when contraband was found: a pending
inspection (inspected, result missing) counts as neither clean nor seized.

Replacing a declaration or correcting an outcome subtracts the old contributions and adds the
new ones, so the series always equal a rebuild from the stored declarations and outcomes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data.keys import KINDS, entity_keys
from contraband.data.history.series import COUNTS

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
    ``day`` column) and their outcome ``steps`` add, times ``sign``."""
    if not len(declarations):
        return {}
    keys = entity_keys(declarations)
    day = declarations["day"].to_numpy(dtype=np.int64)
    n = len(declarations)
    ones = np.zeros((n, len(COUNTS)), dtype=np.int64)
    ones[:, 0] = sign
    if len(steps):
        position = pd.Index(declarations["declaration_id"].to_numpy(dtype=object)).get_indexer(
            steps["declaration_id"].to_numpy(dtype=object))
        if (position < 0).any():
            missing = steps["declaration_id"].to_numpy(dtype=object)[position < 0][0]
            raise ValueError(f"an outcome refers to declaration {missing!r}, which is not in the history")
        step_day = steps["day"].to_numpy(dtype=np.int64)
        step_counts = np.column_stack([np.zeros(len(steps), dtype=np.int64),
                                       steps["inspections"].to_numpy(dtype=np.int64) * sign,
                                       steps["seizures"].to_numpy(dtype=np.int64) * sign])
    out = {}
    for name, coded in keys.items():
        codes, d, counts = coded.codes, day, ones
        if len(steps) and KINDS[name].outcomes:
            codes = np.concatenate([codes, coded.codes[position]])
            d = np.concatenate([day, step_day])
            counts = np.vstack([ones, step_counts])
        frame = _aggregate(codes, coded.values, d, counts)
        if len(frame):
            out[name] = frame
    return out


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
