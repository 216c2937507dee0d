"""Small hand-made declaration frames for the history store's tests."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import numpy as np
import pandas as pd

from contraband.data.keys import ALL_KINDS


def declarations(rows: list[dict]) -> pd.DataFrame:
    """Canonical declarations from a few fields; the rest get plain defaults."""
    base = {"hs_code": "381010", "goods_description": "solder paste", "origin_country": "CN",
            "export_country": "CN", "destination_country": "US", "net_weight_kg": 100.0,
            "declared_value_usd": 1000.0, "exporter_id": "E1", "consignee_id": "C1", "declarant_id": "D1"}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["declaration_date"] = pd.to_datetime(frame["declaration_date"])
    return frame


def snapshot(store) -> dict:
    """Every series of every kind, as comparable arrays."""
    out = {}
    for kind in ALL_KINDS:
        t = store.series(kind)
        order = np.argsort(t.keys.astype(str))
        out[kind] = [(t.keys[i], t.day[t.offsets[i]:t.offsets[i + 1]].tolist(),
                      t.cum[t.offsets[i]:t.offsets[i + 1]].tolist()) for i in order]
    return out


def counts(store, kind: str, key: str, day: str) -> tuple[int, int, int]:
    """(declarations, inspections, seizures) of one entity strictly before a day."""
    from contraband.data.history import day_of

    t = store.series(kind, [key])
    return tuple(int(v) for v in t.before(t.codes(np.array([key], dtype=object)), np.array([day_of(day)]))[0])


def clone(store, path):
    """A copy of a history store, opened: a SQLite store's file copied to ``path`` (through
    SQLite's backup API); a PostgreSQL store's database copied, on its server, to a new database
    named after ``path`` (CREATE DATABASE ... TEMPLATE)."""
    import sqlite3

    from contraband.data.history import open_history

    if store.engine.dialect.name == "postgresql":
        return _clone_database(store, Path(path).stem)
    source = sqlite3.connect(store.url.removeprefix("sqlite:///"))
    target = sqlite3.connect(str(path))
    source.backup(target)
    source.close()
    target.close()
    return open_history(path)


def location(store) -> str:
    """Where a store is, as an operator gives it (``--history``): a file, or a bare
    ``postgresql://`` URL with its password."""
    if store.engine.dialect.name == "sqlite":
        return store.engine.url.database
    return store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _clone_database(store, name: str):
    import psycopg

    from contraband.data.history import open_history

    url = store.engine.url
    copy = f"{re.sub(r'[^a-z0-9_]', '_', name.lower())[:40]}_{secrets.token_hex(4)}"
    store.engine.dispose()  # a template database must have no other sessions (the store reconnects)
    server = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{url.database}"')
    return open_history(url.set(drivername="postgresql", database=copy).render_as_string(hide_password=False))
