"""Declarations into the history store: idempotent ingest (a re-send changes nothing, other values
are an amendment that counts from the day it arrives), an admin's amendment, the lean path of a
scoring request, the general path under the writers' lock, and the ingests' own records."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from contraband.data.columns import Columns, as_columns
from contraband.data.history import schema as S
from contraband.data.history.connection import (
    _batches,
    _in_marks,
    _in_params,
    _nan_as_none,
    _numbers,
    _tuples,
    _upsert,
)
from contraband.data.history.moves import SeriesMoves, _PendingSeries
from contraband.data.history.reads import _busy_outcomes
from contraband.data.history.rows import (
    _ENTITY_FIELDS,
    _FEW,
    _VERSION_FIELDS,
    DEFAULT_OUTCOME_LAG_DAYS,
    IngestReport,
    _day,
    _is_one_of,
    _last_of_each,
    _new_or_changed,
    _no_outcomes,
    _small_rows,
    _stored_rows,
    _today,
    _versions_from_frame,
)
from contraband.data.history.series import NEVER, decode, encode, first_day, merge_one
from contraband.data.history.versions import BUSY, LOCKED, spans
from contraband.data.keys import DISTINCT, SEP

#: an ingest of up to this many declarations is one transaction; a larger one is recorded as a
#: batch is, in short transactions (:meth:`HistoryStore.recording`)
ONE_TRANSACTION_ROWS = 2_000
_ONE_DECLARATION = np.array([[1, 0, 0]], dtype=np.int64)
_WRITE_ROWS = 50_000  # declarations per statement of a bulk write (bounds the driver's Python rows)


@dataclass
class Changes:
    """What an ingest of declarations and outcome versions writes (:meth:`Ingest._changes`)."""

    rows: pd.DataFrame  # the declarations that change, as sent
    changed: pd.DataFrame  # their new rows (version and recorded day set; the ingest is the writer's)
    stored_hash: np.ndarray  # per changed row, its current version's hash and number when read (0: new)
    stored_version: np.ndarray
    amended: np.ndarray  # ids whose current row becomes an earlier version
    new_versions: pd.DataFrame  # outcome versions to write
    old_decl: pd.DataFrame  # every version and outcome version of the declarations affected, before
    new_decl: pd.DataFrame  # and after
    old_v: pd.DataFrame
    new_v: pd.DataFrame

    def deltas(self, ids=None) -> dict[str, pd.DataFrame]:
        """What the series gain (from the declarations ``ids`` only, when given)."""
        frames = (self.new_decl, self.new_v, self.old_decl, self.old_v)
        if ids is not None:
            frames = tuple(f[_is_one_of(f["declaration_id"], ids)] if len(f) else f for f in frames)
        return SeriesMoves._deltas(*frames)


class Ingest:
    """Recording declarations (mixed into :class:`~contraband.data.history.store.HistoryStore`)."""

    def ingest(self, frame: pd.DataFrame | Columns, *, outcomes: bool = False, lag_days: int = DEFAULT_OUTCOME_LAG_DAYS,
               source: str = "", amend_inspected: bool = False, note: str | None = None,
               recorded_at=None, then=None) -> IngestReport:
        """Record canonical declarations (and, with ``outcomes``, the inspection outcomes they carry).

        Idempotent: an identical declaration changes nothing. One re-sent with other values is
        an amendment, a new version beside the earlier ones, counting from the day it is recorded
        (today, or ``recorded_at``), never in the past (:mod:`~contraband.data.history.versions`).
        A declaration with a recorded inspection is not amended unless ``amend_inspected`` (an
        admin's amendment, :meth:`amend`): it is refused, and ``report.refused`` says why. An
        outcome version with the same record time replaces that version, a later one is added.
        ``source`` says who sent it (kept with the ingest), ``note`` why (an admin's reason).

        Up to :data:`ONE_TRANSACTION_ROWS` declarations are written in one transaction; more are
        recorded as a batch is (:meth:`recording`), in short transactions: other writers never
        wait long, readers never wait.

        ``then(conn, written)``, when given, runs in the transaction that writes them, with the
        declarations this ingest wrote (``declaration_id``, ``version``): the caller's own record
        of the change stands or falls with it. Such an ingest is one transaction, whatever its size.
        """
        t0 = time.perf_counter()
        recorded_day = _today() if recorded_at is None else _day(recorded_at)
        if not outcomes and len(frame) <= _FEW and not amend_inspected and then is None:
            report = self._record_few(as_columns(frame), source, recorded_day)
            if report is not None:
                report.seconds = time.perf_counter() - t0
                return report
        frame = frame.X if isinstance(frame, Columns) else frame
        frame = _last_of_each(frame)
        versions = _versions_from_frame(frame, lag_days, source) if outcomes else None
        if len(frame) > ONE_TRANSACTION_ROWS and then is None:
            with self.recording(source, amend_inspected=amend_inspected, note=note, recorded_at=recorded_at) as r:
                r.add(frame, versions)
            report = r.report
        else:
            rows = _stored_rows(frame)
            report = IngestReport(received=len(rows))
            with self._write() as conn:
                ingest = self._begin_ingest(conn, source, note=note)
                self._apply(conn, rows, versions if versions is not None else _no_outcomes(), report, ingest=ingest,
                            amend_inspected=amend_inspected, recorded_day=recorded_day)
                if then is not None:
                    then(conn, self._written_by(conn, ingest))
                self._end_ingest(conn, ingest, report.new + report.amended, report.outcome_versions)
        report.seconds = time.perf_counter() - t0
        return report

    def amend(self, frame: pd.DataFrame, by: str, reason: str, recorded_at=None, then=None) -> IngestReport:
        """An admin's amendment: declarations re-sent with other values become new versions even
        when they have a recorded inspection. ``by`` (who) and ``reason`` (why) are kept with the
        ingest (the audit of every amendment: :meth:`declaration_versions`). With ``then`` (see
        :meth:`ingest`), it is written :data:`ONE_TRANSACTION_ROWS` declarations a transaction,
        each with the caller's record of its part."""
        if not str(by).strip() or not str(reason).strip():
            raise ValueError("an amendment needs who makes it and why (by, reason)")
        source, note = f"amend:{str(by).strip()}", str(reason).strip()
        if then is None:
            return self.ingest(frame, source=source, amend_inspected=True, note=note, recorded_at=recorded_at)
        frame = _last_of_each(frame.X if isinstance(frame, Columns) else frame)
        report = IngestReport()
        for start in range(0, max(len(frame), 1), ONE_TRANSACTION_ROWS):
            report.add(self.ingest(frame.iloc[start:start + ONE_TRANSACTION_ROWS], source=source,
                                   amend_inspected=True, note=note, recorded_at=recorded_at, then=then))
        return report

    @staticmethod
    def _written_by(conn, ingest: int) -> pd.DataFrame:
        """The declarations (id, version) an ingest wrote."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        rows = conn.exec_driver_sql(f"SELECT declaration_id, version FROM declarations WHERE ingest = {mark} "
                                    "ORDER BY declaration_id", (int(ingest),)).fetchall()
        return pd.DataFrame(rows, columns=["declaration_id", "version"])

    def _record_few(self, columns: Columns, source: str, recorded_day: int) -> IngestReport | None:
        """A few declarations without outcomes (a scoring request): when they are all new, each
        adds one declaration on its day to its entities' series, read and written once. Returns
        None when some were recorded before (the general path then handles them) and a report
        of nothing changed when all of them were, identically."""
        rows = _small_rows(columns)
        ids = rows["declaration_id"]
        n = len(ids)
        report = IngestReport(received=n)
        with self._direct(write=True) as conn:
            hashes = self._hashes(conn, ids)
            if any(h is not None for h in hashes) or len(set(ids)) != n:
                if all(h == r for h, r in zip(hashes, rows["row_hash"])) and len(set(ids)) == n:
                    report.unchanged = n
                    return report
                return None
            ingest = self._begin_ingest(conn, source, declarations=n)
            cols = S.DECLARATION_COLUMNS
            constants = {"ingest": ingest, "version": 1, "recorded_day": recorded_day}
            nan_as_none = _nan_as_none(conn)
            _upsert(conn, S.declarations, cols,
                    list(zip(*((([constants[c]] * n) if c in constants else _numbers(rows[c], nan_as_none))
                               for c in cols))),
                    ("declaration_id",))
            keys = rows["keys"]
            days: dict[tuple[str, str], list[int]] = {}
            for kind, coded in keys.items():
                for code, day in zip(coded.codes, rows["day"]):
                    if code >= 0:
                        days.setdefault((kind, coded.values[code]), []).append(int(day))
            pairs = {pair: distinct for distinct, pair in DISTINCT.items()}
            owners = {(pairs[kind], key.split(SEP, 1)[0]) for (kind, key) in days if kind in pairs}
            wanted: dict[str, list] = {}
            for kind, key in list(days) + sorted(owners):
                wanted.setdefault(kind, []).append(key)
            found = self._fetch_series(conn, wanted)
            current = {(kind, key): decode(blob) for kind, (k, b) in found.items() for key, blob in zip(k, b)}
            empty = np.zeros((0, 4), dtype=np.int64)
            updated = {}
            moved: dict[tuple[str, str], list] = {}
            for (kind, key), ds in days.items():
                before = current.get((kind, key), empty)
                after = merge_one(before, ds, _ONE_DECLARATION if len(ds) == 1 else [[1, 0, 0]] * len(ds), kind, key)
                updated[(kind, key)] = after
                if kind in pairs:
                    old, new = first_day(before), first_day(after)
                    if old != new:
                        changes = moved.setdefault((pairs[kind], key.split(SEP, 1)[0]), [])
                        changes += ([(old, -1)] if old != NEVER else []) + [(new, +1)]
            for (kind, owner), changes in moved.items():
                updated[(kind, owner)] = merge_one(current.get((kind, owner), empty), np.array([d for d, _ in changes]),
                                                   np.array([[c, 0, 0] for _, c in changes]), kind, owner)
            _upsert(conn, S.series, ["kind", "key", "data"],
                    [(kind, key, encode(updated[(kind, key)])) for kind, key in sorted(updated)], ("kind", "key"))
        # the features of these declarations read their entities' series as of the day before
        # each: the series just written hold exactly that (this request only added its own days)
        columns.cached(("series", self.url), lambda: {**current, **updated})
        report.new = n
        return report

    @staticmethod
    def _begin_ingest(conn, source: str, declarations: int = 0, note: str | None = None,
                      state: str | None = None) -> int:
        now = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        row = conn.exec_driver_sql(
            f"INSERT INTO ingests (source, recorded_at, declarations, outcome_versions, note, state) "
            f"VALUES ({mark}, {mark}, {mark}, 0, {mark}, {mark}) RETURNING ingest",
            (source, now, declarations, note, state)).fetchone()
        return int(row[0])

    @staticmethod
    def _count_ingest(conn, ingest: int, declarations: int, versions: int) -> None:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(f"UPDATE ingests SET declarations = declarations + {mark}, "
                             f"outcome_versions = outcome_versions + {mark} WHERE ingest = {mark}",
                             (declarations, versions, ingest))

    @staticmethod
    def _end_ingest(conn, ingest: int, declarations: int, versions: int) -> None:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(f"UPDATE ingests SET declarations = {mark}, outcome_versions = {mark} WHERE ingest = {mark}",
                             (declarations, versions, ingest))

    def _apply(self, conn, chunk: pd.DataFrame, vchunk: pd.DataFrame, report: IngestReport,
               existing_rows: pd.DataFrame | None = None, ingest: int = 0,
               pending: "_PendingSeries | None" = None, amend_inspected: bool = False,
               recorded_day: int | None = None) -> None:
        """Write declarations and outcome versions, and move the series by the difference (or,
        with ``pending``, add the difference to it, for the caller to move later).

        A declaration re-sent with other values is an amendment: the current row becomes an
        earlier version and the new one counts from ``recorded_day`` (today). An amendment of a
        declaration with a recorded inspection (unless ``amend_inspected``: an admin's), or of
        one a batch run is still recording, is refused with its outcome versions: nothing of it
        is written, and ``report.refused`` says why."""
        changes = self._changes(conn, chunk, vchunk, report, existing_rows, ingest, pending is not None,
                                amend_inspected, recorded_day)
        if changes is None:
            return
        self._write_changes(conn, changes.changed, changes.amended, changes.new_versions, ingest)
        deltas = changes.deltas()
        if pending is None:
            self._write_merged(conn, deltas)
        else:
            pending.add(deltas)

    def _changes(self, conn, chunk: pd.DataFrame, vchunk: pd.DataFrame, report: IngestReport,
                 existing_rows: pd.DataFrame | None, ingest: int, pending: bool, amend_inspected: bool,
                 recorded_day: int | None) -> "Changes | None":
        """What :meth:`_apply` writes, worked out from what ``conn`` reads, with the refusals and
        counts in ``report``; None when nothing changes. It writes only the declarations whose
        outcome versions replace another ingest's, in a recording (``pending``; see
        :meth:`_apply_apart`)."""
        if not len(chunk):
            chunk = pd.DataFrame({c: pd.Series(dtype=object) for c in (*_ENTITY_FIELDS, "row_hash")})
        recorded_day = _today() if recorded_day is None else int(recorded_day)
        ids = chunk["declaration_id"].to_numpy(dtype=object)
        known, hashes, version_now, ingest_now = self._current(conn, ids)
        same = known & (hashes == chunk["row_hash"].to_numpy(dtype=np.int64))
        amend = known & ~same
        busy = self._recording_ingests(conn) - {ingest} if amend.any() or len(vchunk) else set()
        # a declaration whose current version or any outcome version a batch run is still recording
        busy_ids = set(ids[known][np.isin(ingest_now[known], list(busy))]) | _busy_outcomes(conn, ids[known], busy) \
            if busy else set()
        replacing = self._replacing(conn, vchunk, ingest) if pending and len(vchunk) else set()
        reasons = {}
        if amend.any():
            reasons = {i: BUSY for i in ids[amend] if i in busy_ids}
            if not amend_inspected:
                reasons.update((i, LOCKED) for i in self._inspected(conn, [i for i in ids[amend] if i not in reasons]))
        if len(vchunk) and (busy_ids or replacing):
            with_outcome = set(vchunk["declaration_id"])
            # an outcome for a declaration a batch run is recording; or, in this recording, one
            # replacing another ingest's version of a declaration this recording wrote (its
            # recovery could not tell the replaced version's count from the series)
            reasons.update((i, BUSY) for i, at in zip(ids[known], ingest_now[known]) if i not in reasons and (
                (i in busy_ids and i in with_outcome) or (i in replacing and int(at) == ingest)))
        if reasons:
            refused = np.array([i in reasons for i in ids], dtype=bool)
            report.refuse(ids[refused], [reasons[i] for i in ids[refused]])
            keep = ~refused
            chunk, ids, known, same, amend, version_now, hashes = (chunk[keep], ids[keep], known[keep], same[keep],
                                                                   amend[keep], version_now[keep], hashes[keep])
            if len(vchunk):
                vchunk = vchunk[~_is_one_of(vchunk["declaration_id"], reasons)]
        apart = _is_one_of(ids, replacing) if replacing else None
        if apart is not None and apart.any():
            self._apply_apart(conn, chunk[apart], vchunk[_is_one_of(vchunk["declaration_id"], ids[apart])], report,
                              ingest, amend_inspected, recorded_day)
            keep = ~apart
            chunk, ids, known, same, amend, version_now, hashes = (chunk[keep], ids[keep], known[keep], same[keep],
                                                                   amend[keep], version_now[keep], hashes[keep])
            vchunk = vchunk[~_is_one_of(vchunk["declaration_id"], replacing)]
        changed = chunk[~same].assign(version=np.where(known[~same], version_now[~same] + 1, 1),
                                      recorded_day=recorded_day, ingest=ingest)
        amended = ids[amend]
        report.new += int((~known).sum())
        report.amended += len(amended)
        report.unchanged += int(same.sum())

        version_ids = pd.unique(vchunk["declaration_id"].to_numpy(dtype=object)) if len(vchunk) else np.array([], dtype=object)
        old_versions = self._versions(conn, pd.unique(np.concatenate([amended, version_ids])))
        new_versions_frame = _new_or_changed(vchunk, old_versions).assign(ingest=ingest)
        version_changed = pd.unique(new_versions_frame["declaration_id"].to_numpy(dtype=object))
        report.outcome_versions += len(new_versions_frame)

        affected = pd.unique(np.concatenate([changed["declaration_id"].to_numpy(dtype=object),
                                             np.asarray(version_changed, dtype=object)]))
        if not len(affected):
            return None
        stored_ids = pd.Index(np.concatenate([amended, np.asarray(version_changed, dtype=object)]))
        old_decl = existing_rows if existing_rows is not None else self._stored(
            conn, affected[pd.Index(affected).isin(stored_ids)])
        old_decl = old_decl[_is_one_of(old_decl["declaration_id"], affected)]
        if len(amended):  # a new version counts from its record day, never before its predecessor's
            changed = changed.assign(recorded_day=_not_before(changed, old_decl))
        new_decl = pd.concat([old_decl, changed[list(_VERSION_FIELDS)]], ignore_index=True) if len(old_decl) \
            else changed[list(_VERSION_FIELDS)]
        old_v = old_versions[_is_one_of(old_versions["declaration_id"], affected)]
        new_v = pd.concat([old_v, new_versions_frame], ignore_index=True) if len(old_v) else new_versions_frame
        new_v = new_v.drop_duplicates(["declaration_id", "recorded_at"], keep="last")
        unknown = pd.Index(new_v["declaration_id"]).difference(pd.Index(new_decl["declaration_id"]))
        if len(unknown):
            raise ValueError(f"outcomes for declarations not in the history: {list(unknown[:5])}")
        return Changes(chunk[~same], changed, hashes[~same], version_now[~same], amended, new_versions_frame,
                       old_decl, new_decl, old_v, new_v)

    @staticmethod
    def _write_changes(conn, changed: pd.DataFrame, amended: np.ndarray, new_versions: pd.DataFrame,
                       ingest: int) -> None:
        """Write new declaration rows (the current rows of ``amended`` kept as earlier versions
        first) and outcome versions, as ``ingest``'s."""
        nan_as_none = _nan_as_none(conn)
        if len(amended):
            Ingest._supersede(conn, amended)
        cols = S.DECLARATION_COLUMNS
        # in slices: the driver's rows are Python tuples, several times the frame's size
        for start in range(0, len(changed), _WRITE_ROWS):
            part = changed.iloc[start:start + _WRITE_ROWS]
            _upsert(conn, S.declarations, cols, _tuples(part, cols, {"ingest": ingest}, nan_as_none),
                    ("declaration_id",))
        if len(new_versions):
            _upsert(conn, S.outcomes, S.OUTCOME_COLUMNS,
                    _tuples(new_versions, S.OUTCOME_COLUMNS, {"ingest": ingest}, nan_as_none=nan_as_none),
                    ("declaration_id", "recorded_at"))

    def _replacing(self, conn, vchunk: pd.DataFrame, ingest: int) -> set:
        """Declarations of which ``vchunk`` changes an outcome version another ingest wrote
        (same record time: the new one replaces it)."""
        stored = self._versions(conn, pd.unique(vchunk["declaration_id"].to_numpy(dtype=object)))
        if not len(stored):
            return set()
        others = stored[pd.to_numeric(stored["ingest"], errors="coerce").to_numpy() != ingest]
        changed = _new_or_changed(vchunk, stored)
        taken = set(zip(others["declaration_id"], others["recorded_at"]))
        return {d for d, at in zip(changed["declaration_id"], changed["recorded_at"]) if (d, at) in taken}

    def _apply_apart(self, conn, chunk, vchunk, report: IngestReport, ingest: int, amend_inspected: bool,
                     recorded_day: int) -> None:
        """Declarations of a recording whose outcome versions replace another ingest's, written
        with their series in an ingest of their own, complete at once: the replaced version
        is gone from the store, so a recovery of the recording could not work out what it
        counted. Their counts are the recording's report's, not its ingest's."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        source, note = conn.exec_driver_sql(f"SELECT source, note FROM ingests WHERE ingest = {mark}", (ingest,)).one()
        own = self._begin_ingest(conn, source, note=note)
        before = (report.new + report.amended, report.outcome_versions)
        self._apply(conn, chunk, vchunk, report, ingest=own, amend_inspected=amend_inspected, recorded_day=recorded_day)
        counts = (report.new + report.amended - before[0], report.outcome_versions - before[1])
        self._end_ingest(conn, own, *counts)
        self._count_ingest(conn, ingest, -counts[0], -counts[1])  # the recording counts its report's change

    @staticmethod
    def _supersede(conn, ids) -> None:
        """The current rows of ``ids`` kept as earlier versions (before new ones replace them)."""
        names = ", ".join(S.DECLARATION_COLUMNS)
        for batch in _batches(ids):
            conn.exec_driver_sql(f"INSERT INTO declaration_versions ({names}) SELECT {names} FROM declarations "
                                 f"WHERE declaration_id {_in_marks(conn, len(batch))}", _in_params(conn, batch))


def _not_before(changed: pd.DataFrame, stored: pd.DataFrame) -> np.ndarray:
    """The record day of each new version, moved up to the day its declaration's latest
    stored version counts from where that is later: an amendment dated before the version it
    follows counts from that version's day, so that the versions count in the order they came
    and no day on which an earlier one counted is given to a later one."""
    days = changed["recorded_day"].to_numpy(dtype=np.int64).copy()
    if not len(stored):
        return days
    start, _ = spans(stored)
    last = pd.Series(start).groupby(stored["declaration_id"].to_numpy(dtype=object)).max()
    prior = pd.Series(changed["declaration_id"].to_numpy(dtype=object)).map(last).to_numpy(dtype="float64")
    later = ~np.isnan(prior) & (prior > days)
    days[later] = prior[later].astype(np.int64)
    return days
