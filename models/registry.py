"""Where the model registry is, and which version an alias points to, read without MLflow.

Importing MLflow and opening its SQLAlchemy store take 2-3 s, longer than scoring a small file.
A registered model is served from a local copy made once per version
(:class:`~contraband.api.champion.Champion`), so all a command needs from the registry is the
version an alias points to. On the embedded SQLite tracking store that is one read of two
tables of MLflow's schema (opened read-only, MLflow pinned in the lock file). Anything else
(a tracking server, a missing table, several workspaces holding the name) answers None and
the caller asks MLflow, which stays the authority.
"""

from __future__ import annotations

import os
import sqlite3

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


def tracking_uri() -> str:
    """The MLflow tracking store: ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` here."""
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def registered_version(name: str, alias: str | None, version: str | None, uri: str | None = None) -> str | None:
    """The version ``models:/name@alias`` (or ``models:/name/version``) names, if it is ready,
    read straight from a SQLite tracking store; None when only MLflow can tell."""
    uri = uri or tracking_uri()
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if not os.path.isfile(path):
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error:
        return None
    try:
        if alias is not None:
            rows = conn.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                                (name, alias)).fetchall()
            if len(rows) != 1:
                return None
            version = str(rows[0][0])
        ready = conn.execute("SELECT COUNT(*) FROM model_versions WHERE name = ? AND version = ? AND status = 'READY' "
                             "AND current_stage != 'Deleted_Internal'", (name, int(version))).fetchone()[0]
        return version if ready == 1 else None
    except (sqlite3.Error, ValueError):  # another schema, a version that is not a number
        return None
    finally:
        conn.close()
