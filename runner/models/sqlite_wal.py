"""SQLite connection settings, and a background thread that does the WAL checkpoints commits would do.

With SQLite's default wal_autocheckpoint (1000 pages) one commit in about 60 copied the WAL back into
the database file and fsynced it, 5-15 ms inside that commit's request: two thirds of the mean commit
time. Here one daemon thread per process looks at every registered database file each TICK_SECONDS
and, if its -wal file changed since the last look, runs wal_checkpoint(PASSIVE) on a short-lived
connection of its own; sqlite3 releases the GIL meanwhile, so the copying and the fsyncs overlap with
request threads. Commits keep an autocheckpoint, raised to BACKSTOP_PAGES, for when the thread is not
running or falls behind, so the WAL stays bounded either way. Measured on starts through the app's
session at ~520/s: commit mean 0.25 -> 0.12 ms, p99 6 -> 0.4 ms, WAL at most 16 MB.

Restarts: SQLite reuses the WAL from its start only when a write transaction begins while every frame
is backfilled. A pass takes 1-10 ms (two fsyncs), and from a few hundred commits a second on one lands
during nearly every pass: the WAL then grows until a commit's backstop checkpoint copies what the
thread has not and restarts it. So that this remainder is small, a database whose WAL is past half the
backstop is looked at again after CATCH_UP_SECONDS instead of a tick (it halved the time commits spent
checkpointing). A RESTART checkpoint from the thread was measured and rejected: it holds the checkpoint
lock while it waits for the writer lock, which stops the commits' backstop checkpoints (the WAL reached
150 MB under a busy writer), and it blocks writers, whose busy handler sleeps in steps of 1, 2, 5 ms,
no shorter than the backstop takes.

JOURNAL_SIZE_LIMIT truncates a WAL that grew past two backstops (a long read transaction pinned it) at
its next restart; truncating to the backstop at every restart would cost that commit several ms.

Fork (gunicorn's master forks its workers while its thread runs): a child forked while a pass had its
connection open inherited SQLite's locks and mutexes as that connection held them, with no thread to
release them (it could never checkpoint, or hung). So a pass holds a lock from connect to close that
a fork takes first (os.register_at_fork): a fork waits for a running pass to end, a few ms.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

log = logging.getLogger(__name__)

TICK_SECONDS = 0.1
CATCH_UP_SECONDS = 0.01
BACKSTOP_PAGES = 4000  # 16 MB of 4 KB pages
JOURNAL_SIZE_LIMIT = 32 * 1024 * 1024


def set_pragmas(dbapi_connection, backstop: bool) -> None:
    """WAL with synchronous=NORMAL (commits do not fsync; checkpoints do), enforced foreign keys, a wait
    for a busy writer, an oversized WAL truncated; with `backstop`, commits checkpoint only when the
    background thread has fallen behind."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
    if backstop:
        cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.close()


def database_path(url: URL) -> str | None:
    """The file of an SQLite URL; None for an in-memory database or a `file:` URI (which may be one)."""
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return os.path.abspath(path)


def configure(engine: Engine, checkpointer: bool = True) -> None:
    """Pragmas on every connection of an SQLite engine; its file, if any, checkpointed in the background
    from the engine's first connection on (the one that creates the file: until then there is none)."""
    path = database_path(engine.url) if checkpointer else None
    engine_ref = weakref.ref(engine)

    def connected(dbapi_connection, _record):
        set_pragmas(dbapi_connection, backstop=path is not None)
        if path is not None:
            _checkpointer.register(engine_ref(), path)

    event.listen(engine, "connect", connected)


class Checkpointer:
    """The process's checkpointing thread and the database files it looks at, one entry per live engine.

    Engines register with each new connection, which starts the thread if none is running: none yet in
    this process (threads do not survive fork; a forked child must not use its parent's connections, so
    it opens its own), or it died. Nothing is held open between passes; an engine's entry goes when it is
    garbage-collected or its file is found gone (until it connects again).

    Locks: `_lock` guards the registry. `_pass_lock` is held by the thread from connect to close only,
    never with `_lock`, and is the one lock a fork takes: so a fork waits at most for one pass, which
    itself waits for nothing (timeout=0), whatever other threads hold."""

    def __init__(self):
        self._fresh_locks()
        self._engines: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
        self._seen: dict[str, tuple[int, int]] = {}  # path -> the -wal file's (mtime, size) when last done
        self._errors: dict[str, str] = {}  # path -> the last error logged, so a lasting one is logged once
        self._failures: set[str] = set()  # errors of the loop outside a pass, each logged once
        self._thread: threading.Thread | None = None
        os.register_at_fork(before=lambda: self._pass_lock.acquire(),
                            after_in_parent=lambda: self._pass_lock.release(),
                            after_in_child=self._fresh_locks)

    def _fresh_locks(self) -> None:  # also in a forked child: its copies are held by threads it has not
        self._lock = threading.Lock()
        self._pass_lock = threading.Lock()

    def register(self, engine: Engine, path: str) -> None:
        with self._lock:
            self._engines[engine] = path
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
                self._thread.start()

    def paths(self) -> set[str]:
        with self._lock:
            return set(self._engines.values())

    def _run(self) -> None:
        wait = TICK_SECONDS
        while True:
            time.sleep(wait)
            wait = TICK_SECONDS
            try:
                paths = self.paths()
                for gone in (self._seen.keys() | self._errors.keys()) - paths:  # engines garbage-collected
                    self._forget(gone)
                for path in paths:
                    if self._look(path):
                        wait = CATCH_UP_SECONDS
            except Exception as exc:  # e.g. the registry changed by a garbage collection while copied
                if repr(exc) not in self._failures:
                    self._failures.add(repr(exc))
                    log.exception("background checkpointer (carries on)")

    def _look(self, path: str) -> bool:
        """One pass over `path` if its WAL changed; True if the WAL is past half the backstop (not restarting)."""
        try:
            wal = os.stat(f"{path}-wal")
            signature = (wal.st_mtime_ns, wal.st_size)
            if self._seen.get(path) == signature:
                return False
            with self._pass_lock:  # no fork while the connection is open
                connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=0)
                try:
                    busy, frames, _done = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                finally:
                    connection.close()
        except Exception as exc:  # never let one database stop the thread
            if not os.path.exists(path):  # deleted, and not created again (mode=rw): no more looks
                self._drop(path)
            elif isinstance(exc, FileNotFoundError):
                pass  # no -wal: no connection since the last one closed, which checkpointed
            elif getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                log.debug("background checkpoint of %s: %s", path, exc)
            elif self._errors.get(path) != str(exc):
                self._errors[path] = str(exc)
                log.warning("background checkpoint of %s failed: %s", path, exc)
            return False
        if not busy:  # busy: a commit's own checkpoint was running; look again next tick
            self._seen[path] = signature
        self._errors.pop(path, None)
        return frames > BACKSTOP_PAGES // 2

    def _drop(self, path: str) -> None:
        with self._lock:
            for engine in [engine for engine, known in self._engines.items() if known == path]:
                del self._engines[engine]
        self._forget(path)

    def _forget(self, path: str) -> None:
        """What the thread noted of `path` (its last WAL seen, its last error)."""
        self._seen.pop(path, None)
        self._errors.pop(path, None)


_checkpointer = Checkpointer()
