"""A batch's recording: chunks of declarations written in short transactions as they come (new
declarations and amendments worked out outside the writers' lock, each transaction checking what
it replaces), their series moved once per round, and the recovery that finishes a round whose
writer died."""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from contraband.data.columns import Columns
from contraband.data.history import schema as S
from contraband.data.history.connection import _nan_as_none, _select_in, _tuples, _upsert
from contraband.data.history.contributions import contributions, outcome_steps
from contraband.data.history.ingest import _WRITE_ROWS
from contraband.data.history.moves import (
    _adapt,
    _in_kind_order,
    _negated,
    _PendingSeries,
)
from contraband.data.history.versions import BUSY
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
_SLICE_OTHERS = 500  # re-sent declarations per transaction (amendments: in the first, then adapted)
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
        self._slice_amendments = _SLICE_OTHERS

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
        changes), so that the lock is held only to check they are still new and write them.
        Amendments (stored declarations re-sent with other values) likewise: worked out outside
        the lock, written with a check that what they replace is still what was read. An
        identical re-send writes nothing; new outcome versions for stored declarations go
        through :meth:`HistoryStore._apply`, under the lock."""
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
                    self._apply(conn, clash, clash_v, report, pending)
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
        """Stored declarations re-sent with other values, or with outcome versions. Those
        re-sent without outcome versions (amendments) are worked out together outside the
        writers' lock (:meth:`_write_amendments`); the others go the general way."""
        if len(versions):
            general = _is_one_of(rows["declaration_id"], versions["declaration_id"])
            self._write_general(rows[general], versions, report, pending)
            rows = rows[~general]
        self._write_amendments(rows, report, pending)

    def _write_general(self, rows: pd.DataFrame, versions: pd.DataFrame, report: IngestReport,
                       pending: "_PendingSeries") -> None:
        """Declarations through :meth:`HistoryStore._apply`, a slice per short transaction."""
        at = 0
        while at < len(rows):
            part = rows.iloc[at:at + _SLICE_OTHERS]
            vpart = versions[_is_one_of(versions["declaration_id"], part["declaration_id"])] if len(versions) else versions
            with self._transaction() as conn:
                self._apply(conn, part, vpart, report, pending)
            at += len(part)

    def _apply(self, conn, rows: pd.DataFrame, versions: pd.DataFrame, report: IngestReport,
               pending: "_PendingSeries") -> None:
        """:meth:`HistoryStore._apply` in this round's transaction, counted in its ingest."""
        before = (report.new + report.amended, report.outcome_versions)
        self.store._apply(conn, rows, versions, report, ingest=self._ingest, pending=pending,
                          amend_inspected=self.amend_inspected, recorded_day=self.recorded_day)
        self.store._count_ingest(conn, self._ingest, report.new + report.amended - before[0],
                                 report.outcome_versions - before[1])

    def _write_amendments(self, rows: pd.DataFrame, report: IngestReport, pending: "_PendingSeries") -> None:
        """Stored declarations re-sent with other values and no outcome versions: what they
        change (:meth:`HistoryStore._changes`: refusals, new versions, series changes) worked out
        at once from a snapshot, outside the writers' lock; then written a short transaction at
        a time, each checking that every declaration it amends still has the version and the
        outcome versions that were read. One that another writer changed meanwhile, or that a
        batch run was recording, goes the general way instead, under the lock."""
        if not len(rows):
            return
        planned = IngestReport()
        with self.store.reading() as conn:  # one snapshot: the changes, and the outcome versions they rest on
            changes = self.store._changes(conn, rows, _no_outcomes(), planned, None, self._ingest or 0, True,
                                          self.amend_inspected, self.recorded_day)
            outcomes = _outcome_rows(conn, changes.changed["declaration_id"]) if changes is not None else {}
        report.unchanged += planned.unchanged
        refused = planned.refused
        busy = refused["reason"].to_numpy(dtype=object) == BUSY
        if (~busy).any():
            report.refuse(refused["declaration_id"][~busy], refused["reason"][~busy])
        if busy.any():  # that batch run may have ended: the general way says
            self._write_general(rows[_is_one_of(rows["declaration_id"], refused["declaration_id"][busy])],
                                _no_outcomes(), report, pending)
        if changes is None:
            return
        ids = changes.changed["declaration_id"].to_numpy(dtype=object)
        nan_as_none = _nan_as_none(self.store.engine)
        for block in range(0, len(ids), _ROW_BLOCK):  # rows for the driver a block at a time, sliced
            end = min(block + _ROW_BLOCK, len(ids))
            self._write_amended(changes, block, end, outcomes, report, pending, nan_as_none)
        pending.add(changes.deltas())

    def _write_amended(self, changes, block: int, end: int, outcomes: dict, report: IngestReport,
                       pending: "_PendingSeries", nan_as_none: bool) -> None:
        """Amendments ``block:end`` of ``changes`` in short transactions (see
        :meth:`_write_amendments`): the rows for the driver made once, each transaction a slice."""
        changed = changes.changed.iloc[block:end]
        rows = _tuples(changed, _DECLARATION_COLUMNS, None, nan_as_none)
        ids = changed["declaration_id"].to_numpy(dtype=object)
        stored_hash, stored_version = changes.stored_hash[block:end], changes.stored_version[block:end]
        at = 0
        while at < len(ids):
            stop = min(at + self._slice_amendments, len(ids))
            part, these = rows[at:stop], ids[at:stop]
            t = time.perf_counter()
            with self._transaction() as conn:
                known, hashes, version, _ = self.store._current(conn, these)
                now = _outcome_rows(conn, these)
                as_read = known & (hashes == stored_hash[at:stop]) & (version == stored_version[at:stop]) \
                    & np.array([outcomes.get(i) == now.get(i) for i in these], dtype=bool)
                if not as_read.all():  # changed by another writer since they were read
                    pending.add(_negated(changes.deltas(these[~as_read])))
                    self._apply(conn, changes.rows.iloc[block + at:block + stop][~as_read], _no_outcomes(), report,
                                pending)
                    part, these = [r for r, ok in zip(part, as_read) if ok], these[as_read]
                self.store._supersede(conn, these)
                ingest = (self._ingest,)
                _upsert(conn, S.declarations, [*_DECLARATION_COLUMNS, "ingest"], [r + ingest for r in part],
                        ("declaration_id",))
                self.store._count_ingest(conn, self._ingest, len(part), 0)
            report.amended += len(part)
            at = stop
            self._slice_amendments = _adapt(self._slice_amendments, time.perf_counter() - t)

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


def _outcome_rows(conn, ids) -> dict:
    """Per declaration of ``ids`` with outcome versions, their stored rows (as a set)."""
    out: dict = {}
    for row in _select_in(conn, f"SELECT {', '.join(S.OUTCOME_COLUMNS)} FROM outcomes WHERE declaration_id",
                          list(ids)):
        out.setdefault(row[0], set()).add(tuple(row))
    return out
