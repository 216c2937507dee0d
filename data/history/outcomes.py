"""Inspection outcomes into the history store: an analyst's few results on a lean path (the few
series they change, in a few plain statements), others on the general one; the rules an outcome
version must keep (a known declaration, not before it was lodged, not while a batch records it)."""

from __future__ import annotations


import numpy as np
import pandas as pd

from contraband.data.columns import Columns
from contraband.data.history import schema as S
from contraband.data.history.connection import (
    _nan_as_none,
    _select_in,
    _tuples,
    _upsert,
)
from contraband.data.history.reads import _busy_outcomes
from contraband.data.history.rows import (
    _ENTITY_FIELDS,
    _FEW,
    IngestReport,
    OutcomeReport,
    _outcome_versions,
)
from contraband.data.history.series import decode, encode, merge_one
from contraband.data.history.versions import BUSY
from contraband.data.keys import KINDS


class OutcomeRecords:
    """Recording outcome versions (mixed into :class:`~contraband.data.history.store.HistoryStore`)."""

    def record_outcomes(self, records: pd.DataFrame, source: str = "", then=None) -> OutcomeReport:
        """Record inspection results: declaration_id, inspected (0/1), contraband (0/1, missing
        while the result is pending), seized_value_usd, material, note, recorded_at (default:
        now). An outcome counts for declarations from the day after it was recorded.

        A few results (an analyst's) take a lean path that holds the writers' lock for a few
        plain statements; others, and the rare cases the lean path leaves (a result dated
        before the current one, an amended declaration), the general one.

        ``then(conn, recorded, before)``, when given, runs in the same transaction once the
        versions are written (the desk's case and audit trail stand or fall with them):
        ``recorded`` the versions written (not those refused or unchanged), ``before`` each of
        their declarations' result until then (the latest earlier version, one row per
        declaration that had one)."""
        versions, problems = _outcome_versions(records, source)
        report = OutcomeReport()
        if not (len(versions) <= _FEW and self._record_outcomes_few(versions, problems, source, report, then)):
            with self._write() as conn:
                known = self._declaration_days(conn, versions["declaration_id"].unique())
                busy = self._recording_ingests(conn)
                problems += _lodging_problems(versions["declaration_id"], versions["recorded_day"], known, busy,
                                              _busy_outcomes(conn, list(known), busy))
                bad = sorted({i for i, _ in problems})
                ok = versions.drop(index=bad)
                ok = ok.astype({"inspected": "int64"})
                current = self._versions(conn, ok["declaration_id"].unique()) if len(ok) else None
                same = self._unchanged(ok, current)
                report.unchanged = int(same.sum())
                ok = ok[~same]
                if len(ok):
                    declared = self._stored(conn, ok["declaration_id"].unique())
                    ingest = self._begin_ingest(conn, source)
                    self._apply(conn, declared.iloc[:0], ok, IngestReport(), existing_rows=declared, ingest=ingest)
                    if then is not None:
                        then(conn, ok.reset_index(drop=True), _latest(current))
                    self._end_ingest(conn, ingest, 0, len(ok))
                report.recorded = len(ok)
        if problems:
            report.rejected = pd.DataFrame(
                [(i + 1, versions.at[i, "declaration_id"], reason) for i, reason in sorted(problems)],
                columns=["row", "declaration_id", "reason"])
        return report

    _RESULT = ("inspected", "contraband", "seized_value_usd", "material", "note")

    def _record_outcomes_few(self, versions: pd.DataFrame, problems: list, source: str, report: OutcomeReport,
                             then=None) -> bool:
        """A few outcome versions, each the latest of a declaration that was never amended: the
        inspection and seizure counts they change, added to the few series of each
        declaration's entities, read and written once, on the driver's cursor (the general
        path builds frames for a handful of numbers, holding the lock ten times longer); with
        ``then`` (see :meth:`record_outcomes`), on a connection of its own, in the same
        transaction. False, with nothing written, when the general path is needed: a version
        dated before the declaration's current one, the same declaration twice, an amended
        declaration."""
        ids = list(dict.fromkeys(versions["declaration_id"]))
        if len(ids) != len(versions):
            return False
        rows = list(zip(versions["declaration_id"], versions["recorded_at"], versions["recorded_day"],
                        *(versions[c].to_numpy(dtype=object) for c in self._RESULT)))
        names = ("declaration_id", "day", "ingest", "version", *_ENTITY_FIELDS[2:])
        found = []
        with self._direct(write=True) if then is None else self._write() as cur:
            stored = {r[0]: r for r in _select_in(cur, f"SELECT {', '.join(names)} FROM declarations WHERE "
                                                       "declaration_id", ids)}
            if any(int(r[3]) > 1 for r in stored.values()):
                return False
            busy = self._recording_ingests(cur)
            found = _lodging_problems([r[0] for r in rows], [r[2] for r in rows],
                                      {d: (r[1], r[2]) for d, r in stored.items()}, busy,
                                      _busy_outcomes(cur, list(stored), busy))
            refused = {i for i, _ in problems} | {i for i, _ in found}
            latest: dict = {}
            for d, at, *result in _select_in(cur, "SELECT declaration_id, recorded_at, inspected, contraband, "
                                                  "seized_value_usd, material, note FROM outcomes WHERE declaration_id",
                                             [r[0] for i, r in enumerate(rows) if i not in refused]):
                if d not in latest or at > latest[d][0]:
                    latest[d] = (at, result)
            new, unchanged = [], 0
            for i, (d, at, day, *result) in enumerate(rows):
                if i in refused:
                    continue
                before = latest.get(d)
                if before is not None and _same_result(result, before[1]):
                    unchanged += 1
                elif before is not None and before[0] >= at:
                    return False  # a version recorded before the current one: the general path orders them
                else:
                    new.append((i, before))
            if new:
                ingest = self._begin_ingest(cur, source)
                self._move_outcome_series(cur, [rows[i] for i, _ in new], [b for _, b in new], stored)
                chosen = versions.iloc[[i for i, _ in new]].astype({"inspected": "int64"})
                _upsert(cur, S.outcomes, S.OUTCOME_COLUMNS, _tuples(chosen, S.OUTCOME_COLUMNS, {"ingest": ingest},
                                                                    nan_as_none=_nan_as_none(cur)),
                        ("declaration_id", "recorded_at"))
                self._end_ingest(cur, ingest, 0, len(new))
                if then is not None:
                    earlier = [(rows[i][0], b[0], *b[1]) for i, b in new if b is not None]
                    then(cur, chosen.reset_index(drop=True),
                         pd.DataFrame(earlier, columns=["declaration_id", "recorded_at", *self._RESULT]))
        problems += found
        report.unchanged, report.recorded = unchanged, len(new)
        return True

    def _move_outcome_series(self, cur, rows: list, before: list, stored: dict) -> None:
        """The series changes of new outcome versions (``rows``: id, recorded_at, recorded_day
        and the result; ``before``: each declaration's current version, or None), on its
        declaration's entities from the day the version counts."""
        names = _ENTITY_FIELDS[2:]
        keys = Columns.from_arrays({n: np.array([stored[r[0]][4 + k] for r in rows], dtype=object)
                                    for k, n in enumerate(names)}).entity_keys()
        changes: dict[tuple[str, str], list] = {}
        for i, ((d, _at, day, inspected, contraband, *_), prev) in enumerate(zip(rows, before)):
            old = _counted_result(prev[1][0], prev[1][1]) if prev is not None else (0, 0)
            new = _counted_result(inspected, contraband)
            step = (new[0] - old[0], new[1] - old[1])
            if step == (0, 0):
                continue
            when = max(int(day), int(stored[d][1]))
            for kind, coded in keys.items():
                if KINDS[kind].outcomes and coded.codes[i] >= 0:
                    changes.setdefault((kind, coded.values[coded.codes[i]]), []).append((when, (0, *step)))
        if not changes:
            return
        wanted: dict[str, list] = {}
        for kind, key in changes:
            wanted.setdefault(kind, []).append(key)
        found = self._fetch_series(cur, wanted)
        current = {(kind, key): decode(blob) for kind, (k, b) in found.items() for key, blob in zip(k, b)}
        empty = np.zeros((0, 4), dtype=np.int64)
        _upsert(cur, S.series, ["kind", "key", "data"],
                [(kind, key, encode(merge_one(current.get((kind, key), empty), [d for d, _ in steps],
                                              [c for _, c in steps], kind, key)))
                 for (kind, key), steps in sorted(changes.items())], ("kind", "key"))

    def _unchanged(self, versions: pd.DataFrame, current: pd.DataFrame | None) -> np.ndarray:
        """Which versions repeat their declaration's current result (a re-sent outcome);
        ``current``: the stored outcome versions of their declarations."""
        if not len(versions):
            return np.zeros(0, dtype=bool)
        if current is None or not len(current):
            return np.zeros(len(versions), dtype=bool)
        current = _latest(current).set_index("declaration_id").reindex(versions["declaration_id"])
        a = zip(*(versions[c].to_numpy(dtype=object) for c in self._RESULT))
        b = zip(*(current[c].to_numpy(dtype=object) for c in self._RESULT))
        return np.array([_same_result(x, y) for x, y in zip(a, b)], dtype=bool)


def _latest(versions: pd.DataFrame | None) -> pd.DataFrame:
    """The latest of each declaration's outcome versions."""
    if versions is None or not len(versions):
        return pd.DataFrame(columns=S.OUTCOME_COLUMNS)
    return versions.sort_values("recorded_at", kind="stable").drop_duplicates("declaration_id", keep="last") \
        .reset_index(drop=True)


def _lodging_problems(ids, days, known: dict, busy: set, busy_ids: set = frozenset()) -> list[tuple[int, str]]:
    """Outcome versions refused for their declaration (``known``: id -> (its day, the ingest of
    its current version)): not in the history, recorded before it was lodged, or being recorded
    by a batch run (``busy``: unfinished ingests; ``busy_ids``: declarations with an outcome
    version of one)."""
    out = []
    for i, (d, day) in enumerate(zip(ids, days)):
        if d not in known:
            out.append((i, "unknown declaration: not in the history"))
        elif day < known[d][0]:
            out.append((i, "recorded before the declaration was lodged"))
        elif int(known[d][1]) in busy or d in busy_ids:
            out.append((i, f"declaration {BUSY}"))
    return out


def _same_result(a, b) -> bool:
    """Whether two outcome results (inspected, contraband, seized value, material, note) are the
    same, a missing value equal to a missing value."""
    return all((pd.isna(x) and pd.isna(y)) or (not pd.isna(x) and not pd.isna(y) and x == y) for x, y in zip(a, b))


def _counted_result(inspected, contraband) -> tuple[int, int]:
    """What one outcome version counts (:func:`~contraband.data.history.contributions.outcome_steps`'s
    rule): an inspection when inspected with a known result, a seizure when contraband was found."""
    known = int(inspected) == 1 and contraband is not None and not pd.isna(contraband)
    return (int(known), int(known and int(contraband) == 1))
