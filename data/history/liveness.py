"""Whether the writer of an unfinished recording is still at work.

A batch records its declarations in many short transactions and moves their series after
them (:class:`~contraband.data.history.recording.Recording`); until it has, its ingest is marked
``recording``. The writer holds a lock of its own for that ingest, taken in the transaction that
creates the ingest row and kept until the series have moved:

- SQLite: an exclusive ``flock`` of a file beside the database (``history.db-recording-<n>``);
- PostgreSQL: a session advisory lock on a connection the recording keeps open.

The operating system (or the server) drops the lock when the writer's process dies, ``kill -9``
included. A recovery takes the same lock without waiting: when it gets it, nobody is at work on
that ingest, and the recovery, still holding the lock, finishes it.
"""

from __future__ import annotations

import os

_LOCK_CLASS = 7468  # the advisory lock space of recordings (the writers' lock is 7467)


class Held:
    """A recording's lock, released by :meth:`release`."""

    def __init__(self, fd: int | None = None, path: str | None = None, connection=None, ingest: int = 0):
        self.fd, self.path, self.connection, self.ingest = fd, path, connection, ingest

    def release(self, remove: bool = False) -> None:
        import fcntl

        if self.fd is not None:
            if remove and self.path:  # the lock file goes with the finished recording
                try:
                    os.unlink(self.path)
                except OSError:
                    pass
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        if self.connection is not None:
            try:
                self.connection.exec_driver_sql(f"SELECT pg_advisory_unlock({_LOCK_CLASS}, {int(self.ingest)})")
                self.connection.commit()
            finally:
                self.connection.close()
                self.connection = None


class Liveness:
    """The recording locks of one store (``database``: the SQLite file, or None on a server)."""

    def __init__(self, engine, database: str | None):
        self.engine, self.database = engine, database

    def _path(self, ingest: int) -> str:
        return f"{self.database}-recording-{int(ingest)}"

    def take(self, ingest: int, wait: bool) -> Held | None:
        """The lock of ``ingest``: held (waiting for it with ``wait``), or None when another
        writer holds it (without ``wait``)."""
        if self.database is not None:
            import fcntl

            path = self._path(ingest)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return None
            return Held(fd=fd, path=path)
        connection = self.engine.connect()
        call = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
        got = connection.exec_driver_sql(f"SELECT {call}({_LOCK_CLASS}, {int(ingest)})").scalar()
        connection.commit()
        if wait or got:
            return Held(connection=connection, ingest=ingest)
        connection.close()
        return None
