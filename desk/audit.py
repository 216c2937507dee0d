"""The audit trail: every change of the desk's state, and every key use that changes it.

An event is written in the same transaction as the change it records (the change and its
record stand or fall together): who (the key id, or ``cli:<user>``), when (UTC), what (the
action and its target), and the state before and after, as JSON. The table is append-only:
the database itself refuses an UPDATE or a DELETE (:mod:`~contraband.desk.schema`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import select

from contraband.desk import schema as S

COLUMNS = ["event", "at", "actor", "action", "target", "before", "after"]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(value) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str, allow_nan=False)


def record(conn, actor: str, action: str, target: str, before=None, after=None, at: str | None = None) -> None:
    conn.execute(S.audit.insert().values(at=at or now(), actor=actor, action=action, target=target,
                                         before=_json(before), after=_json(after)))


def events(engine, *, after: int = 0, limit: int = 1000, action: str | None = None) -> list[dict]:
    """Events after event number ``after``, oldest first (``before`` and ``after`` decoded)."""
    query = select(*S.audit.c).where(S.audit.c.event > after).order_by(S.audit.c.event).limit(limit)
    if action:
        query = query.where(S.audit.c.action == action)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [{**r._mapping, "before": _load(r.before), "after": _load(r.after)} for r in rows]


def frame(engine) -> pd.DataFrame:
    """The whole trail as a table (``before`` and ``after`` as JSON text): the export."""
    with engine.connect() as conn:
        rows = conn.execute(select(*S.audit.c).order_by(S.audit.c.event)).all()
    return pd.DataFrame(rows, columns=COLUMNS)


def _load(text):
    return None if text is None else json.loads(text)
