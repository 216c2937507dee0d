"""API keys with roles, kept hashed in the history store's database.

A key reads ``cb_<id>_<secret>``: the id finds its row, the secret (256 random bits) is never
stored, only the SHA-256 of the whole key (a slow password hash buys nothing for a random
secret of this length), compared in constant time. A worker remembers a key's verdict for
``CACHE_SECONDS`` (one second): a revoked key stops working within that time. Roles, each allowed what the one before it
is: ``analyst`` (score, the case queue, outcomes, overrides with a reason), ``supervisor`` (also
the selection policy: lanes and capacity; the review of overrides) and ``admin`` (also keys, the
model's reload and the audit trail). A revoked key keeps its row (who had it, when it
ended) and opens nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timezone

from sqlalchemy import Column, MetaData, Table, Text, select, update

from contraband.desk import audit
from contraband.desk import schema as desk_schema

ROLES = ("analyst", "supervisor", "admin")  # each allowed what the ones before it are
_PREFIX = "cb"
_metadata = MetaData()
api_keys = Table(
    "api_keys", _metadata,
    Column("key_id", Text, primary_key=True),
    Column("digest", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("label", Text),
    Column("created_at", Text, nullable=False),
    Column("revoked_at", Text),
)
CACHE_SECONDS = 1.0
#: :meth:`KeyRing.known`'s answer when only the store can tell
UNKNOWN = object()
_NOBODY = hashlib.sha256(b"no such key").hexdigest()  # compared against when the id is unknown


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class KeyRing:
    """The keys of one history store."""

    def __init__(self, store):
        self.store, self.engine = store, store.engine
        self._seen: dict[str, tuple[float, tuple[str, str] | None]] = {}  # digest -> (until, verdict)
        with store.writing() as conn:
            _metadata.create_all(conn)
            desk_schema.metadata.create_all(conn)  # the audit trail that keeps each key's creation and end

    def create(self, role: str, label: str = "", actor: str = "cli") -> str:
        """A new key (shown once: only its digest is kept); ``actor`` is who made it (audited)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        key_id = secrets.token_hex(6)
        key = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        with self.store.writing() as conn:
            conn.execute(api_keys.insert().values(key_id=key_id, digest=_digest(key), role=role, label=label,
                                                  created_at=_now()))
            audit.record(conn, actor, "key.create", f"key:{key_id}", None, {"role": role, "label": label})
        return key

    def list(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(api_keys.c.key_id, api_keys.c.role, api_keys.c.label, api_keys.c.created_at,
                                       api_keys.c.revoked_at).order_by(api_keys.c.created_at)).all()
        return [dict(r._mapping) for r in rows]

    def revoke(self, key_id: str, actor: str = "cli") -> bool:
        """Revoke by id (or by the whole key); False when no active key has it."""
        key_id = key_id.split("_")[1] if key_id.startswith(f"{_PREFIX}_") and key_id.count("_") >= 2 else key_id
        with self.store.writing() as conn:
            done = conn.execute(update(api_keys).where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                                .values(revoked_at=_now()))
            if done.rowcount:
                audit.record(conn, actor, "key.revoke", f"key:{key_id}", {"revoked_at": None}, {"revoked_at": _now()})
        return done.rowcount > 0

    def known(self, key: str | None):
        """:meth:`identify`'s verdict when it needs no read of the store (no key, or one seen
        within ``CACHE_SECONDS``); :data:`UNKNOWN` otherwise."""
        if not key:
            return None
        cached = self._seen.get(_digest(key))
        return cached[1] if cached is not None and cached[0] > time.monotonic() else UNKNOWN

    def identify(self, key: str | None) -> tuple[str, str] | None:
        """(key id, role) of a valid, unrevoked key; None otherwise."""
        verdict = self.known(key)
        if verdict is not UNKNOWN:
            return verdict
        digest, now = _digest(key), time.monotonic()
        verdict = self._lookup(key, digest)
        if len(self._seen) > 10_000:  # many wrong keys: forget them all rather than grow
            self._seen.clear()
        self._seen[digest] = (now + CACHE_SECONDS, verdict)
        return verdict

    def _lookup(self, key: str, digest: str) -> tuple[str, str] | None:
        parts = key.split("_", 2)
        key_id = parts[1] if len(parts) == 3 and parts[0] == _PREFIX else ""
        with self.engine.connect() as conn:
            row = conn.execute(select(api_keys.c.digest, api_keys.c.role, api_keys.c.revoked_at)
                               .where(api_keys.c.key_id == key_id)).first() if key_id else None
        ok = hmac.compare_digest(digest, row.digest if row is not None else _NOBODY)
        if not ok or row is None or row.revoked_at is not None:
            return None
        return key_id, row.role
