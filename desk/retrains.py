"""What each retraining run decided and how far the data had drifted, kept in the store beside
the desk's figures (the MLflow run holds the whole report; the performance view shows the latest)."""

from __future__ import annotations

import json

from sqlalchemy import select

from contraband.desk import audit
from contraband.desk import schema as S


def record(store, *, run_id: str, cut_off: str, status: str, reason: str, version: str | None, drift) -> None:
    """One run's verdict and the drift summary (``drift``: a :class:`~contraband.models.drift.DriftReport`)."""
    summary = None if drift is None else {
        "score_psi": drift.score_psi, "flag_rate": drift.flag_rate, "flag_rate_psi": drift.flag_rate_psi,
        "budget": drift.budget, "shifted": drift.shifted[:20], "moderate": drift.moderate[:20],
        "top": drift.features.head(5)[["feature", "psi", "level"]].to_dict(orient="records")}
    with store.writing() as conn:
        S.metadata.create_all(conn)
        conn.execute(S.retrains.insert().values(run_id=run_id, at=audit.now(), cut_off=cut_off, status=status,
                                                reason=reason, version=version,
                                                drift=json.dumps(summary, default=float, allow_nan=False)))


def latest(engine) -> dict | None:
    with engine.connect() as conn:
        row = conn.execute(select(*S.retrains.c).order_by(S.retrains.c.at.desc()).limit(1)).first()
    if row is None:
        return None
    return {**{k: v for k, v in row._mapping.items() if k != "drift"}, "drift": json.loads(row.drift or "null")}
