"""Lanes for a scored list already written (``contraband score --queue``): the list's declarations
selected under the policy, their cases opened, and the list written again with ``lane``,
``lane_source``, ``lane_reason``, ``model_lane`` and ``case_id`` after the reasons (rejected rows:
empty); a declaration a lane sends to inspection beyond the model's flag given its reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from contraband.data.export import write_table
from contraband.desk.vocabulary import INSPECTED_LANES


def queue_list(desk, path, *, actor: str, source: str, model: str | None = None, explain=None) -> pd.DataFrame:
    """Select the scored declarations of the list at ``path`` and add their lanes to it; the
    lanes come back (one row per scored declaration). ``explain`` (rows of the list -> a list of
    reasons per row) gives reasons to the red and yellow declarations that have none: every
    declaration an analyst is sent to inspect says why."""
    path = Path(path)
    parquet = path.suffix.lower() == ".parquet"
    table = pd.read_parquet(path) if parquet else pd.read_csv(path, dtype=str, keep_default_na=False)
    risk = pd.to_numeric(table["risk_score"], errors="coerce")
    scored = table[risk.notna().to_numpy()].assign(risk_score=risk[risk.notna()])
    if not len(scored):
        return pd.DataFrame(columns=["declaration_id", "lane", "source", "rule_id", "model_rank", "model_lane", "why",
                                     "case_id", "kept"])
    lanes = desk.select(scored, actor=actor, source=source, model=model)
    at = np.flatnonzero(risk.notna().to_numpy())
    added = {"lane": lanes["lane"], "lane_source": lanes["source"], "lane_reason": lanes["why"],
             "model_lane": lanes["model_lane"],
             "case_id": pd.array(lanes["case_id"].to_numpy(dtype="float64"), dtype="Int64")}
    for name, values in added.items():
        column = pd.Series(pd.NA if name == "case_id" else ("" if not parquet else None), index=table.index,
                           dtype="Int64" if name == "case_id" else object)
        column.iloc[at] = np.asarray(values, dtype=object) if name != "case_id" else values
        table[name] = column
    if explain is not None:
        _complete_reasons(table, at[lanes["lane"].isin(INSPECTED_LANES).to_numpy()], explain)
    write_table(table, path)
    return lanes


def _complete_reasons(table: pd.DataFrame, inspected: np.ndarray, explain) -> None:
    """Reasons for the rows at ``inspected`` whose first reason is empty, in the list's reason columns."""
    columns = [c for c in table.columns if c.startswith("reason_") and c[len("reason_"):].isdigit()]
    if not columns:
        return
    first = table[columns[0]].iloc[inspected]
    rows = inspected[(first.isna() | (first.astype(str) == "")).to_numpy()]
    if not len(rows):
        return
    texts = explain(table.iloc[rows])
    for k, name in enumerate(columns):
        table.iloc[rows, table.columns.get_loc(name)] = [t[k] if k < len(t) else "" for t in texts]
