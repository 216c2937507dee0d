"""Counters the service's workers share through the history store's database (its ``meta``
table): each worker follows the served model's reload count there, so that a reload asked of
one worker reaches every worker and process."""

from __future__ import annotations

from sqlalchemy import select

from contraband.data.history import schema as S
from contraband.data.history.connection import _upsert


def bump(store, name: str) -> int:
    """Add one to the counter ``name`` and return it (atomic across processes: the writers' lock)."""
    with store.writing() as conn:
        found = conn.execute(select(S.meta.c.value).where(S.meta.c.name == name)).scalar()
        value = int(found or 0) + 1
        _upsert(conn, S.meta, ["name", "value"], [(name, str(value))], ("name",))
    return value


def read(store, name: str) -> int:
    """The counter ``name`` (0 before its first :func:`bump`)."""
    with store.engine.connect() as conn:
        return int(conn.execute(select(S.meta.c.value).where(S.meta.c.name == name)).scalar() or 0)
