"""The history store: every declaration seen, every inspection outcome, and per-entity series.

One store holds the product's state. Training data, scored manifests and single declarations
all feed it (:meth:`HistoryStore.ingest`); analysts' inspection results add outcome versions
(:meth:`HistoryStore.record_outcomes`). It is idempotent: a re-sent declaration replaces its
earlier copy (an identical one changes nothing), a corrected outcome is a new version while
earlier versions are kept, and a re-sent outcome with the current result is not recorded again. Each write updates, in the same transaction, the packed per-entity
series that point-in-time features read (:meth:`HistoryStore.series`).

Embedded by default: a SQLite file in WAL mode (many readers, one writer at a time, across
processes; a writer waits for the lock rather than failing, queued on a ``flock`` of a file
beside the database), located by ``--history`` or
``CONTRABAND_HISTORY``, default ``history.db`` in the working directory. Everything goes through
SQLAlchemy: Core for the schema and the rare statements, driver-level SQL that SQLite and
PostgreSQL both speak (``ON CONFLICT``, ``RETURNING``, ``UNION ALL`` of primary-key searches)
for the hot paths, so a server database URL (``postgresql://...``) can replace the file without
touching feature code. On PostgreSQL (``postgresql://user:password@host/db``, through psycopg 3)
writers queue on a transaction-level advisory lock, readers read one snapshot (REPEATABLE READ)
and missing numbers are stored as NULL, as SQLite does; the URL shown anywhere hides the password.

Two write paths with one result: a vectorised one for bulk loads (whole, or a chunk at a time
through a :meth:`HistoryStore.recording` whose series move once per transaction) and the
few-rows path of a scoring request (its new declarations' series read and written once). A
background thread copies SQLite's write-ahead log into the database, so no request waits for a
checkpoint.
"""

from __future__ import annotations

import os

from contraband.data.history.connection import (
    BATCH_MEMORY_MAP,
    DEFAULT_LOCATION,
    ENV,
    MEMORY_MAP,
    Connections,
    history_url,
    shown_url,
)
from contraband.data.history.ingest import Ingest
from contraband.data.history.moves import SeriesMoves
from contraband.data.history.opening import StoreError
from contraband.data.history.outcomes import OutcomeRecords
from contraband.data.history.reads import AsOfReads, HistoryView
from contraband.data.history.recording import Recording, Recordings
from contraband.data.history.rows import DEFAULT_OUTCOME_LAG_DAYS, IngestReport, OutcomeReport


def open_history(location: str | os.PathLike | None = None, memory_map: int | None = None,
                 create: bool = True) -> "HistoryStore":
    """The store at ``location`` (see :func:`history_url`); ``create``: a missing or empty store
    is created (else :class:`StoreError`)."""
    return HistoryStore(history_url(location), memory_map, create)


class HistoryStore(Recordings, Ingest, OutcomeRecords, SeriesMoves, AsOfReads, Connections):
    """Declarations, outcome versions and per-entity series in one database: each job in a
    module of its own (connection, ingest, recording, outcomes, moves, reads), one store."""


__all__ = ["HistoryStore", "HistoryView", "IngestReport", "OutcomeReport", "Recording", "StoreError", "open_history",
           "history_url", "shown_url", "DEFAULT_OUTCOME_LAG_DAYS", "ENV", "DEFAULT_LOCATION", "MEMORY_MAP",
           "BATCH_MEMORY_MAP"]
