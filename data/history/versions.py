"""Declaration versions: when each version of a declaration counts in the history.

A declaration is never overwritten. Its first copy is version 1; a re-send with other values
is an *amendment*, version 2, 3, ... recorded on the day it arrived (``recorded_day``), beside
the earlier versions. What the entity series count on a day is the version that was current
on that day, so an amendment cannot rewrite the past:

- version 1 counts from its own declaration day (history loaded after the fact counts from
  when it happened, as a backfill should);
- a later version counts from its recorded day, or from its own declaration day if that is
  later (an amendment can move a declaration forward in time, never back into the past);
- each version stops counting on the day the next one was recorded.

A version whose span is empty (its successor arrived before it would have started) counts on
no day. Features of a declaration read the series strictly before its day, so an amendment
recorded on day *r* changes nothing for declarations dated *r* or earlier.

An inspection locks a declaration: once an inspection outcome is recorded for it, a re-send with
other values through scoring is refused (:data:`LOCKED`), and only an admin amendment, with its
reason kept in the ingest's note, can add a version.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data.history.series import NEVER

#: why a re-send that would amend an inspected declaration is refused (the scoring paths)
LOCKED = ("has a recorded inspection outcome and cannot be amended through scoring; the values differ from "
          "the recorded version (an admin amends it: contraband history amend FILE --reason TEXT)")
#: why a re-send or outcome for a declaration a batch run is still recording is refused
BUSY = "is being recorded by a batch run that has not finished; send it again when the run ends"


def spans(versions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The first day (inclusive) and the last day (exclusive; ``NEVER``: still current) on which
    each version counts. ``versions`` holds ``declaration_id``, ``version``, ``day`` and
    ``recorded_day`` (missing for a version 1 stored before versions were kept)."""
    n = len(versions)
    day = versions["day"].to_numpy(dtype=np.int64)
    if not n:
        return day.copy(), day.copy()
    ids = versions["declaration_id"].to_numpy(dtype=object)
    number = versions["version"].to_numpy(dtype=np.int64) if "version" in versions else np.ones(n, dtype=np.int64)
    recorded = pd.to_numeric(versions["recorded_day"], errors="coerce").to_numpy(dtype="float64") \
        if "recorded_day" in versions else np.full(n, np.nan)
    order = np.lexsort((number, pd.factorize(ids)[0]))
    ids_o, recorded_o, day_o = ids[order], recorded[order], day[order]
    first = np.r_[True, ids_o[1:] != ids_o[:-1]]
    last = np.r_[ids_o[1:] != ids_o[:-1], True]
    start_o = np.where(first, day_o, np.maximum(day_o, np.nan_to_num(recorded_o, nan=-1).astype(np.int64)))
    end_o = np.full(n, NEVER, dtype=np.int64)
    successor = np.nan_to_num(recorded_o[1:], nan=-1).astype(np.int64)
    end_o[:-1] = np.where(last[:-1], NEVER, successor)
    start, end = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    start[order], end[order] = start_o, end_o
    return start, end


def counted(versions: pd.DataFrame) -> pd.DataFrame:
    """The versions that count on some day, with ``day`` set to the first day each counts and
    ``until`` to the day it stops (``NEVER``), as :func:`~contraband.data.history.contributions.contributions`
    reads them."""
    start, end = spans(versions)
    keep = start < end
    out = versions.assign(day=start, until=end)
    return out if keep.all() else out[keep].reset_index(drop=True)
