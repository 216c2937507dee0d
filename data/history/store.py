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

import json
import os
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import ARRAY, Integer, any_, create_engine, delete, event, func, inspect, literal, make_url, select
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from contraband.data.columns import Columns, as_columns
from contraband.data.contract import FIELD_BY_NAME, is_extra_column
from contraband.data.history import schema as S
from contraband.data.history.contributions import contributions, difference, outcome_steps, summed
from contraband.data.history.liveness import Liveness
from contraband.data.history.opening import StoreError, damaged, foreign, not_created, sqlite_state
from contraband.data.history.versions import BUSY, LOCKED, counted, spans
from contraband.data.keys import ALL_KINDS, DAY0, DISTINCT, KINDS, SEP, date_of, day_numbers, first_part, prefix_range
from contraband.data.history.series import COUNTS, NEVER, SeriesTable, decode, encode, first_day, merge, merge_one

ENV = "CONTRABAND_HISTORY"
DEFAULT_LOCATION = "history.db"
#: where the data gives no record date, an outcome counts from its declaration's day plus this
DEFAULT_OUTCOME_LAG_DAYS = 7
_IN_BATCH = 10_000  # keys per IN (...) list (SQLite allows 32,766 variables)
_COPY_ROWS = 2_000  # from this many rows, PostgreSQL receives them through COPY
_FEW = 64  # a request of at most this many new declarations (and no outcomes) takes the lean path
#: an ingest of up to this many declarations is one transaction; a larger one is recorded as a
#: batch is, in short transactions (:meth:`HistoryStore.recording`)
ONE_TRANSACTION_ROWS = 2_000
_FETCH_ALL = 20_000  # distinct keys of a kind from which all its series are read at once
#: bytes of a SQLite store memory-mapped per connection (random series reads without a system
#: call per page); mapped pages count in the process's resident memory, so batch scoring,
#: which reads series in bulk, maps less (BATCH_MEMORY_MAP)
MEMORY_MAP = 2**30
BATCH_MEMORY_MAP = 2**28
_WRITE_ROWS = 50_000  # declarations per statement of a bulk write (bounds the driver's Python rows)
_MERGE_KEYS = 16_384  # series read, merged and written at once (bounds a bulk write's memory)
#: a recording's transaction ends after this many declarations, or this many pending series
#: changes (about 24 bytes each), whichever comes first
TRANSACTION_ROWS = 1_000_000
PENDING_CHANGES = 4_000_000
_ENTITY_FIELDS = ("declaration_id", "day", "hs_code", "origin_country", "export_country", "transit_countries",
                  "destination_country", "exporter_id", "consignee_id", "declarant_id")
#: what the series need of each version of a declaration: its entities, day and span
_VERSION_FIELDS = (*_ENTITY_FIELDS, "version", "recorded_day", "ingest")


_EPOCH_DAY = int((DAY0 - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1))


def _today() -> int:
    """Today's day number (UTC): the day an amendment recorded now counts from."""
    return int(time.time() // 86400) - _EPOCH_DAY


def history_url(location: str | os.PathLike | None = None) -> str:
    """A store location (a path, or a database URL) as a SQLAlchemy URL."""
    location = str(location or os.environ.get(ENV) or DEFAULT_LOCATION)
    if "://" in location:
        return location
    return f"sqlite:///{Path(location).expanduser().resolve()}"


def shown_url(url: str) -> str:
    """A store URL as shown to people (messages, logs, tracked parameters): the password masked."""
    try:
        parsed = make_url(url)
    except ArgumentError:  # not a URL SQLAlchemy reads: who and how to log in masked together
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}" if "@" in rest else url
    return parsed.render_as_string(hide_password=True) if parsed.password is not None else url


def _driver_url(url: str) -> str:
    """The URL the engine opens: a bare ``postgresql://`` (or ``postgres://``) through psycopg 3,
    the driver the product installs (SQLAlchemy would otherwise look for psycopg2)."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare):]
    return url


def open_history(location: str | os.PathLike | None = None, memory_map: int | None = None,
                 create: bool = True) -> "HistoryStore":
    """The store at ``location`` (see :func:`history_url`); ``create``: a missing or empty store
    is created (else :class:`StoreError`)."""
    return HistoryStore(history_url(location), memory_map, create)


def _no_refusals() -> pd.DataFrame:
    return pd.DataFrame({"declaration_id": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})


@dataclass
class IngestReport:
    """What a write did: declarations new to the store, amended (a new version beside the
    earlier ones), unchanged (an identical re-send), refused (``refused``: each with its reason,
    e.g. an inspected declaration re-sent with other values through scoring), and outcome
    versions recorded."""

    received: int = 0
    new: int = 0
    amended: int = 0
    unchanged: int = 0
    outcome_versions: int = 0
    seconds: float = 0.0
    refused: pd.DataFrame = field(default_factory=_no_refusals)

    def refuse(self, ids, reasons) -> None:
        self.refused = pd.concat([self.refused, pd.DataFrame({"declaration_id": list(ids), "reason": list(reasons)})],
                                 ignore_index=True) if len(self.refused) else \
            pd.DataFrame({"declaration_id": pd.Series(list(ids), dtype=object), "reason": pd.Series(list(reasons), dtype=object)})

    def add(self, other: "IngestReport") -> None:
        for name in ("received", "new", "amended", "unchanged", "outcome_versions"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if len(other.refused):
            self.refuse(other.refused["declaration_id"], other.refused["reason"])

    def summary(self) -> str:
        refused = f", {len(self.refused):,} refused" if len(self.refused) else ""
        text = (f"history: {self.received:,} declarations received ({self.new:,} new, {self.amended:,} amended, "
                f"{self.unchanged:,} unchanged{refused}), {self.outcome_versions:,} outcome versions recorded "
                f"({self.seconds:.1f} s)")
        for reason, n in self.refused["reason"].value_counts().items() if len(self.refused) else ():
            text += f"\n  {n:>8,} refused: {reason}"
        return text


@dataclass
class OutcomeReport:
    recorded: int = 0
    unchanged: int = 0  # the same result as the declaration's current version: not recorded again
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["row", "declaration_id", "reason"]))


def _engine(url: str, memory_map: int = 0):
    if not url.startswith("sqlite"):
        return create_engine(_driver_url(url), pool_pre_ping=True)
    # the most recently used connection first: a writer recording a batch in many short transactions keeps
    # reusing one connection (one page cache, one memory map) instead of cycling through the pool's
    engine = create_engine(url, connect_args={"timeout": 300, "check_same_thread": False}, pool_use_lifo=True)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):  # pragma: no cover - exercised through every test
        dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # no checkpoint inside a commit (a request would wait for it): the store's checkpointer
        # thread copies the log into the database in the background
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        # entity series are read at random: keep many pages at hand (memory-mapped, plus a page
        # cache of up to 64 MB per connection) instead of a system call per page
        cursor.execute(f"PRAGMA mmap_size={int(memory_map)}")
        cursor.execute("PRAGMA cache_size=-65536")
        # once copied into the database, the log is rewritten from its start rather than grown
        # (growing a file costs more than rewriting it); a bulk load's big log is cut to 64 MB
        cursor.execute("PRAGMA journal_size_limit=67108864")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # pragma: no cover
        # a writer takes the write lock at once, so that what it reads stays true until it commits
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


def _upsert(conn, table, columns: list[str], rows: list[tuple], keys: tuple[str, ...]) -> None:
    """Insert or replace ``rows`` (tuples in ``columns`` order) through the driver's executemany:
    the same SQL on SQLite and PostgreSQL, without per-row work in Python beyond the tuple."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    if conn.dialect.name == "postgresql" and len(rows) >= _COPY_ROWS:
        _upsert_copied(conn, table, columns, rows, keys, conflict)
        return
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) "
                         f"VALUES ({', '.join([mark] * len(columns))}) {conflict}", rows)


def _upsert_copied(conn, table, columns: list[str], rows: list[tuple], keys: tuple[str, ...], conflict: str) -> None:
    """:func:`_upsert` of many rows on PostgreSQL: COPY into a temporary table, then one
    INSERT ... SELECT ... ON CONFLICT (several times faster than a statement per row). As with a
    statement per row, the last of several rows with the same key is the one kept."""
    where = [columns.index(k) for k in keys]
    last = {tuple(row[i] for i in where): n for n, row in enumerate(rows)}
    if len(last) != len(rows):
        rows = [rows[n] for n in sorted(last.values())]
    names = ", ".join(columns)
    # integer columns arrive as double precision (an outcome's 0/1 is a float beside a missing one)
    # and are cast back by the INSERT; row hashes (bigint) need every bit and arrive as they are
    loose = ", ".join(f"CAST({c} AS double precision) AS {c}" if type(table.c[c].type) is Integer else c
                      for c in columns)
    incoming = f"incoming_{table.name}"
    driver = conn.cursor.connection if isinstance(conn, _Direct) else conn.connection.driver_connection
    with driver.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {incoming}")
        cursor.execute(f"CREATE TEMPORARY TABLE {incoming} ON COMMIT DROP AS SELECT {loose} FROM {table.name} "
                       "WITH NO DATA")
        with cursor.copy(f"COPY {incoming} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {incoming} {conflict}")
        cursor.execute(f"DROP TABLE {incoming}")


def _column_list(column: pd.Series, nan_as_none: bool = False) -> list:
    if isinstance(column.dtype, pd.CategoricalDtype):
        values = np.append(np.asarray(column.cat.categories, dtype=object), None)
        codes = column.cat.codes.to_numpy()
        return values[np.where(codes < 0, len(values) - 1, codes)].tolist()
    if column.dtype == object:
        return _none(column.to_numpy())
    return _numbers(column.to_numpy(), nan_as_none)


def _numbers(values: np.ndarray, nan_as_none: bool) -> list:
    """A number column as Python numbers for the driver; with ``nan_as_none``, NaN as None."""
    if nan_as_none and values.dtype.kind == "f":
        missing = np.isnan(values)
        if missing.any():
            out = values.astype(object)
            out[missing] = None
            return out.tolist()
    return values.tolist()


def _nan_as_none(conn) -> bool:
    """Whether a missing number must be sent as None: SQLite stores NaN as NULL, PostgreSQL would
    store it as a number (NaN), which an integer column refuses and SQL aggregates count."""
    return conn.dialect.name != "sqlite"


def _tuples(frame: pd.DataFrame, columns: list[str], constants: dict | None = None,
            nan_as_none: bool = False) -> list[tuple]:
    """Rows for the driver: Python values in ``columns`` order, missing text as None, a missing
    number as NaN (SQLite stores it as NULL) or, with ``nan_as_none``, as None."""
    constants = constants or {}
    n = len(frame)
    return list(zip(*(([constants[c]] * n) if c in constants else _column_list(frame[c], nan_as_none)
                      for c in columns)))


def _select_in(conn, sql: str, values: list) -> list:
    """Rows of ``sql IN (values)``, in batches, through the driver (no per-value compilation)."""
    rows = []
    for batch in _batches(values):
        rows += conn.exec_driver_sql(f"{sql} {_in_marks(conn, len(batch))}", _in_params(conn, batch)).fetchall()
    return rows


def _in_marks(conn, n: int) -> str:
    """``IN (?, ?, ...)`` for ``n`` values; on PostgreSQL ``= ANY(%s)``, one array parameter (the
    driver would spend longer finding thousands of placeholders in the text than the server
    spends answering)."""
    if conn.dialect.name == "postgresql":
        return "= ANY(%s)"
    return f"IN ({', '.join(['?' if conn.dialect.paramstyle == 'qmark' else '%s'] * n)})"


def _in_params(conn, values: list) -> tuple:
    """The parameters that go with :func:`_in_marks` (one list, an array, on PostgreSQL)."""
    return (list(values),) if conn.dialect.name == "postgresql" else tuple(values)


def _among(conn, column, values):
    """``column IN (values)`` in SQLAlchemy Core; on PostgreSQL ``column = ANY(array)``."""
    if conn.dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(column.type)))
    return column.in_(values)


def _batches(values, size: int = _IN_BATCH):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _none(values: np.ndarray) -> list:
    """A column as a list for the database driver, missing values as None."""
    out = np.asarray(values, dtype=object)
    missing = pd.isna(out)
    if missing.any():
        out = out.copy()
        out[missing] = None
    return out.tolist()


def _categorical(column: pd.Series) -> pd.Categorical:
    """A text column as a categorical of str (missing stays missing), built per distinct value."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        cats = [str(v) for v in column.cat.categories]
        if len(set(cats)) == len(cats):
            return pd.Categorical.from_codes(column.cat.codes.to_numpy(), categories=pd.Index(cats, dtype=object))
        column = column.astype("object")
    codes, uniques = pd.factorize(column.to_numpy(dtype=object, na_value=None), use_na_sentinel=True)
    labels = [str(v) for v in uniques]
    if len(set(labels)) != len(labels):  # e.g. 1 and "1" in one object column
        codes, uniques = pd.factorize(np.array(labels, dtype=object)[codes].tolist() if len(codes) else [])
        labels = list(uniques)
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=object))


_MISSING_HASH = np.uint64(0x9E3779B97F4A7C15)
_ONE_DECLARATION = np.array([[1, 0, 0]], dtype=np.int64)


def _column_hash(values) -> np.ndarray:
    """Per-cell hashes of one stored column: text by value (a categorical hashes its categories
    once), numbers by bits; every missing cell hashes alike."""
    if isinstance(values, pd.Categorical):
        cats = np.asarray(values.categories, dtype=object)
        hashed = pd.util.hash_array(cats, categorize=False) if len(cats) else np.zeros(0, np.uint64)
        table = np.append(hashed, _MISSING_HASH)
        return table[np.where(values.codes < 0, len(cats), values.codes)]
    values = np.asarray(values)
    if values.dtype == object:
        missing = np.array([v is None for v in values], dtype=bool)
        filled = np.where(missing, "", values).astype(object)
        return np.where(missing, _MISSING_HASH, pd.util.hash_array(filled, categorize=False))
    if values.dtype.kind == "f":
        return np.where(np.isnan(values), _MISSING_HASH, pd.util.hash_array(np.nan_to_num(values, nan=0.0)))
    return pd.util.hash_array(values.astype(np.int64))


def _row_hashes(columns: list) -> np.ndarray:
    """One hash per stored row (the same for a row whichever path recorded it)."""
    n = len(columns[0])
    hashed = {}
    if n <= _FEW:  # a few rows: every text cell in one call, every number in another (same hashes)
        arrays = [c if isinstance(c, pd.Categorical) else np.asarray(c) for c in columns]
        for kind in ("O", "f"):
            group = [i for i, c in enumerate(arrays) if not isinstance(c, pd.Categorical) and c.dtype.kind == kind]
            if group:
                joined = _column_hash(np.concatenate([arrays[i] for i in group]))
                hashed.update({i: joined[k * n:(k + 1) * n] for k, i in enumerate(group)})
    out = None
    for i, column in enumerate(columns):
        h = hashed[i] if i in hashed else _column_hash(column)
        out = h if out is None else (out ^ h) * np.uint64(1000003 + 2 * i)
    return out.view(np.int64)


_HASHED = (*S.COLUMN_FIELDS, "day", "extras")


def _extras_json(frame) -> np.ndarray:
    """The ``x_*`` extras of each row as JSON (None when there are none): a frame or Columns."""
    columns = as_columns(frame)
    extras = [c for c in columns.names if is_extra_column(c)]
    if not extras:
        return np.full(len(columns), None, dtype=object)
    cells = [columns.cells(c) for c in extras]
    out = []
    for row in zip(*cells):
        values = {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in zip(extras, row)
                  if v is not None and not (isinstance(v, float) and v != v)}
        out.append(json.dumps(values, default=float) if values else None)
    return np.array(out, dtype=object)


def _small_rows(columns: Columns) -> dict:
    """A few declarations as stored columns (plain arrays), their row hashes and entity keys."""
    if "declaration_id" not in columns or "declaration_date" not in columns:
        raise ValueError("the history records declarations with a declaration_id and a declaration_date")
    out = {"day": columns.days()}
    for name in S.COLUMN_FIELDS:
        if FIELD_BY_NAME[name].kind in ("number", "flag"):
            out[name] = columns.number(name)
        else:
            out[name] = np.array([None if v is None or (isinstance(v, float) and v != v) else str(v)
                                  for v in columns.cells(name)], dtype=object)
    if any(v is None for v in out["declaration_id"]):
        raise ValueError("every declaration needs a declaration_id to be recorded in the history")
    out["extras"] = _extras_json(columns)
    out["row_hash"] = _row_hashes([out[c] for c in _HASHED])
    out["keys"] = columns.entity_keys()
    return out


def _stored_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical declarations as stored rows: contract fields (text as categoricals), day,
    extras (JSON) and the row hash (over everything stored, so an identical re-send matches)."""
    if "declaration_id" not in frame or "declaration_date" not in frame:
        raise ValueError("the history records declarations with a declaration_id and a declaration_date")
    n = len(frame)
    out = {"day": day_numbers(frame["declaration_date"])}
    for name in S.COLUMN_FIELDS:
        kind = FIELD_BY_NAME[name].kind
        if name not in frame:
            out[name] = pd.Categorical([None] * n, categories=pd.Index([], dtype=object))
        elif kind in ("number", "flag"):
            out[name] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        elif name == "declaration_id":
            ids = frame[name].to_numpy(dtype=object, na_value=None)
            if not (pd.api.types.is_string_dtype(frame[name].dtype) and not frame[name].dtype == object):
                ids = np.array([None if v is None else str(v) for v in ids], dtype=object)
            out[name] = ids
        else:
            out[name] = _categorical(frame[name])
    rows = pd.DataFrame(out)
    if rows["declaration_id"].isna().any():
        raise ValueError("every declaration needs a declaration_id to be recorded in the history")
    rows["extras"] = pd.Series(_extras_json(frame), dtype=object, index=rows.index)
    rows["row_hash"] = _row_hashes([rows[c].array if isinstance(rows[c].dtype, pd.CategoricalDtype)
                                    else rows[c].to_numpy() for c in _HASHED])
    return rows


def _versions_from_frame(frame: pd.DataFrame, lag_days: int, source: str) -> pd.DataFrame:
    """Outcome versions carried by a declarations frame: one per inspected row.

    The record time is ``outcome_date`` where the data gives one, else the declaration date
    plus ``lag_days``."""
    if "inspected" not in frame:
        return pd.DataFrame(columns=S.OUTCOME_COLUMNS)
    inspected = pd.to_numeric(frame["inspected"], errors="coerce").fillna(0).to_numpy() == 1
    rows = frame[inspected]
    declared = pd.to_datetime(rows["declaration_date"])
    recorded = declared + pd.Timedelta(days=int(lag_days))
    if "outcome_date" in rows:
        given = pd.to_datetime(rows["outcome_date"])
        recorded = given.where(given.notna(), recorded)
    contraband = pd.to_numeric(rows["contraband"], errors="coerce") if "contraband" in rows else \
        pd.Series(np.nan, index=rows.index)
    seized = pd.to_numeric(rows["seized_value_usd"], errors="coerce") if "seized_value_usd" in rows else \
        pd.Series(np.nan, index=rows.index)
    return pd.DataFrame({
        "declaration_id": rows["declaration_id"].astype("object").map(str).to_numpy(),
        "recorded_at": recorded.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").to_numpy(dtype=object),
        "recorded_day": day_numbers(recorded),
        "inspected": 1,
        "contraband": contraband.to_numpy(dtype="float64"),
        "seized_value_usd": seized.to_numpy(dtype="float64"),
        "material": None,
        "note": None,
        "source": source,
        "ingest": None,
    })


def _new_or_changed(incoming: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """The incoming outcome versions that are not stored yet, or differ from the stored version
    with the same record time."""
    if not len(incoming):
        return incoming
    if not len(stored):
        return incoming.reset_index(drop=True)
    both = incoming.reset_index(drop=True).merge(stored, on=["declaration_id", "recorded_at"], how="left",
                                                 suffixes=("", "_stored"), indicator=True)
    differs = (both["_merge"] == "left_only").to_numpy().copy()
    for c in ("inspected", "contraband", "seized_value_usd"):
        a = pd.to_numeric(both[c], errors="coerce").to_numpy(dtype=float)
        b = pd.to_numeric(both[c + "_stored"], errors="coerce").to_numpy(dtype=float)
        differs |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
    for c in ("material", "note"):
        a = both[c].astype("object").where(both[c].notna(), None).to_numpy()
        b = both[c + "_stored"].astype("object").where(both[c + "_stored"].notna(), None).to_numpy()
        differs |= a != b
    return incoming.reset_index(drop=True)[differs]


class _Checkpointer(threading.Thread):
    """Copies SQLite's write-ahead log into the database every ``interval`` seconds, outside any
    request, and once more on close.

    Each turn first copies what it can without blocking anyone (PASSIVE), then the few pages
    written meanwhile while holding writers back for that short copy (RESTART, waiting at most
    ``hold`` seconds for the lock). The second step is what lets the next writer start the log
    from its beginning: under a steady stream of requests a PASSIVE copy alone never catches up
    with the writers, and the log grows by every request's pages (about 55 kB each) for as long
    as the stream lasts. The second step runs only when few pages (``behind``) were written
    meanwhile (16 MB): while a batch writes tens of megabytes a second, holding writers back for its copy would
    make every scoring request wait for it; the log is restarted once the batch pauses."""

    def __init__(self, path: str, interval: float = 1.0, hold: float = 0.05, behind: int = 4096):
        super().__init__(name="history-checkpointer", daemon=True)
        self.path, self.interval, self.hold, self.behind = path, interval, hold, behind
        self.stopped = threading.Event()

    def run(self) -> None:  # pragma: no cover - timing-dependent background work
        import sqlite3

        connection = sqlite3.connect(self.path, timeout=self.hold, isolation_level=None, check_same_thread=False)
        try:
            while not self.stopped.wait(self.interval):
                try:
                    busy, log, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if 0 < log and log - copied <= self.behind:  # a short copy: writers held back briefly
                        connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                except sqlite3.Error:
                    pass  # busy or gone: the next turn tries again
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


class _Writers:
    """One writer at a time across threads and processes, queued in the kernel (``flock`` on a
    file beside the database) rather than in SQLite's busy handler, which polls with sleeps of
    1, 2, 5, 10 ms and more: two service workers recording declarations would otherwise wait
    milliseconds for a lock released microseconds after they asked.

    ``flock`` is not fair: a batch that takes the lock again the moment it lets it go (one short
    transaction after another) would keep winning it, and a service worker waiting for it would
    wait for the whole batch. So a writer passes a turnstile first (a second ``flock``, held
    only while it waits for the writers' lock): whoever waits holds the turnstile, and a writer
    coming back for the lock queues behind it. Writers take turns, each waiting one transaction
    at most."""

    def __init__(self, path: str):
        self.path = path
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._turnstile: int | None = None

    @contextmanager
    def held(self):
        import fcntl

        with self._threads:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                self._turnstile = os.open(f"{self.path}-turnstile", os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._turnstile, fcntl.LOCK_EX)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            finally:
                fcntl.flock(self._turnstile, fcntl.LOCK_UN)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        for fd in (self._fd, self._turnstile):
            if fd is not None:
                os.close(fd)
        self._fd = self._turnstile = None


class _Direct:
    """A driver cursor that answers the one call the store's statement helpers make."""

    def __init__(self, cursor, dialect):
        self.cursor, self.dialect = cursor, dialect

    def exec_driver_sql(self, sql: str, params=()):
        if isinstance(params, list):
            self.cursor.executemany(sql, params)
        else:
            self.cursor.execute(sql, params)
        return self.cursor


class HistoryStore:
    """Declarations, outcome versions and per-entity series in one database."""

    #: outcomes count up to this day (exclusive) in lookups: None here; see :meth:`blind`
    outcomes_until: int | None = None
    #: seconds between two copies of SQLite's write-ahead log into the database
    checkpoint_interval: float = 1.0

    def __init__(self, url: str, memory_map: int | None = None, create: bool = True):
        """Open the store at ``url``; with ``create`` a missing or empty one is created
        (:attr:`created` then says so), else it is a :class:`StoreError`, as is a damaged,
        truncated or foreign database (:mod:`~contraband.data.history.opening`)."""
        self._url = url
        self.url = shown_url(url)  # what messages show: no password
        self.memory_map = MEMORY_MAP if memory_map is None else int(memory_map)
        self.created = False
        database = make_url(url).database if url.startswith("sqlite") else None
        where = database if database and database != ":memory:" else self.url
        state = sqlite_state(database) if database and database != ":memory:" else None
        if state in ("missing", "empty") and not create:
            raise not_created(where, state)
        self.engine = _engine(url, self.memory_map)
        self._checkpointer = None
        self._writers = _Writers(f"{database}-writer") if database and database != ":memory:" else None
        self._liveness = Liveness(self.engine, database if database and database != ":memory:" else None)
        try:
            self._open(where, create)
        except StoreError:
            self.engine.dispose()
            raise
        except DBAPIError as exc:  # the driver read something that is not a store's pages
            self.engine.dispose()
            if exc.connection_invalidated or isinstance(exc, OperationalError) and not database:
                raise StoreError(f"cannot open the history store {self.url}: "
                                 f"{str(exc.orig).splitlines()[0] if exc.orig else exc}") from None
            raise damaged(where, exc) from None

    def _open(self, where: str, create: bool) -> None:
        with self._write(checkpointer=False) as conn:  # the checkpointer starts with the first data written
            tables = set(inspect(conn).get_table_names())
            if not tables:
                if not create:
                    raise not_created(where, "no tables")
                self.created = True
            elif "meta" not in tables or "declarations" not in tables:
                raise foreign(where, list(tables))
            found = conn.execute(select(S.meta.c.value).where(S.meta.c.name == "schema_version")).scalar() \
                if "meta" in tables else None
            if tables and found is None:
                raise foreign(where, list(tables))
            if found is not None and found != S.SCHEMA_VERSION:
                if found not in S.UPGRADES:
                    raise StoreError(f"{where}: history schema version {found}, this product reads version "
                                     f"{S.SCHEMA_VERSION}; use the product that wrote it")
                self._upgrade_schema(conn, found)
            S.metadata.create_all(conn)
            for table in S.metadata.sorted_tables:  # a damaged page near a table's root shows here, not midway
                conn.execute(select(literal(1)).select_from(table).limit(1)).all()
            if found is None:
                conn.execute(S.meta.insert(), [{"name": "schema_version", "value": S.SCHEMA_VERSION},
                                               {"name": "series_version", "value": S.SERIES_VERSION}])
            elif conn.execute(select(S.meta.c.value).where(S.meta.c.name == "series_version")).scalar() \
                    != S.SERIES_VERSION:
                self._upgrade_series(conn)

    @staticmethod
    def _upgrade_schema(conn, found: str) -> None:
        """An older schema gains what it lacks, in place (its rows stay as they are: every stored
        declaration is its version 1)."""
        for table, column in S.UPGRADES[found]:
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column}")
        S.ingests_state.create(conn, checkfirst=True)
        _upsert(conn, S.meta, ["name", "value"], [("schema_version", S.SCHEMA_VERSION)], ("name",))

    def _upgrade_series(self, conn) -> None:
        """An older store counted fewer entity kinds: its series are rebuilt (once) from the
        declarations and outcomes it holds, and its keys made to compare byte by byte."""
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql('ALTER TABLE series ALTER COLUMN key TYPE text COLLATE "C"')
        self._rebuild(conn)
        _upsert(conn, S.meta, ["name", "value"], [("series_version", S.SERIES_VERSION)], ("name",))

    def __repr__(self) -> str:
        return f"HistoryStore({self.url!r})"

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.checkpoint(wait=True)
        self.engine.dispose()
        if self._writers is not None:
            self._writers.close()

    def checkpoint(self, wait: bool = False) -> None:
        """Copy the write-ahead log into the database now (SQLite; nothing to do elsewhere).
        With ``wait``, wait for readers to finish so that everything is copied and the next
        writer starts the log from its beginning (RESTART), else copy what no reader needs
        (PASSIVE)."""
        if self.engine.dialect.name == "sqlite":
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"PRAGMA wal_checkpoint({'RESTART' if wait else 'PASSIVE'})")

    def _start_checkpointer(self) -> None:
        if self._checkpointer is None and self.engine.dialect.name == "sqlite":
            self._checkpointer = _Checkpointer(self.engine.url.database, self.checkpoint_interval)
            self._checkpointer.start()

    def __getstate__(self):  # a store travels as its URL (to another process, say)
        return {"url": self._url, "memory_map": self.memory_map}

    def __setstate__(self, state):
        self.__init__(state["url"], state.get("memory_map"), create=False)

    def _one_writer(self):
        return self._writers.held() if self._writers is not None else nullcontext()

    @contextmanager
    def _write(self, checkpointer: bool = True):
        if checkpointer:
            self._start_checkpointer()
        with self._one_writer(), self.engine.connect() as conn:
            conn.execution_options(write=True)
            with conn.begin():
                if conn.dialect.name == "postgresql":  # one writer at a time, as SQLite does
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7467)")
                yield conn

    @contextmanager
    def _direct(self, write: bool):
        """A transaction on the driver's own cursor, for the few-row paths of a scoring request
        (SQLAlchemy's per-statement machinery costs more than the statements). Same SQL, same
        locking as :meth:`_write` and :meth:`reading`."""
        if write:
            self._start_checkpointer()
        with self._one_writer() if write else nullcontext():
            yield from self._direct_transaction(write)

    def _direct_transaction(self, write: bool):
        fairy = self.engine.raw_connection()
        sqlite_ = self.engine.dialect.name == "sqlite"
        snapshot = not sqlite_ and not write and self.engine.dialect.driver == "psycopg"
        try:
            if snapshot:  # psycopg begins the transaction, at this level, with the first statement
                from psycopg import IsolationLevel

                fairy.driver_connection.isolation_level = IsolationLevel.REPEATABLE_READ
            cursor = fairy.cursor()
            if sqlite_:
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            elif write:
                cursor.execute("SELECT pg_advisory_xact_lock(7467)")
            elif not snapshot:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            try:
                yield _Direct(cursor, self.engine.dialect)
            except BaseException:
                cursor.execute("ROLLBACK") if sqlite_ else fairy.rollback()
                raise
            cursor.execute("COMMIT") if sqlite_ else fairy.commit()
        finally:
            if snapshot:
                fairy.driver_connection.isolation_level = None  # the server's default again
            fairy.close()

    @contextmanager
    def reading(self):
        """One consistent snapshot for several reads. (PostgreSQL's default level would give each
        statement a snapshot of its own; a writer keeps that default, since it reads after
        taking the writers' lock and must see what the writer before it committed.)"""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    # --- writing ---------------------------------------------------------------------------
    def ingest(self, frame: pd.DataFrame | Columns, *, outcomes: bool = False, lag_days: int = DEFAULT_OUTCOME_LAG_DAYS,
               source: str = "", amend_inspected: bool = False, note: str | None = None,
               recorded_at=None) -> IngestReport:
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
        """
        t0 = time.perf_counter()
        recorded_day = _today() if recorded_at is None else _day(recorded_at)
        if not outcomes and len(frame) <= _FEW and not amend_inspected:
            report = self._record_few(as_columns(frame), source, recorded_day)
            if report is not None:
                report.seconds = time.perf_counter() - t0
                return report
        frame = frame.X if isinstance(frame, Columns) else frame
        frame = _last_of_each(frame)
        versions = _versions_from_frame(frame, lag_days, source) if outcomes else None
        if len(frame) > ONE_TRANSACTION_ROWS:
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
                self._end_ingest(conn, ingest, report.new + report.amended, report.outcome_versions)
        report.seconds = time.perf_counter() - t0
        return report

    def amend(self, frame: pd.DataFrame, by: str, reason: str, recorded_at=None) -> IngestReport:
        """An admin's amendment: declarations re-sent with other values become new versions even
        when they have a recorded inspection. ``by`` (who) and ``reason`` (why) are kept with the
        ingest (the audit of every amendment: :meth:`declaration_versions`)."""
        if not str(by).strip() or not str(reason).strip():
            raise ValueError("an amendment needs who makes it and why (by, reason)")
        return self.ingest(frame, source=f"amend:{str(by).strip()}", amend_inspected=True, note=str(reason).strip(),
                           recorded_at=recorded_at)

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

    def record_outcomes(self, records: pd.DataFrame, source: str = "") -> OutcomeReport:
        """Record inspection results: declaration_id, inspected (0/1), contraband (0/1, missing
        while the result is pending), seized_value_usd, material, note, recorded_at (default:
        now). An outcome counts for declarations from the day after it was recorded.

        A few results (an analyst's) take a lean path that holds the writers' lock for a few
        plain statements; others, and the rare cases the lean path leaves (a result dated
        before the current one, an amended declaration), the general one."""
        versions, problems = _outcome_versions(records, source)
        report = OutcomeReport()
        if not (len(versions) <= _FEW and self._record_outcomes_few(versions, problems, source, report)):
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
                    self._end_ingest(conn, ingest, 0, len(ok))
                report.recorded = len(ok)
        if problems:
            report.rejected = pd.DataFrame(
                [(i + 1, versions.at[i, "declaration_id"], reason) for i, reason in sorted(problems)],
                columns=["row", "declaration_id", "reason"])
        return report

    _RESULT = ("inspected", "contraband", "seized_value_usd", "material", "note")

    def _record_outcomes_few(self, versions: pd.DataFrame, problems: list, source: str, report: OutcomeReport) -> bool:
        """A few outcome versions, each the latest of a declaration that was never amended: the
        inspection and seizure counts they change, added to the few series of each
        declaration's entities, read and written once, on the driver's cursor (the general
        path builds frames for a handful of numbers, holding the lock ten times longer). False,
        with nothing written, when the general path is needed: a version dated before the
        declaration's current one, the same declaration twice, an amended declaration."""
        ids = list(dict.fromkeys(versions["declaration_id"]))
        if len(ids) != len(versions):
            return False
        rows = list(zip(versions["declaration_id"], versions["recorded_at"], versions["recorded_day"],
                        *(versions[c].to_numpy(dtype=object) for c in self._RESULT)))
        names = ("declaration_id", "day", "ingest", "version", *_ENTITY_FIELDS[2:])
        found = []
        with self._direct(write=True) as cur:
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
        current = current.sort_values("recorded_at").drop_duplicates("declaration_id", keep="last")
        current = current.set_index("declaration_id").reindex(versions["declaration_id"])
        a = zip(*(versions[c].to_numpy(dtype=object) for c in self._RESULT))
        b = zip(*(current[c].to_numpy(dtype=object) for c in self._RESULT))
        return np.array([_same_result(x, y) for x, y in zip(a, b)], dtype=bool)

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
        replacing = self._replacing(conn, vchunk, ingest) if pending is not None and len(vchunk) else set()
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
            chunk, ids, known, same, amend, version_now = (chunk[keep], ids[keep], known[keep], same[keep],
                                                           amend[keep], version_now[keep])
            if len(vchunk):
                vchunk = vchunk[~vchunk["declaration_id"].isin(list(reasons))]
        apart = np.isin(ids, list(replacing)) if replacing else None
        if apart is not None and apart.any():
            self._apply_apart(conn, chunk[apart], vchunk[vchunk["declaration_id"].isin(ids[apart])], report, ingest,
                              amend_inspected, recorded_day)
            keep = ~apart
            chunk, ids, known, same, amend, version_now = (chunk[keep], ids[keep], known[keep], same[keep],
                                                           amend[keep], version_now[keep])
            vchunk = vchunk[~vchunk["declaration_id"].isin(list(replacing))]
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
            return
        stored_ids = pd.Index(np.concatenate([amended, np.asarray(version_changed, dtype=object)]))
        old_decl = existing_rows if existing_rows is not None else self._stored(
            conn, affected[pd.Index(affected).isin(stored_ids)])
        old_decl = old_decl[old_decl["declaration_id"].isin(affected)]
        if len(amended):  # a new version counts from its record day, never before its predecessor's
            changed = changed.assign(recorded_day=_not_before(changed, old_decl))
        new_decl = pd.concat([old_decl, changed[list(_VERSION_FIELDS)]], ignore_index=True) if len(old_decl) \
            else changed[list(_VERSION_FIELDS)]
        old_v = old_versions[old_versions["declaration_id"].isin(affected)]
        new_v = pd.concat([old_v, new_versions_frame], ignore_index=True) if len(old_v) else new_versions_frame
        new_v = new_v.drop_duplicates(["declaration_id", "recorded_at"], keep="last")
        unknown = pd.Index(new_v["declaration_id"]).difference(pd.Index(new_decl["declaration_id"]))
        if len(unknown):
            raise ValueError(f"outcomes for declarations not in the history: {list(unknown[:5])}")

        if len(amended):
            self._supersede(conn, amended)
        cols = S.DECLARATION_COLUMNS
        # in slices: the driver's rows are Python tuples, several times the frame's size
        for start in range(0, len(changed), _WRITE_ROWS):
            part = changed.iloc[start:start + _WRITE_ROWS]
            _upsert(conn, S.declarations, cols, _tuples(part, cols, {"ingest": ingest}, _nan_as_none(conn)),
                    ("declaration_id",))
        if len(new_versions_frame):
            _upsert(conn, S.outcomes, S.OUTCOME_COLUMNS,
                    _tuples(new_versions_frame, S.OUTCOME_COLUMNS, {"ingest": ingest}, nan_as_none=_nan_as_none(conn)),
                    ("declaration_id", "recorded_at"))
        deltas = self._deltas(new_decl, new_v, old_decl, old_v)
        if pending is None:
            self._write_merged(conn, deltas)
        else:
            pending.add(deltas)

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

    def _supersede(self, conn, ids) -> None:
        """The current rows of ``ids`` kept as earlier versions (before new ones replace them)."""
        names = ", ".join(S.DECLARATION_COLUMNS)
        for batch in _batches(ids):
            conn.exec_driver_sql(f"INSERT INTO declaration_versions ({names}) SELECT {names} FROM declarations "
                                 f"WHERE declaration_id {_in_marks(conn, len(batch))}", _in_params(conn, batch))

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

    @staticmethod
    def _deltas(new_decl, new_v, old_decl, old_v) -> dict[str, pd.DataFrame]:
        """What the series gain going from the old versions and outcomes to the new ones."""
        return difference(contributions(counted(new_decl), outcome_steps(new_v), +1),
                          contributions(counted(old_decl), outcome_steps(old_v), -1))

    def _write_merged(self, conn, deltas) -> None:
        """Merge the deltas (kind -> changes, or (kind, changes) pairs made one at a time) into
        the series and write them, a kind at a time: one kind's series in memory at once, not
        every kind's."""
        for table in self._merged_series(conn, deltas):
            self._write_series(conn, table)
            del table

    def _merged_series(self, conn, deltas):
        """The new contents of every series the deltas touch, one kind (or, for many keys, one
        slice of a kind's keys in key order) at a time, for the caller to write before the next
        is read (pairs move their distinct counts, merged last)."""
        distinct_deltas: dict[str, list[pd.DataFrame]] = {}
        pairs = deltas.items() if isinstance(deltas, dict) else deltas
        for kind, d in ((kind, part) for kind, whole in pairs for part in _key_batches(whole, _MERGE_KEYS)):
            current = self._read_series(conn, kind, pd.unique(d["key"].to_numpy(dtype=object)))
            merged = merge(current, d)
            for distinct, changes in _distinct_changes(kind, current, merged):
                distinct_deltas.setdefault(distinct, []).append(changes)
            del current
            yield merged
            del merged  # before the next kind is read
        for kind, parts in distinct_deltas.items():
            d = summed(parts)
            if d is not None:
                yield merge(self._read_series(conn, kind, pd.unique(d["key"].to_numpy(dtype=object))), d)

    def _move_slice(self, conn, kind: str, deltas: pd.DataFrame) -> None:
        """One slice of a kind's changes into its series, with the distinct counts they move."""
        current = self._read_series(conn, kind, pd.unique(deltas["key"].to_numpy(dtype=object)))
        merged = merge(current, deltas)
        distinct = _distinct_changes(kind, current, merged)
        self._write_series(conn, merged)
        for name, changes in distinct:
            changes = summed([changes])
            if changes is not None:
                self._write_series(conn, merge(self._read_series(conn, name, pd.unique(
                    changes["key"].to_numpy(dtype=object))), changes))

    def _move_series(self, ingest: int, deltas, progress: dict | None = None) -> None:
        """Move the series by a recording's changes (``(kind, changes)`` pairs, kinds in
        :data:`ALL_KINDS` order), a slice of keys per short transaction (about
        :data:`LOCK_SECONDS` each), noting in the ingest how far it got (``progress``: the
        last key moved of each kind) so that a recovery goes on from there; then mark the
        ingest complete."""
        progress = dict(progress or {})
        keys = _SLICE_KEYS
        mark = None
        for kind, d in deltas:
            d = d.sort_values("key", kind="stable")
            if kind in progress:
                d = d[d["key"].to_numpy(dtype=object) > progress[kind]]
            names = d["key"].to_numpy(dtype=object)
            starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]]) if len(names) else np.zeros(0, np.int64)
            k = 0
            while k < len(starts):
                end = min(k + keys, len(starts))
                a, b = starts[k], starts[end] if end < len(starts) else len(d)
                t0 = time.perf_counter()
                with self._write() as conn:
                    mark = mark or ("?" if conn.dialect.paramstyle == "qmark" else "%s")
                    self._move_slice(conn, kind, d.iloc[a:b])
                    progress[kind] = names[b - 1]
                    conn.exec_driver_sql(f"UPDATE ingests SET progress = {mark} WHERE ingest = {mark}",
                                         (json.dumps(progress), ingest))
                keys = _adapt(keys, time.perf_counter() - t0)
                k = end
        with self._write() as conn:
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(f"UPDATE ingests SET state = NULL, progress = NULL WHERE ingest = {mark}", (ingest,))

    def _write_series(self, conn, table: SeriesTable) -> None:
        empty = np.diff(table.offsets) == 0
        blobs = table.blobs()
        order = sorted(range(len(table.keys)), key=table.keys.__getitem__)  # in key order: B-tree appends
        rows = [(table.kind, table.keys[i], blobs[i]) for i in order if not empty[i]]
        _upsert(conn, S.series, ["kind", "key", "data"], rows, ("kind", "key"))
        for batch in _batches(table.keys[empty]):
            conn.execute(delete(S.series).where(S.series.c.kind == table.kind, _among(conn, S.series.c.key, batch)))

    # --- reading ---------------------------------------------------------------------------
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
        many owners on, every series of the kind (a superset: the caller looks up its owners)."""
        if pair not in KINDS or len(KINDS[pair].parts) != 2:
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
            frame = pd.concat([frame[~frame["declaration_id"].isin(earlier["declaration_id"])],
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

    @contextmanager
    def writing(self):
        """One write transaction with the writers' lock taken at its start (for tables kept
        beside the history, such as the service's API keys)."""
        with self._write(checkpointer=False) as conn:
            yield conn

    def bump_setting(self, name: str) -> int:
        """Add one to a counting setting and return it (atomic across processes)."""
        with self._write(checkpointer=False) as conn:
            found = conn.execute(select(S.meta.c.value).where(S.meta.c.name == name)).scalar()
            value = int(found or 0) + 1
            _upsert(conn, S.meta, ["name", "value"], [(name, str(value))], ("name",))
        return value

    def setting(self, name: str) -> str | None:
        """A value the product keeps beside the data (e.g. the served model's reload count)."""
        with self.engine.connect() as conn:
            return conn.execute(select(S.meta.c.value).where(S.meta.c.name == name)).scalar()

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

    def rebuild(self) -> None:
        """Recompute every series from the stored declarations (every version) and outcomes (a
        repair). Unfinished recordings whose writer died are finished by it; while a batch run
        is recording, a rebuild is refused."""
        held = []
        try:
            with self._write() as conn:
                for ingest in sorted(self._recording_ingests(conn)):
                    lock = self._liveness.take(ingest, wait=False)
                    if lock is None:
                        raise StoreError(f"{self.url}: a batch run is recording into this store (ingest {ingest}); "
                                         "rebuild when it has ended")
                    held.append(lock)
                self._rebuild(conn)
                mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
                conn.exec_driver_sql(f"UPDATE ingests SET state = NULL, progress = NULL WHERE state = {mark}",
                                     (S.RECORDING,))
        finally:
            for lock in held:
                lock.release(remove=True)

    def _rebuild(self, conn) -> None:
        decl = self._stored(conn, conn.execute(select(S.declarations.c.declaration_id)).scalars().all())
        versions = pd.DataFrame(conn.execute(select(*S.outcomes.c)).all(), columns=S.OUTCOME_COLUMNS)
        conn.execute(delete(S.series))
        self._write_merged(conn, contributions(counted(decl), outcome_steps(versions), +1))

    def blind(self, until_day: int) -> "HistoryView":
        """This history with no outcome counted from ``until_day`` on (blind evaluation)."""
        return HistoryView(self, until_day)


def _declaration_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Stored declaration rows (contract columns, ``day``, ``extras``) as canonical declarations:
    the date from its day number, the contract's dtypes, the extras unpacked."""
    frame = frame.copy()
    frame.insert(1, "declaration_date", DAY0 + pd.to_timedelta(frame.pop("day").astype("int64"), unit="D"))
    for name in S.COLUMN_FIELDS:
        kind = FIELD_BY_NAME[name].kind
        if kind in ("number", "flag"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        else:
            frame[name] = frame[name].astype("str").where(frame[name].notna())
    extras = frame.pop("extras")
    if extras.notna().any():
        unpacked = pd.DataFrame([json.loads(e) if e else {} for e in extras], index=frame.index)
        frame = pd.concat([frame, unpacked], axis=1)
    return frame


def _outcome_versions(records: pd.DataFrame, source: str) -> tuple[pd.DataFrame, list]:
    """Inspection results as outcome versions (record time: ``recorded_at``, else now), and the
    problems of the rows that break the outcome rules, found without the store."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    frame = records.reset_index(drop=True)
    recorded = pd.to_datetime(frame["recorded_at"], utc=True).dt.tz_localize(None) \
        if "recorded_at" in frame else pd.Series(now, index=frame.index)
    recorded = recorded.where(recorded.notna(), now)
    versions = pd.DataFrame({
        "declaration_id": frame["declaration_id"].astype("object").map(str).to_numpy(),
        "recorded_at": recorded.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").to_numpy(dtype=object),
        "recorded_day": day_numbers(recorded),
        "inspected": pd.to_numeric(frame.get("inspected", 1), errors="coerce"),
        "contraband": pd.to_numeric(frame["contraband"], errors="coerce") if "contraband" in frame else np.nan,
        "seized_value_usd": pd.to_numeric(frame["seized_value_usd"], errors="coerce")
        if "seized_value_usd" in frame else np.nan,
        "material": frame["material"].astype("object") if "material" in frame else None,
        "note": frame["note"].astype("object") if "note" in frame else None,
        "source": source,
        "ingest": None,
    })
    problems = []
    bad_flag = ~versions["inspected"].isin([0, 1])
    problems += [(i, "inspected must be 0 or 1") for i in np.flatnonzero(bad_flag)]
    bad_result = versions["contraband"].notna() & ~versions["contraband"].isin([0, 1])
    problems += [(i, "contraband must be 0, 1 or missing (result pending)") for i in np.flatnonzero(bad_result)]
    uninspected = (versions["inspected"] == 0) & versions["contraband"].notna()
    problems += [(i, "a result is given for a declaration that was not inspected") for i in np.flatnonzero(uninspected)]
    return versions, problems


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


def _busy_outcomes(conn, ids, busy: set) -> set:
    """Those of ``ids`` with an outcome version written by one of the ``busy`` (unfinished) ingests."""
    if not busy or not len(ids):
        return set()
    within = ", ".join(str(int(b)) for b in sorted(busy))
    return {r[0] for r in _select_in(conn, f"SELECT DISTINCT declaration_id FROM outcomes WHERE ingest IN ({within}) "
                                           "AND declaration_id", list(pd.unique(np.asarray(ids, dtype=object))))}


def _same_result(a, b) -> bool:
    """Whether two outcome results (inspected, contraband, seized value, material, note) are the
    same, a missing value equal to a missing value."""
    return all((pd.isna(x) and pd.isna(y)) or (not pd.isna(x) and not pd.isna(y) and x == y) for x, y in zip(a, b))


def _counted_result(inspected, contraband) -> tuple[int, int]:
    """What one outcome version counts (:func:`~contraband.data.history.contributions.outcome_steps`'s
    rule): an inspection when inspected with a known result, a seizure when contraband was found."""
    known = int(inspected) == 1 and contraband is not None and not pd.isna(contraband)
    return (int(known), int(known and int(contraband) == 1))


def _negated(deltas: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {kind: d.assign(**{c: -d[c] for c in COUNTS}) for kind, d in deltas.items()}


def _in_kind_order(deltas: dict[str, pd.DataFrame]):
    """(kind, changes) pairs in :data:`ALL_KINDS` order (the order a recording moves them in)."""
    return ((k, deltas[k]) for k in ALL_KINDS if k in deltas)


def _no_outcomes() -> pd.DataFrame:
    return pd.DataFrame(columns=S.OUTCOME_COLUMNS)


def _last_of_each(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame with each declaration id once (the last row of a repeated id: as if the rows
    had come one after another)."""
    if "declaration_id" not in frame or frame["declaration_id"].is_unique:
        return frame
    return frame[~frame["declaration_id"].duplicated(keep="last").to_numpy()]


def _day(when) -> int:
    """The day number of a time (a time with a zone counts in UTC)."""
    t = pd.Timestamp(when)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return int((t.normalize() - DAY0) // pd.Timedelta(days=1))


def _key_batches(deltas: pd.DataFrame, size: int):
    """``deltas`` in parts of at most ``size`` distinct keys, in key order (writes then land in
    one region of the series' B-tree at a time); the whole frame when it has fewer keys."""
    codes, keys = pd.factorize(deltas["key"].to_numpy(dtype=object))
    if len(keys) <= size:
        yield deltas
        return
    rank = np.empty(len(keys), dtype=np.int64)
    rank[np.argsort(np.asarray(keys, dtype=object), kind="stable")] = np.arange(len(keys))
    batch = rank[codes] // size
    order = np.argsort(batch, kind="stable")
    edges = np.searchsorted(batch[order], np.arange(int(batch.max()) + 2))
    for a, b in zip(edges[:-1], edges[1:]):
        yield deltas.iloc[order[a:b]]


def _distinct_changes(kind: str, current: SeriesTable, merged: SeriesTable) -> list[tuple[str, pd.DataFrame]]:
    """The distinct-partner counts a merge of a pair kind moves: an owner gains a partner on the
    pair's new first day and loses it on the old one."""
    out = []
    for distinct, pair in DISTINCT.items():
        if pair != kind:
            continue
        before = np.full(len(merged), NEVER, dtype=np.int64)
        code = current.codes(merged.keys)
        before[code >= 0] = current.first_days()[code[code >= 0]]
        after = merged.first_days()
        moved = before != after
        if moved.any():
            owner = first_part(merged.keys[moved])
            for days, sign in ((before[moved], -1), (after[moved], +1)):
                ok = days != NEVER
                out.append((distinct, pd.DataFrame({"key": pd.Series(owner[ok], dtype=object), "day": days[ok],
                                                    "declarations": sign, "inspections": 0, "seizures": 0})))
    return out


#: a writer holds the writers' lock about this long at a time while it records a batch
LOCK_SECONDS = 0.01
_SLICE_KEYS = 256  # series keys moved in a recording's first slice (then adapted to LOCK_SECONDS)
_SLICE_ROWS = 512  # new declarations written in a recording's first slice (then adapted)
_SLICE_OTHERS = 500  # re-sent declarations (amendments, new outcome versions) per transaction


def _adapt(size: int, seconds: float, low: int = 16, high: int = 65_536) -> int:
    """The next slice's size, aiming at :data:`LOCK_SECONDS` of lock per slice (growing by half
    at most: a slice's cost follows its series' lengths as much as their number)."""
    if seconds <= 0:
        return min(high, size * 3 // 2)
    return int(min(high, max(low, min(size * 3 // 2, size * LOCK_SECONDS / seconds))))


class _PendingSeries:
    """Series changes of a transaction's chunks, held compactly until it commits."""

    def __init__(self):
        self.parts: list[dict[str, pd.DataFrame]] = []
        self.changes = 0

    def add(self, deltas: dict[str, pd.DataFrame]) -> None:
        small = {}
        for kind, d in deltas.items():
            small[kind] = d.astype({"day": np.int32, **{c: np.int32 for c in COUNTS}})
            self.changes += len(d)
        self.parts.append(small)

    def drain(self):
        """(kind, summed changes) pairs, one kind at a time in :data:`ALL_KINDS` order, each
        kind's parts let go as it is summed."""
        parts, self.parts, self.changes = self.parts, [], 0
        for kind in (k for k in ALL_KINDS if any(k in p for p in parts)):
            frame = summed([p.pop(kind) for p in parts if kind in p])
            if frame is not None:
                yield kind, frame


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
        with_versions = np.isin(ids, versions["declaration_id"].to_numpy(dtype=object)) if len(versions) \
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
        theirs = versions[versions["declaration_id"].isin(fresh["declaration_id"])] if len(versions) else versions
        theirs = theirs.drop_duplicates(["declaration_id", "recorded_at"], keep="last") if len(theirs) else theirs
        planned = contributions(fresh, outcome_steps(theirs), +1)
        cols, outcome_cols = S.DECLARATION_COLUMNS, S.OUTCOME_COLUMNS
        at = 0
        while at < len(fresh):
            part = fresh.iloc[at:at + self._slice]
            vpart = theirs[theirs["declaration_id"].isin(part["declaration_id"])] if len(theirs) else theirs
            t = time.perf_counter()
            with self._transaction() as conn:
                present = self.store._current(conn, part["declaration_id"].to_numpy(dtype=object))[0]
                if present.any():  # recorded by another writer since the chunk was read
                    clash = part[present]
                    clash_v = vpart[vpart["declaration_id"].isin(clash["declaration_id"])]
                    pending.add(_negated(contributions(clash, outcome_steps(clash_v), +1)))
                    before = (report.new + report.amended, report.outcome_versions)
                    self.store._apply(conn, clash, clash_v, report, ingest=self._ingest, pending=pending,
                                      amend_inspected=self.amend_inspected, recorded_day=self.recorded_day)
                    self.store._count_ingest(conn, self._ingest, report.new + report.amended - before[0],
                                             report.outcome_versions - before[1])
                    part, vpart = part[~present], vpart[~vpart["declaration_id"].isin(clash["declaration_id"])]
                nan_as_none = _nan_as_none(conn)
                for start in range(0, len(part), _WRITE_ROWS):
                    _upsert(conn, S.declarations, cols, _tuples(part.iloc[start:start + _WRITE_ROWS], cols,
                                                                {"ingest": self._ingest}, nan_as_none), ("declaration_id",))
                if len(vpart):
                    _upsert(conn, S.outcomes, outcome_cols, _tuples(vpart, outcome_cols, {"ingest": self._ingest},
                                                                    nan_as_none), ("declaration_id", "recorded_at"))
                self.store._count_ingest(conn, self._ingest, len(part), len(vpart))
            report.new += len(part)
            report.outcome_versions += len(vpart)
            at += self._slice
            self._slice = _adapt(self._slice, time.perf_counter() - t)
        pending.add(planned)

    def _write_others(self, rows: pd.DataFrame, versions: pd.DataFrame, report: IngestReport,
                      pending: "_PendingSeries") -> None:
        """Stored declarations re-sent with other values, or with outcome versions: the general
        path, a slice per short transaction."""
        at = 0
        while at < len(rows):
            part = rows.iloc[at:at + _SLICE_OTHERS]
            vpart = versions[versions["declaration_id"].isin(part["declaration_id"])] if len(versions) else versions
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


__all__ = ["HistoryStore", "HistoryView", "IngestReport", "OutcomeReport", "Recording", "StoreError", "open_history",
           "history_url", "shown_url", "DEFAULT_OUTCOME_LAG_DAYS", "ENV", "DEFAULT_LOCATION"]
