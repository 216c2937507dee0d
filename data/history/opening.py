"""Opening a history store: what is there before anything is read or written.

A store is a SQLite file or a server database. Before the store touches it, the location is
looked at: a missing file, an empty one (0 bytes) or a database without any table is a *new*
store, created only when the caller means to create one (a command that records declarations);
a file that is not SQLite, a SQLite file shorter than its own header says with no write-ahead
log beside it (truncated; with one, another process may be checkpointing it), a damaged one,
or a database holding other tables than a history store's is refused with one sentence naming
it (:class:`StoreError`), never a driver's traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

_MAGIC = b"SQLite format 3\x00"


class StoreError(RuntimeError):
    """A history store that cannot be opened: missing (when not to be created), empty, damaged,
    truncated, or something else's database. The message is one sentence naming it."""


def sqlite_state(path: str | os.PathLike) -> str:
    """``missing``, ``empty`` (0 bytes) or ``sqlite`` (a SQLite file whose size matches its
    header); raises :class:`StoreError` for anything else."""
    path = Path(path)
    if not path.exists():
        return "missing"
    if path.is_dir():
        raise StoreError(f"{path} is a folder, not a history store file; give the file's path (e.g. {path}/history.db)")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as exc:
        raise StoreError(f"{path} cannot be read ({exc.strerror or exc}); check its permissions") from None
    if size == 0:
        return "empty"
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise StoreError(f"{path} is not a history store: it is not a SQLite database file (damaged, or another "
                         "kind of file); restore it from a backup or give the right --history")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    valid = header[24:28] == header[92:96]  # the header's page count is current
    if valid and pages and size < page_size * pages and not _wal_frames(path):
        raise StoreError(f"{path} is truncated: {size:,} bytes where its header counts {page_size * pages:,}; "
                         "restore it from a backup")
    return "sqlite"


def _wal_frames(path: Path) -> bool:
    """Whether the write-ahead log beside the file holds frames. Then another process may be
    checkpointing it: a checkpoint writes the header (with the new page count) before the pages
    that extend the file, so a short file is not proof of damage, and SQLite itself judges the
    store when it is read (a damaged one is then refused by :func:`damaged`)."""
    try:
        return os.stat(f"{path}-wal").st_size > 32  # the log's own header is 32 bytes
    except OSError:
        return False


def damaged(path: str, exc: Exception) -> StoreError:
    """The one-sentence error for a database that failed when first read."""
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return StoreError(f"{path} cannot be read as a history store ({reason}); restore it from a backup")


def foreign(path: str, tables: list[str]) -> StoreError:
    shown = ", ".join(sorted(tables)[:8]) + (", ..." if len(tables) > 8 else "")
    return StoreError(f"{path} is a database of something else (tables {shown}), not a contraband history store; "
                      "give the right --history")


def not_created(path: str, state: str) -> StoreError:
    what = {"missing": "does not exist", "empty": "is empty (0 bytes)",
            "no tables": "holds no history store (no tables)"}[state]
    return StoreError(f"{path} {what}; create the history with `contraband train --data FILE` or "
                      "`contraband history ingest FILE`, or give the right --history")
