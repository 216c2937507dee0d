"""A batch's recording: chunks of declarations written in short transactions as they come, their
series moved once per round, and the recovery that finishes a round whose writer died."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from contraband.data.columns import Columns
from contraband.data.history import schema as S
from contraband.data.history.connection import _nan_as_none, _tuples, _upsert
from contraband.data.history.contributions import contributions, outcome_steps
from contraband.data.history.ingest import _WRITE_ROWS
from contraband.data.history.moves import (
    _adapt,
    _in_kind_order,
    _negated,
    _PendingSeries,
)
from contraband.data.history.rows import (
    IngestReport,
    _day,
    _is_one_of,
    _last_of_each,
    _no_outcomes,
    _stored_rows,
    _today,
)

if TYPE_CHECKING:  # the store these parts make up
    from contraband.data.history.store import HistoryStore

#: a recording's transaction ends after this many declarations, or this many pending series
#: changes (about 24 bytes each), whichever comes first
TRANSACTION_ROWS = 1_000_000
PENDING_CHANGES = 4_000_000
_SLICE_ROWS = 512  # new declarations written in a recording's first slice (then adapted)
_SLICE_OTHERS = 500  # re-sent declarations (amendments, new outcome versions) per transaction
#: new declarations turned into the driver's rows at once (then written a slice at a time)
_ROW_BLOCK = 16_384
#: the stored columns but the ingest (which a round's first transaction makes)
_DECLARATION_COLUMNS = [c for c in S.DECLARATION_COLUMNS if c != "ingest"]
_OUTCOME_COLUMNS = [c for c in S.OUTCOME_COLUMNS if c != "ingest"]


class Recordings:
    """Batches recorded in rounds (mixed into :class:`~contraband.data.history.store.HistoryStore`)."""

    @contextmanager
    def recording(self, source: str = "", transaction_rows: int | None = None, pending_changes: int | None = None,
                  *, amend_inspected: bool = False, note: str | None = None, recorded_at=None):
        """Record declarations a chunk at a time (``with store.recording(source) as r:
        r.add(chunk)``), with the result :meth:`ingest` would give chunk after chunk.

        Each chunk's rows are written in short transactions (about :data:`LOCK_SECONDS` of the
        writers' lock each) as it comes; its series changes are held and moved, also in short
        transactions, once per round (up to ``transaction_rows`` declarations or
        ``pending_changes`` series changes): a merge costs about the same for a small chunk as for
        a large one, so this is what makes a batch of many chunks cheap, and the short
        transactions are what keep the service's writers and outcome records from waiting for a
        batch. While a round's series move, its declarations cannot be amended and take no
        outcome (refused, to be sent again); a run killed midway is finished by the next
        :meth:`recover` (any batch, ingest, ``serve`` or ``history rebuild`` runs one), so
        nothing of it is lost. Defaults: the module's ``TRANSACTION_ROWS`` and
        ``PENDING_CHANGES``."""
        self.recover()
        recording = Recording(self, source, transaction_rows or TRANSACTION_ROWS, pending_changes or PENDING_CHANGES,
                              amend_inspected=amend_inspected, note=note,
                              recorded_day=_today() if recorded_at is None else _day(recorded_at))
        try:
            yield recording
        except BaseException as e:
            recording.abandon(e)
            raise
        recording.commit()

    def recover(self) -> list[int]:
        """Finish the recordings whose writer died (a batch killed midway): move the series of
        what they wrote, from where they stopped. Returns the ingests finished."""
        with self.engine.connect() as conn:
            waiting = conn.exec_driver_sql("SELECT ingest, progress FROM ingests WHERE state = "
                                           + ("?" if conn.dialect.paramstyle == "qmark" else "%s"),
                                           (S.RECORDING,)).fetchall()
        finished = []
        for ingest, progress in waiting:
            held = self._liveness.take(int(ingest), wait=False)
            if held is None:  # its writer is at work
                continue
            try:
                with self.reading() as conn:
                    still = conn.exec_driver_sql("SELECT state, progress FROM ingests WHERE ingest = "
                                                 + ("?" if conn.dialect.paramstyle == "qmark" else "%s"),
                                                 (int(ingest),)).fetchone()
                    if still is None or still[0] != S.RECORDING:
                        continue
                    deltas = self._recorded_deltas(conn, int(ingest))
                self._move_series(int(ingest), _in_kind_order(deltas), json.loads(still[1]) if still[1] else None)
                finished.append(int(ingest))
            finally:
                held.release(remove=True)
        return finished

    def _recorded_deltas(self, conn, ingest: int) -> dict[str, pd.DataFrame]:
        """What an ingest's declarations and outcome versions add to the series, worked out from
        the store (as its writer had, before the series moved)."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        ids = [r[0] for r in conn.exec_driver_sql(
            f"SELECT declaration_id FROM declarations WHERE ingest = {mark} UNION "
            f"SELECT declaration_id FROM outcomes WHERE ingest = {mark}", (ingest, ingest)).fetchall()]
        if not ids:
            return {}
        versions = self._stored(conn, ids)
        outcomes = self._versions(conn, ids)
        theirs = pd.to_numeric(outcomes["ingest"], errors="coerce").to_numpy() == ingest if len(outcomes) \
            else np.zeros(0, dtype=bool)
        return self._deltas(versions, outcomes, versions[versions["ingest"].to_numpy() != ingest], outcomes[~theirs])


class Recording:
    """Chunks of declarations recorded in short transactions (see :meth:`HistoryStore.recording`)."""

    def __init__(self, store: HistoryStore, source: str, transaction_rows: int, pending_changes: int, *,
                 amend_inspected: bool = False, note: str | None = None, recorded_day: int | None = None):
        self.store, self.source = store, source
        self.transaction_rows, self.pending_changes = transaction_rows, pending_changes
        self.amend_inspected, self.note = amend_inspected, note
        self.recorded_day = _today() if recorded_day is None else recorded_day
        self.transactions = 0  # rounds whose series have moved
        self.report = IngestReport()  # everything added so far
        self._ingest: int | None = None
        self._held = None
        self._pending: _PendingSeries | None = None
        self._rows = 0
        self._slice = _SLICE_ROWS

    @contextmanager
    def _transaction(self):
        """One short write transaction of the round; the first creates the round's ingest,
        marked as recording, and takes its writer's lock (before the ingest row is committed,
        so that no recovery ever finds it unlocked while this runs). If that first transaction
        rolls back, so does the round: no ingest, no lock (its number may be given again)."""
        first = self._ingest is None
        try:
            with self.store._write() as conn:
                if first:
                    ingest = self.store._begin_ingest(conn, self.source, note=self.note, state=S.RECORDING)
                    self._held = self.store._liveness.take(ingest, wait=True)
                    self._ingest, self._pending, self._rows = ingest, _PendingSeries(), 0
                yield conn
        except BaseException:
            if first and self._ingest is not None:
                held, self._held, self._ingest, self._pending = self._held, None, None, None
                if held is not None:
                    held.release(remove=True)
            raise

    def add(self, frame: pd.DataFrame | Columns, versions: pd.DataFrame | None = None) -> IngestReport:
        """Record a chunk of canonical declarations (and outcome ``versions`` for them, as
        :meth:`HistoryStore.ingest` makes them); what :meth:`HistoryStore.ingest` would report.

        What is stored already is read first, outside the writers' lock. Declarations new to
        the store, nearly all of a batch, are worked out there too (their rows and series
        changes), so that the lock is held only to check they are still new and write them. An
        identical re-send writes nothing; the few others (amendments, new outcome versions for
        stored declarations) go through :meth:`HistoryStore._apply`, under the lock."""
        t0 = time.perf_counter()
        rows = _stored_rows(_last_of_each(frame.X if isinstance(frame, Columns) else frame))
        versions = versions if versions is not None else _no_outcomes()
        report = IngestReport(received=len(rows))
        ids = rows["declaration_id"].to_numpy(dtype=object)
        with self.store.reading() as conn:
            known, hashes, _, _ = self.store._current(conn, ids)
        with_versions = _is_one_of(ids, versions["declaration_id"].to_numpy(dtype=object)) if len(versions) \
            else np.zeros(len(ids), dtype=bool)
        same = known & (hashes == rows["row_hash"].to_numpy(dtype=np.int64))
        report.unchanged += int((same & ~with_versions).sum())
        slices = _PendingSeries()  # the chunk's changes, summed into the round's once
        try:
            self._write_new(rows[~known], versions, report, slices)
            self._write_others(rows[known & (~same | with_versions)], versions, report, slices)
        except BaseException as e:  # what was written is the round's: the store says what it was
            self._give_up(e)
            raise
        if self._ingest is not None:
            self._pending.add(dict(slices.drain()))
        self._rows += len(rows)
        report.seconds = time.perf_counter() - t0
        self.report.add(report)
        self.report.seconds += report.seconds
        if self._ingest is not None and (self._rows >= self.transaction_rows
                                         or self._pending.changes >= self.pending_changes):
            self.commit()
        return report

    def _write_new(self, fresh: pd.DataFrame, versions: pd.DataFrame, report: IngestReport,
                   pending: "_PendingSeries") -> None:
        """Declarations the store did not have when the chunk was read, with their outcome
        versions: the series changes worked out once, the rows written a short transaction at a
        time. One that another writer recorded meanwhile goes the general way instead."""
        if not len(fresh):
            return
        fresh = fresh.assign(version=1, recorded_day=self.recorded_day, ingest=0)
        theirs = versions[_is_one_of(versions["declaration_id"], fresh["declaration_id"])] if len(versions) \
            else versions
        theirs = theirs.drop_duplicates(["declaration_id", "recorded_at"], keep="last") if len(theirs) else theirs
        planned = contributions(fresh, outcome_steps(theirs), +1)
        ids = fresh["declaration_id"].to_numpy(dtype=object)
        at_row = pd.Index(ids).get_indexer(theirs["declaration_id"].to_numpy(dtype=object)) if len(theirs) \
            else np.zeros(0, dtype=np.int64)  # each outcome version's declaration, by position (ids are unique)
        order = np.argsort(at_row, kind="stable")
        theirs, at_row = (theirs.iloc[order], at_row[order]) if len(theirs) else (theirs, at_row)
        nan_as_none = _nan_as_none(self.store.engine)
        for block in range(0, len(fresh), _ROW_BLOCK):  # rows for the driver a block at a time, sliced
            end = min(block + _ROW_BLOCK, len(fresh))
            va, vb = np.searchsorted(at_row, [block, end])
            self._write_block(fresh.iloc[block:end], theirs.iloc[va:vb], at_row[va:vb] - block, report, pending,
                              nan_as_none)
        pending.add(planned)

    def _write_block(self, fresh: pd.DataFrame, theirs: pd.DataFrame, at_row: np.ndarray, report: IngestReport,
                     pending: "_PendingSeries", nan_as_none: bool) -> None:
        """A block of new declarations (and their outcome versions ``theirs``, in declaration
        order: ``at_row`` is each one's declaration's position) in short transactions: the rows
        for the driver made once for the block, each transaction a slice of them."""
        rows = _tuples(fresh, _DECLARATION_COLUMNS, None, nan_as_none)
        outcome_rows = _tuples(theirs, _OUTCOME_COLUMNS, None, nan_as_none) if len(theirs) else []
        ids = fresh["declaration_id"].to_numpy(dtype=object)
        at = 0
        while at < len(fresh):
            end = min(at + self._slice, len(fresh))
            va, vb = np.searchsorted(at_row, [at, end])
            part, vpart = rows[at:end], outcome_rows[va:vb]
            t = time.perf_counter()
            with self._transaction() as conn:
                present = self.store._current(conn, ids[at:end])[0]
                if present.any():  # recorded by another writer since the chunk was read
                    taken = present[at_row[va:vb] - at]
                    clash, clash_v = fresh.iloc[at:end][present], theirs.iloc[va:vb][taken]
                    pending.add(_negated(contributions(clash, outcome_steps(clash_v), +1)))
                    before = (report.new + report.amended, report.outcome_versions)
                    self.store._apply(conn, clash, clash_v, report, ingest=self._ingest, pending=pending,
                                      amend_inspected=self.amend_inspected, recorded_day=self.recorded_day)
                    self.store._count_ingest(conn, self._ingest, report.new + report.amended - before[0],
                                             report.outcome_versions - before[1])
                    part = [r for r, gone in zip(part, present) if not gone]
                    vpart = [r for r, gone in zip(vpart, taken) if not gone]
                ingest = (self._ingest,)  # known once the round's first transaction has begun
                for start in range(0, len(part), _WRITE_ROWS):
                    _upsert(conn, S.declarations, [*_DECLARATION_COLUMNS, "ingest"],
                            [r + ingest for r in part[start:start + _WRITE_ROWS]], ("declaration_id",))
                if vpart:
                    _upsert(conn, S.outcomes, [*_OUTCOME_COLUMNS, "ingest"], [r + ingest for r in vpart],
                            ("declaration_id", "recorded_at"))
                self.store._count_ingest(conn, self._ingest, len(part), len(vpart))
            report.new += len(part)
            report.outcome_versions += len(vpart)
            at = end
            self._slice = _adapt(self._slice, time.perf_counter() - t)

    def _write_others(self, rows: pd.DataFrame, versions: pd.DataFrame, report: IngestReport,
                      pending: "_PendingSeries") -> None:
        """Stored declarations re-sent with other values, or with outcome versions: the general
        path, a slice per short transaction."""
        at = 0
        while at < len(rows):
            part = rows.iloc[at:at + _SLICE_OTHERS]
            vpart = versions[_is_one_of(versions["declaration_id"], part["declaration_id"])] if len(versions) else versions
            with self._transaction() as conn:
                before = (report.new + report.amended, report.outcome_versions)
                self.store._apply(conn, part, vpart, report, ingest=self._ingest, pending=pending,
                                  amend_inspected=self.amend_inspected, recorded_day=self.recorded_day)
                self.store._count_ingest(conn, self._ingest, report.new + report.amended - before[0],
                                         report.outcome_versions - before[1])
            at += len(part)

    def commit(self) -> None:
        """Move the series by what the round under way recorded (in short transactions), then
        mark its ingest complete. If that fails, the round is left to a recovery."""
        if self._ingest is None:
            return
        try:
            self.store._move_series(self._ingest, self._pending.drain())
        except BaseException as e:
            self._give_up(e)
            raise
        held, self._held, self._ingest, self._pending = self._held, None, None, None
        if held is not None:
            held.release(remove=True)
        self.transactions += 1

    def _give_up(self, error: BaseException) -> None:
        """Let go of the round under way without finishing it: its writer's lock is released
        and :meth:`HistoryStore.recover` works out its series from what the store holds
        (the round's own account of them may be partial), at once unless this is an
        interruption (Ctrl+C, a signal), else on the next recovery."""
        if self._ingest is None:
            return
        held, self._held, self._ingest, self._pending = self._held, None, None, None
        if held is not None:
            held.release(remove=False)
        if isinstance(error, Exception):
            try:
                self.store.recover()
            except Exception:  # the store itself failed: the next recovery finishes it
                pass

    def abandon(self, error: BaseException) -> None:
        """After an error outside :meth:`add` the declarations written so far still get their
        series (they are recorded); after an interruption the round is left to a recovery."""
        if self._ingest is None:
            return
        if isinstance(error, Exception):
            try:
                self.commit()
            except Exception:  # commit left the round to a recovery
                pass
            return
        self._give_up(error)
