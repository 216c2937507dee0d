"""A real PostgreSQL server for tests, from the Debian ``postgresql`` package's binaries.

:func:`start` initialises a cluster in a new folder under /tmp, starts it on a free port of
127.0.0.1 (password login over TCP, its socket in the same folder, no fsync: nothing in it
outlives the session) and returns a :class:`Server`, which hands out one new database per store
(:meth:`Server.database`) and is stopped and removed by :meth:`Server.stop`. PostgreSQL refuses
to run as root: under uid 0 the server runs as the ``postgres`` system user, which owns the folder.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from itertools import count
from pathlib import Path

from service_helpers import free_port

MISSING = "PostgreSQL server binaries not found: apt-get install postgresql"
USER, PASSWORD = "contraband", "s3cret-for-tests"
SETTINGS = {  # a throwaway server: speed over durability
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}


def binaries() -> Path | None:
    """The newest installed server's bin folder (``/usr/lib/postgresql/<version>/bin``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(re.findall(r"/(\d+)/", p)[0]))
    return Path(found[-1]).parent if found else None


class Server:
    """A running server: ``url`` of its maintenance database, one new database per :meth:`database`."""

    def __init__(self, root: Path, bindir: Path, port: int, as_user: list[str]):
        self.root, self.bindir, self.port, self._as_user = root, bindir, port, as_user
        self._numbers = count(1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)

    def database(self, name: str = "history", template: str | None = None, icu_locale: str | None = None) -> str:
        """The URL of a new database (named after ``name``, numbered), empty or a copy of
        ``template``; with ``icu_locale``, its text sorts by that language's rules (as a server
        set up for people does) instead of byte by byte."""
        database = f"{re.sub(r'[^a-z0-9_]', '_', name.lower())[:40]}_{next(self._numbers)}"
        sql = f'CREATE DATABASE "{database}"' + (f' TEMPLATE "{template}"' if template else "")
        if icu_locale:
            sql += f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}' LOCALE 'C'"
        self._admin(sql)
        return self.url(database)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        subprocess.run([*self._as_user, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.root / "data"),
                        "-m", "immediate", "-w"], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> Server:
    """Initialise and start a server; raises ``FileNotFoundError(MISSING)`` without the binaries."""
    bindir = binaries()
    if bindir is None:
        raise FileNotFoundError(MISSING)
    root = Path(tempfile.mkdtemp(prefix="contraband-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.getuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    (root / "password").write_text(PASSWORD)
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(root / "data"), "-U", USER,
                        f"--pwfile={root / 'password'}", "--auth-host=scram-sha-256", "--auth-local=trust",
                        "-E", "UTF8", "--locale=C", "--no-sync"], check=True, capture_output=True, text=True)
        for attempt in range(5):  # another process may take the free port first
            port = free_port()
            settings = {**SETTINGS, "port": str(port), "unix_socket_directories": f"'{root}'"}
            with open(root / "data" / "postgresql.auto.conf", "a") as conf:
                conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
            done = subprocess.run([*as_user, str(bindir / "pg_ctl"), "start", "-D", str(root / "data"), "-l",
                                   str(root / "server.log"), "-w", "-t", "60"], check=False, capture_output=True, text=True)
            if done.returncode == 0:
                return Server(root, bindir, port, as_user)
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start: {done.stderr}\n{(root / 'server.log').read_text()}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
