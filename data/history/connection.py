"""Connections to the history store's database: where it is (URLs, the password hidden), the
engine and its pragmas, opening (create, check, upgrade), the writers' turn (a turnstile, a
``flock`` on SQLite, an advisory lock on PostgreSQL), readers' snapshots, the checkpointer that
copies SQLite's write-ahead log, and the statement helpers both dialects speak."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

from contraband.data.history import schema as S
from contraband.data.history.liveness import Liveness
from contraband.data.history.opening import (
    StoreError,
    damaged,
    foreign,
    not_created,
    sqlite_state,
)
from sqlalchemy import (
    ARRAY,
    Integer,
    any_,
    create_engine,
    event,
    inspect,
    literal,
    make_url,
    select,
)
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

ENV = "CONTRABAND_HISTORY"
DEFAULT_LOCATION = "history.db"
_IN_BATCH = 10_000  # keys per IN (...) list (SQLite allows 32,766 variables)
_COPY_ROWS = 2_000  # from this many rows, PostgreSQL receives them through COPY
#: bytes of a SQLite store memory-mapped per connection (random series reads without a system
#: call per page); mapped pages count in the process's resident memory, so batch scoring,
#: which reads series in bulk, maps less (BATCH_MEMORY_MAP)
MEMORY_MAP = 2**30
BATCH_MEMORY_MAP = 2**28


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


class Connections:
    """A store's database: opening it, its writers' turn and its readers' snapshots."""

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

    def release_connections(self) -> None:
        """Close the connections this process holds open (SQLite's memory map of the database
        file goes with them: up to its ``mmap_size`` of resident pages); the next read or write
        opens one again. A batch does this before it forks its scoring processes."""
        self.engine.dispose()

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

    @contextmanager
    def writing(self):
        """One write transaction with the writers' lock taken at its start (for tables kept
        beside the history, such as the service's API keys)."""
        with self._write(checkpointer=False) as conn:
            yield conn
