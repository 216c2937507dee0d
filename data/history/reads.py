"""As-of reads of the history store: the per-entity series (as of a day, for features), the
declarations as they stood on a day, their versions, the outcomes and training labels, and a
view blind to outcomes from a day on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from contraband.data.columns import Columns
from contraband.data.history import schema as S
from contraband.data.history.connection import _IN_BATCH, _among, _batches, _select_in
from contraband.data.history.rows import (
    _ENTITY_FIELDS,
    _FEW,
    _VERSION_FIELDS,
    IngestReport,
    _declaration_frame,
    _is_one_of,
)
from contraband.data.history.series import SeriesTable
from contraband.data.history.versions import spans
from contraband.data.keys import DISTINCT, KINDS, date_of, prefix_range
from sqlalchemy import func, select

if TYPE_CHECKING:  # the store these parts make up
    from contraband.data.history.store import HistoryStore

_FETCH_ALL = 20_000  # distinct keys of a kind from which all its series are read at once


class AsOfReads:
    """What a store answers about the past (mixed into :class:`~contraband.data.history.store.HistoryStore`)."""

    #: outcomes count up to this day (exclusive) in lookups: None here; see :meth:`blind`
    outcomes_until: int | None = None

    def _hashes(self, conn, ids: np.ndarray) -> list:
        if len(ids) > _FEW and conn.exec_driver_sql("SELECT 1 FROM declarations LIMIT 1").fetchone() is None:
            return [None] * len(ids)  # an empty store: nothing to look up
        found = dict(_select_in(conn, "SELECT declaration_id, row_hash FROM declarations WHERE declaration_id",
                                list(ids)))
        return [found.get(i) for i in ids]

    def _current(self, conn, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per id: whether it is stored, and its current version's row hash, version number and
        ingest (zeros where it is not stored)."""
        n = len(ids)
        known = np.zeros(n, dtype=bool)
        hashes, version, ingest = (np.zeros(n, dtype=np.int64) for _ in range(3))
        if not n or (n > _FEW and conn.exec_driver_sql("SELECT 1 FROM declarations LIMIT 1").fetchone() is None):
            return known, hashes, version, ingest
        found = {r[0]: r[1:] for r in _select_in(
            conn, "SELECT declaration_id, row_hash, version, ingest FROM declarations WHERE declaration_id", list(ids))}
        if not found:
            return known, hashes, version, ingest
        for i, d in enumerate(ids):
            row = found.get(d)
            if row is not None:
                known[i] = True
                hashes[i], version[i], ingest[i] = row
        return known, hashes, version, ingest

    def _declaration_days(self, conn, ids) -> dict[str, tuple[int, int]]:
        """Per stored id: its current day and the ingest that wrote its current version."""
        out = {}
        t = S.declarations
        for batch in _batches(ids):
            out.update((d, (day, ingest)) for d, day, ingest in conn.execute(
                select(t.c.declaration_id, t.c.day, t.c.ingest).where(_among(conn, t.c.declaration_id, batch))).all())
        return out

    def _stored(self, conn, ids) -> pd.DataFrame:
        """Every version of stored declarations (current and earlier): the entity fields, day,
        version number, recorded day and ingest."""
        rows = []
        for table in (S.declarations, S.declaration_versions):
            cols = [table.c[c] for c in _VERSION_FIELDS]
            for batch in _batches(ids):
                rows += conn.execute(select(*cols).where(_among(conn, table.c.declaration_id, batch))).all()
        frame = pd.DataFrame(rows, columns=list(_VERSION_FIELDS)) if rows else pd.DataFrame(
            {c: pd.Series(dtype=object if c in _ENTITY_FIELDS and c != "day" else np.int64) for c in _VERSION_FIELDS})
        return frame.astype({"day": np.int64, "version": np.int64, "ingest": np.int64})

    def _versions(self, conn, ids) -> pd.DataFrame:
        rows = []
        for batch in _batches(ids):
            rows += conn.execute(select(*S.outcomes.c).where(_among(conn, S.outcomes.c.declaration_id, batch))).all()
        frame = pd.DataFrame(rows, columns=S.OUTCOME_COLUMNS)
        return frame.astype({"recorded_day": np.int64, "inspected": np.int64}) if len(frame) else frame

    def _recording_ingests(self, conn) -> set[int]:
        """Ingests whose series are still being moved (a batch run under way, or killed)."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        return {int(r[0]) for r in conn.exec_driver_sql(f"SELECT ingest FROM ingests WHERE state = {mark}",
                                                        (S.RECORDING,)).fetchall()}

    def _inspected(self, conn, ids) -> list:
        """Those of ``ids`` with an inspection recorded (any outcome version saying inspected)."""
        if not len(ids):
            return []
        return [r[0] for r in _select_in(conn, "SELECT DISTINCT declaration_id FROM outcomes WHERE inspected = 1 "
                                               "AND declaration_id", list(ids))]

    def _read_series(self, conn, kind: str, keys=None) -> SeriesTable:
        if keys is None:
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            rows = conn.exec_driver_sql(f"SELECT key, data FROM series WHERE kind = {mark} ORDER BY key", (kind,)).fetchall()
            return SeriesTable.from_blobs(kind, [r[0] for r in rows], [r[1] for r in rows])
        keys_, blobs = self._fetch_series(conn, {kind: list(keys)}).get(kind, ([], []))
        return SeriesTable.from_blobs(kind, keys_, blobs)

    def series(self, kind: str, keys=None) -> SeriesTable:
        """The series of one kind: all of them, or those of ``keys`` (unknown keys are absent)."""
        if kind not in KINDS and kind not in DISTINCT:
            raise ValueError(f"unknown entity kind {kind!r}")
        with self.engine.connect() as conn:
            return self._read_series(conn, kind, keys)

    def series_many(self, wanted: dict[str, np.ndarray], columns: Columns | None = None) -> dict[str, SeriesTable]:
        """The series of several kinds in one snapshot: for each kind, those of the given keys
        (one round trip for a small request) or, from many keys on, all of them. When
        ``columns`` were just recorded here by the few-rows path, the series it read and wrote
        serve (no second read)."""
        recorded = columns._cache.get(("series", self.url)) if columns is not None else None
        if recorded is not None and all((kind, k) in recorded or k is None
                                        for kind, keys in wanted.items() for k in keys):
            empty = np.zeros((0, 4), dtype=np.int64)
            return {kind: SeriesTable.from_rows(kind, [k for k in dict.fromkeys(keys) if k is not None],
                                                [recorded.get((kind, k), empty) for k in dict.fromkeys(keys)
                                                 if k is not None])
                    for kind, keys in wanted.items()}
        out: dict[str, SeriesTable] = {}
        small: dict[str, list] = {}
        with self._direct(write=False) as conn:
            for kind, keys in wanted.items():
                keys = [k for k in dict.fromkeys(keys) if k is not None]
                if len(keys) >= _FETCH_ALL:
                    out[kind] = self._read_series(conn, kind)
                else:
                    small[kind] = keys
            found = self._fetch_series(conn, small)
        for kind in small:
            keys, blobs = found.get(kind, ([], []))
            out[kind] = SeriesTable.from_blobs(kind, keys, blobs)
        return out

    def partners(self, pair: str, owners) -> SeriesTable:
        """The series of the ``pair`` kind (``consignee_exporter``, say) whose first part is one of
        ``owners``: each owner's partners and since when (:meth:`SeriesTable.first_days`). From
        many owners on, every series of the kind (a superset: the caller looks up its owners). A
        kind of three parts has owners of two (``exporter_hs6_kg_per_unit``: exporter and HS6
        joined by ``SEP``, each owning its bins)."""
        if pair not in KINDS or len(KINDS[pair].parts) < 2:
            raise ValueError(f"{pair!r} is not a pair kind")
        owners = [o for o in dict.fromkeys(owners) if o is not None]
        with self._direct(write=False) as conn:
            if len(owners) >= _FETCH_ALL:
                return self._read_series(conn, pair)
            keys, blobs = self._fetch_ranges(conn, pair, owners)
        return SeriesTable.from_blobs(pair, keys, blobs)

    @staticmethod
    def _fetch_ranges(conn, kind: str, owners: list) -> tuple[list, list]:
        """Keys and blobs of the series of ``kind`` whose keys start with one of ``owners`` (a
        key-range search of the primary key per owner, in batches)."""
        keys, blobs = [], []
        if conn.dialect.name == "postgresql":
            if owners:
                ranges = [prefix_range(o) for o in owners]
                rows = conn.exec_driver_sql(
                    "SELECT s.key, s.data FROM unnest(%s::text[], %s::text[]) AS w (low, high) "
                    "JOIN series s ON s.kind = %s AND s.key >= w.low AND s.key < w.high",
                    ([r[0] for r in ranges], [r[1] for r in ranges], kind)).fetchall()
                keys, blobs = [r[0] for r in rows], [r[1] for r in rows]
            return keys, blobs
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        one = f"SELECT key, data FROM series WHERE kind = {mark} AND key >= {mark} AND key < {mark}"
        for start in range(0, len(owners), 400):  # SQLite: at most 500 terms in a compound SELECT
            batch = owners[start:start + 400]
            params = [p for o in batch for p in (kind, *prefix_range(o))]
            for key, data in conn.exec_driver_sql(" UNION ALL ".join([one] * len(batch)), tuple(params)).fetchall():
                keys.append(key)
                blobs.append(data)
        return keys, blobs

    @staticmethod
    def _fetch_series(conn, wanted: dict[str, list]) -> dict[str, tuple[list, list]]:
        """Blobs of the given (kind, keys), one statement per batch: a UNION ALL of one primary-key
        search per kind (SQLite scans the whole table for a row-value IN list); on PostgreSQL one
        statement joining the pairs given as two arrays."""
        found: dict[str, tuple[list, list]] = {}
        if conn.dialect.name == "postgresql":  # one statement, the same text for any request: two arrays
            pairs = [(kind, key) for kind, keys in wanted.items() for key in keys]
            if pairs:
                rows = conn.exec_driver_sql(
                    "SELECT s.kind, s.key, s.data FROM series s JOIN unnest(%s::text[], %s::text[]) AS w (kind, key) "
                    "ON s.kind = w.kind AND s.key = w.key", ([p[0] for p in pairs], [p[1] for p in pairs])).fetchall()
                for kind, key, data in rows:
                    k, d = found.setdefault(kind, ([], []))
                    k.append(key)
                    d.append(data)
            return found
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        parts, params, size = [], [], 0

        def run():
            if parts:
                for kind, key, data in conn.exec_driver_sql(" UNION ALL ".join(parts), tuple(params)).fetchall():
                    k, d = found.setdefault(kind, ([], []))
                    k.append(key)
                    d.append(data)
            parts.clear()
            params.clear()

        for kind, keys in wanted.items():
            for batch in _batches(keys, _IN_BATCH):
                if size + len(batch) > _IN_BATCH or len(parts) >= 400:
                    run()
                    size = 0
                parts.append(f"SELECT kind, key, data FROM series WHERE kind = {mark} AND key IN "
                             f"({', '.join([mark] * len(batch))})")
                params.extend([kind, *batch])
                size += len(batch)
        run()
        return found

    def declarations(self, *, start_day: int | None = None, end_day: int | None = None, ids=None,
                     as_of: int | None = None) -> pd.DataFrame:
        """Stored declarations (canonical columns, extras unpacked), ``start_day <= day < end_day``:
        their current versions, or with ``as_of`` the versions that were current on that day
        (amendments recorded on it or later left out)."""
        t = S.declarations
        query = select(*(t.c[c] for c in S.COLUMN_FIELDS), t.c.day, t.c.extras)
        if start_day is not None:
            query = query.where(t.c.day >= start_day)
        if end_day is not None:
            query = query.where(t.c.day < end_day)
        with self.reading() as conn:
            if ids is None:
                # ids in code point order on any database (SQLite's order; a server's may follow a locale)
                by_id = t.c.declaration_id if conn.dialect.name == "sqlite" else t.c.declaration_id.collate("C")
                rows = conn.execute(query.order_by(t.c.day, by_id)).all()
            else:
                rows = []
                for batch in _batches(ids):
                    rows += conn.execute(query.where(_among(conn, t.c.declaration_id, batch))).all()
            earlier = self._versions_as_of(conn, as_of, ids) if as_of is not None else None
        frame = pd.DataFrame(rows, columns=[*S.COLUMN_FIELDS, "day", "extras"])
        if earlier is not None and len(earlier):
            day = earlier["day"].to_numpy(dtype=np.int64)
            inside = (day >= (start_day if start_day is not None else day.min())) & \
                (day < (end_day if end_day is not None else day.max() + 1))
            chosen = earlier[inside]
            frame = pd.concat([frame[~_is_one_of(frame["declaration_id"], earlier["declaration_id"])],
                               chosen[frame.columns]], ignore_index=True).sort_values(
                ["day", "declaration_id"], kind="stable").reset_index(drop=True)
        return _declaration_frame(frame)

    def _versions_as_of(self, conn, day: int, ids=None) -> pd.DataFrame:
        """For every amended declaration (of ``ids``), the version that was current on ``day``
        (the first version, or the last one recorded before that day)."""
        names = [*S.COLUMN_FIELDS, "day", "extras", "version", "recorded_day"]
        rows = []
        for table in (S.declaration_versions, S.declarations):
            query = select(*(table.c[c] for c in names))
            if table is S.declarations:
                query = query.where(table.c.version > 1)
            if ids is None:
                rows += conn.execute(query).all()
            else:
                for batch in _batches(ids):
                    rows += conn.execute(query.where(_among(conn, table.c.declaration_id, batch))).all()
        versions = pd.DataFrame(rows, columns=names)
        if not len(versions):
            return versions
        versions = versions.sort_values(["declaration_id", "version"], kind="stable")
        first = ~versions["declaration_id"].duplicated(keep="first")
        recorded = pd.to_numeric(versions["recorded_day"], errors="coerce")
        current = versions[first.to_numpy() | (recorded < day).to_numpy()]
        return current.drop_duplicates("declaration_id", keep="last").reset_index(drop=True)

    def current_versions(self, ids) -> dict[str, int]:
        """The current version number of each stored id (absent: not in the history)."""
        with self.engine.connect() as conn:
            return {d: int(v) for d, v in _select_in(conn, "SELECT declaration_id, version FROM declarations WHERE "
                                                           "declaration_id", list(dict.fromkeys(ids)))}

    def declaration_versions(self, declaration_id: str) -> list[dict]:
        """Every version of one declaration, oldest first, with who sent it (the ingest's
        source), when (its time, and the day it counts from), an admin's reason, and whether it
        is the current one: the audit of its amendments."""
        names = [*S.COLUMN_FIELDS, "day", "extras", "version", "recorded_day", "ingest"]
        with self.reading() as conn:
            rows = []
            for table in (S.declaration_versions, S.declarations):
                rows += conn.execute(select(*(table.c[c] for c in names))
                                     .where(table.c.declaration_id == declaration_id)).all()
            ingests = {r[0]: r[1:] for r in conn.execute(
                select(S.ingests.c.ingest, S.ingests.c.source, S.ingests.c.recorded_at, S.ingests.c.note)
                .where(S.ingests.c.ingest.in_([r[-1] for r in rows]))).all()} if rows else {}
        if not rows:
            return []
        frame = pd.DataFrame(rows, columns=names).sort_values("version", kind="stable").reset_index(drop=True)
        start, _ = spans(frame)
        shown = _declaration_frame(frame[[*S.COLUMN_FIELDS, "day", "extras"]])
        out = []
        for i, r in enumerate(frame.itertuples(index=False)):
            source, recorded_at, note = ingests.get(r.ingest, (None, None, None))
            declaration = {k: (None if v is None or (isinstance(v, float) and v != v) else
                               f"{v:%Y-%m-%d}" if isinstance(v, pd.Timestamp) else v)
                           for k, v in shown.iloc[i].items()}
            out.append({"version": int(r.version), "sent_by": source, "recorded_at": recorded_at, "note": note,
                        "counts_from": f"{date_of(start[i]):%Y-%m-%d}", "current": i == len(frame) - 1,
                        "declaration": declaration})
        return out

    def outcomes(self, ids=None, *, all_versions: bool = False) -> pd.DataFrame:
        """Outcome versions; by default only the current (latest recorded) one per declaration."""
        with self.engine.connect() as conn:
            if ids is None:
                rows = conn.execute(select(*S.outcomes.c).order_by(S.outcomes.c.declaration_id,
                                                                    S.outcomes.c.recorded_at)).all()
                frame = pd.DataFrame(rows, columns=S.OUTCOME_COLUMNS)
            else:
                frame = self._versions(conn, ids).sort_values(["declaration_id", "recorded_at"])
        if not all_versions and len(frame):
            frame = frame.drop_duplicates("declaration_id", keep="last")
        return frame.reset_index(drop=True)

    def seizures_linked(self, traders: dict[str, str], before_day: int, limit: int = 20) -> pd.DataFrame:
        """The seizures behind a declaration's traders, as an analyst opens them: declarations of
        the same exporter, consignee or declarant (``traders``: field -> id) lodged before
        ``before_day`` whose result, as recorded before that day, found contraband. Columns
        ``declaration_id``, ``declaration_date``, ``material``, ``seized_value_usd``, ``hs_code``,
        ``linked_by`` (the field shared); latest first, at most ``limit`` per field."""
        fields = {k: v for k, v in traders.items() if k in ("exporter_id", "consignee_id", "declarant_id")
                  and isinstance(v, str) and v}
        columns = ["declaration_id", "declaration_date", "material", "seized_value_usd", "hs_code", "linked_by"]
        if not fields:
            return pd.DataFrame(columns=columns)
        o, d = S.outcomes, S.declarations
        seized = select(o.c.declaration_id).where(o.c.contraband == 1, o.c.recorded_day < before_day)
        with self.reading() as conn:
            versions = pd.DataFrame(conn.execute(
                select(o.c.declaration_id, o.c.recorded_at, o.c.contraband, o.c.material, o.c.seized_value_usd)
                .where(o.c.declaration_id.in_(seized), o.c.recorded_day < before_day)).all(),
                columns=["declaration_id", "recorded_at", "contraband", "material", "seized_value_usd"])
            if not len(versions):
                return pd.DataFrame(columns=columns)
            latest = versions.sort_values("recorded_at", kind="stable").drop_duplicates("declaration_id", keep="last")
            latest = latest[pd.to_numeric(latest["contraband"], errors="coerce") == 1]
            rows = []
            for batch in _batches(list(latest["declaration_id"])):
                rows += conn.execute(select(d.c.declaration_id, d.c.day, d.c.hs_code, *(d.c[f] for f in fields))
                                     .where(_among(conn, d.c.declaration_id, batch), d.c.day < before_day)).all()
        found = pd.DataFrame(rows, columns=["declaration_id", "day", "hs_code", *fields]).merge(
            latest[["declaration_id", "material", "seized_value_usd"]], on="declaration_id")
        parts = []
        for name, value in fields.items():
            part = found[found[name] == value].sort_values(["day", "declaration_id"], ascending=False).head(limit)
            parts.append(part.assign(linked_by=name))
        out = pd.concat(parts, ignore_index=True) if parts else found.iloc[:0].assign(linked_by="")
        out["declaration_date"] = [f"{date_of(int(x)):%Y-%m-%d}" for x in out["day"]]
        return out[columns].reset_index(drop=True)

    def labelled_declarations(self, before_day: int | None = None) -> pd.DataFrame:
        """Every stored declaration with its current outcome as training labels: ``inspected``
        (0 where none is recorded), ``contraband`` (missing while pending), ``seized_value_usd``
        and ``outcome_date`` (the day the current result was recorded).

        With ``before_day``, the store as it stood then: declarations of earlier days, each with
        the version current then (amendments recorded since left out) and the latest outcome
        version recorded before that day (what a retraining run with that cut-off sees, whatever
        was recorded since)."""
        frame = self.declarations(end_day=before_day, as_of=before_day)
        current = self.outcomes(all_versions=before_day is not None)
        if before_day is not None and len(current):
            current = current[current["recorded_day"] < before_day]
            current = current.drop_duplicates("declaration_id", keep="last").reset_index(drop=True)
        labels = pd.DataFrame({
            "declaration_id": current["declaration_id"].to_numpy(dtype=object),
            "inspected": current["inspected"].to_numpy(dtype="float64"),
            "contraband": pd.to_numeric(current["contraband"], errors="coerce").to_numpy(dtype="float64"),
            "seized_value_usd": pd.to_numeric(current["seized_value_usd"], errors="coerce").to_numpy(dtype="float64"),
            "outcome_date": pd.to_datetime(current["recorded_at"]).dt.normalize().to_numpy(),
        })
        out = frame.merge(labels, on="declaration_id", how="left", validate="one_to_one")
        out["inspected"] = out["inspected"].fillna(0.0)
        return out

    def day_range(self) -> tuple[int | None, int | None]:
        """First and last declaration day recorded (None, None when empty)."""
        with self.engine.connect() as conn:
            lo, hi = conn.execute(select(func.min(S.declarations.c.day), func.max(S.declarations.c.day))).one()
        return lo, hi

    def summary(self) -> dict:
        with self.engine.connect() as conn:
            n = conn.execute(select(func.count()).select_from(S.declarations)).scalar()
            earlier = conn.execute(select(func.count()).select_from(S.declaration_versions)).scalar()
            v = conn.execute(select(func.count()).select_from(S.outcomes)).scalar()
            per_kind = dict(conn.execute(select(S.series.c.kind, func.count()).group_by(S.series.c.kind)).all())
            recording = sorted(self._recording_ingests(conn))
        lo, hi = self.day_range()
        return {"url": self.url, "declarations": int(n), "earlier_versions": int(earlier), "outcome_versions": int(v),
                "from": None if lo is None else f"{date_of(lo):%Y-%m-%d}",
                "to": None if hi is None else f"{date_of(hi):%Y-%m-%d}", "series": per_kind,
                "recording": recording}

    def blind(self, until_day: int) -> "HistoryView":
        """This history with no outcome counted from ``until_day`` on (blind evaluation)."""
        return HistoryView(self, until_day)


def _busy_outcomes(conn, ids, busy: set) -> set:
    """Those of ``ids`` with an outcome version written by one of the ``busy`` (unfinished) ingests."""
    if not busy or not len(ids):
        return set()
    within = ", ".join(str(int(b)) for b in sorted(busy))
    return {r[0] for r in _select_in(conn, f"SELECT DISTINCT declaration_id FROM outcomes WHERE ingest IN ({within}) "
                                           "AND declaration_id", list(pd.unique(np.asarray(ids, dtype=object))))}


class HistoryView:
    """A read-only view of a store in which outcomes recorded on or after a day do not count."""

    def __init__(self, store: HistoryStore, outcomes_until: int):
        self.store = store
        self.outcomes_until = int(outcomes_until)

    def series(self, kind: str, keys=None) -> SeriesTable:
        return self.store.series(kind, keys)

    def series_many(self, wanted: dict[str, np.ndarray], columns=None) -> dict[str, SeriesTable]:
        return self.store.series_many(wanted, columns)

    def partners(self, pair: str, owners) -> SeriesTable:
        return self.store.partners(pair, owners)

    def ingest(self, frame: pd.DataFrame, *, source: str = "", **kwargs) -> IngestReport:
        """Declarations only: what a blind view is blind to is outcomes."""
        if kwargs.get("outcomes"):
            raise ValueError("a blind view of the history does not record outcomes")
        return self.store.ingest(frame, source=source, **{k: v for k, v in kwargs.items() if k != "outcomes"})

    def recording(self, source: str = "", **kwargs):
        return self.store.recording(source, **kwargs)

    def day_range(self):
        return self.store.day_range()

    def declarations(self, **kwargs) -> pd.DataFrame:
        return self.store.declarations(**kwargs)

    def __repr__(self) -> str:
        return f"HistoryView({self.store.url!r}, outcomes before {date_of(self.outcomes_until):%Y-%m-%d})"
