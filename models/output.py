"""The product's output, written once for every entry point (CLI, MLflow pyfunc, API).

Every input row comes out: scored rows with ``risk_score``, ``rank``, ``flagged``,
``exploration`` and ``reason_1..3``; rows the declaration contract rejected unscored, with
``rejected_because`` saying why (column, value, reason for each problem). The reason columns
only ever hold reasons for a risk score: a rejection is not one.

- :func:`for_request`: one row per input row, in input order (a client's request);
- :func:`for_manifest`: the declarations with their scores, highest risk first, rejected rows at
  the end (an analyst's list). ``truth_*`` columns of a synthetic world never come out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from contraband.data.contract import is_truth_column
from contraband.data.load import problem_texts
from contraband.models.reasons import MAX_REASONS

SCORE_COLUMNS = ["risk_score", "rank", "flagged", "exploration"]
REASON_COLUMNS = [f"reason_{k}" for k in range(1, MAX_REASONS + 1)]
OUTPUT_COLUMNS = SCORE_COLUMNS + REASON_COLUMNS
#: why a row was rejected unscored (empty for a scored row)
REJECTED = "rejected_because"


def rejected_reasons(rejected: pd.DataFrame) -> pd.DataFrame:
    """One line per rejected row (``file``, ``row``, ``rejected_because``): every problem of the row."""
    if not len(rejected):
        return pd.DataFrame(columns=["file", "row", REJECTED])
    lines = pd.DataFrame({"file": rejected["file"].to_numpy(), "row": rejected["row"].to_numpy(),
                          "text": problem_texts(rejected)})
    grouped = lines.groupby(["file", "row"], sort=True)["text"].agg("; ".join)
    return pd.DataFrame({"file": grouped.index.get_level_values(0), "row": grouped.index.get_level_values(1),
                         REJECTED: grouped.to_numpy()})


def rejected_lines(rejected_rows: pd.DataFrame, columns) -> pd.DataFrame:
    """Rejected rows as the list ends with them: ``file``, ``line``, ``declaration_id``,
    ``rejected_because`` (the problems), then their cells as received in ``columns``
    (:meth:`~contraband.data.load.LoadResult.rejected_rows`, with a ``file`` column)."""
    bad = rejected_rows.rename(columns={"problems": REJECTED})
    keep = ["file", "line", "declaration_id", REJECTED] + [c for c in bad.columns if c in columns]
    return bad[list(dict.fromkeys(keep))]


def for_request(rows: int, scored, rejected: pd.DataFrame) -> pd.DataFrame:
    """One output row per input row (1..rows), in input order.

    ``scored`` (a frame, or :class:`~contraband.models.scoring.Scores`) is indexed by input row
    number (from 1), as the contract's loader indexes valid declarations; ``rejected`` lists the
    rows it refused."""
    return pd.DataFrame(request_columns(rows, scored, rejected), copy=False)  # arrays made here: no copy


def request_columns(rows: int, scored, rejected: pd.DataFrame) -> dict[str, np.ndarray]:
    """:func:`for_request` as arrays (what a service answering one request reads): the output
    columns and ``rejected_because``."""
    columns = {"risk_score": np.full(rows, np.nan), "rank": np.zeros(rows, dtype=np.int64),
               "flagged": np.zeros(rows, dtype=bool), "exploration": np.zeros(rows, dtype=bool),
               **{c: np.full(rows, "", dtype=object) for c in REASON_COLUMNS + [REJECTED]}}
    if len(scored):
        at = np.asarray(scored.index, dtype=np.int64) - 1
        source = scored.columns if not isinstance(scored, pd.DataFrame) else {c: scored[c].to_numpy() for c in OUTPUT_COLUMNS}
        for c in OUTPUT_COLUMNS:
            columns[c][at] = source[c]
    if len(rejected):
        bad = rejected_reasons(rejected)
        columns[REJECTED][bad["row"].to_numpy(dtype=np.int64) - 1] = bad[REJECTED].to_numpy()
    return columns


def for_manifest(declarations: pd.DataFrame, scored: pd.DataFrame, rejected: pd.DataFrame,
                 lines=None, rejected_rows: pd.DataFrame | None = None, lanes: pd.DataFrame | None = None
                 ) -> pd.DataFrame:
    """Declarations beside their scores, highest risk first; rejected rows last, with reasons.

    ``lanes`` (:meth:`~contraband.desk.Desk.select`, one row per declaration) adds ``lane``,
    ``lane_source``, ``lane_reason``, ``model_lane`` and ``case_id`` after the reasons.

    ``lines`` (one per declaration) is where each declaration starts in its file: it comes out as
    ``line``. ``rejected_rows`` (:meth:`~contraband.data.load.LoadResult.rejected_rows`, with a
    ``file`` column) gives the rejected rows' line, declaration id and cells as received; without
    it they come out as ``file``, ``row`` and ``rejected_because``."""
    visible = [c for c in declarations.columns if not is_truth_column(c)]
    parts = [declarations[visible].reset_index(drop=True), scored[OUTPUT_COLUMNS].reset_index(drop=True)]
    if lanes is not None:
        parts.append(pd.DataFrame({"lane": lanes["lane"].to_numpy(), "lane_source": lanes["source"].to_numpy(),
                                   "lane_reason": lanes["why"].to_numpy(),
                                   "model_lane": lanes["model_lane"].to_numpy(dtype=object),
                                   "case_id": pd.array(lanes["case_id"].to_numpy(dtype="float64"), dtype="Int64")}))
    if lines is not None:
        parts.insert(0, pd.DataFrame({"line": np.asarray(lines, dtype=np.int64)}))
    out = pd.concat(parts, axis=1).sort_values("rank", kind="stable")
    if rejected_rows is not None and len(rejected_rows):
        bad = rejected_lines(rejected_rows, visible)
    else:
        bad = rejected_reasons(rejected)
    if len(bad):
        out = pd.concat([out, bad], ignore_index=True)
    return out.reset_index(drop=True)
