"""The SQLite connection pragmas and the background WAL checkpointer (runner/models/sqlite_wal.py).

Each test makes its own SQLite files, whatever LANES_TEST_DB says. Whether frames were copied into the
database is read from the WAL-index header in the -shm file (https://sqlite.org/walformat.html), since
a checkpoint run by the test to find out would itself copy them."""
from __future__ import annotations

import gc
import logging
import os
import signal
import sqlite3
import struct
import threading
import time
import traceback
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from runner.app import create_app
from runner.models import db, sqlite_wal
from runner.models.sqlite_wal import BACKSTOP_PAGES, JOURNAL_SIZE_LIMIT, _checkpointer, database_path

THREAD = "sqlite-checkpointer"


@pytest.fixture
def make_app(tmp_path, monkeypatch):
    """create_app on a new SQLite file under tmp_path; engines disposed at the end."""
    monkeypatch.setenv("LANES_INSTANCE_DIR", str(tmp_path / "instance"))
    apps = []

    def make(name: str = "lanes.db", **config):
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / name}", **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def commit_rows(app, n: int) -> None:
    """n commits of one 3 KB row each, through the app's session."""
    with app.app_context():
        db.session.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)"))
        db.session.commit()
        for _ in range(n):
            db.session.execute(text("INSERT INTO t (body) VALUES (:body)"), {"body": "x" * 3000})
            db.session.commit()


def wal_index(path: Path) -> tuple[int, int]:
    """(frames in the WAL, frames of them copied into the database file)."""
    header = Path(f"{path}-shm").read_bytes()[:100]
    return struct.unpack_from("=I", header, 16)[0], struct.unpack_from("=I", header, 96)[0]


def wait_until(condition, seconds: float = 1.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def threads() -> set[str]:
    return {t.name for t in threading.enumerate()}


def in_child(check) -> int:
    """The exit code of a forked child that exits with 0 if check() is true; a hung child is ended by
    SIGALRM after 10 s, or by the parent after 15 s."""
    child = os.fork()
    if child == 0:
        status = 2
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(10)
            status = 0 if check() else 1
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    deadline = time.monotonic() + 15
    while not (done := os.waitpid(child, os.WNOHANG))[0]:
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
        time.sleep(0.02)
    return os.waitstatus_to_exitcode(done[1])


def pragma(app, name: str):
    with app.app_context():
        return db.session.execute(text(f"PRAGMA {name}")).scalar()


def test_pragmas_are_set_on_the_apps_connections(make_app):
    app = make_app()
    assert pragma(app, "journal_mode") == "wal"
    assert pragma(app, "foreign_keys") == 1
    assert pragma(app, "busy_timeout") == 10000
    assert pragma(app, "synchronous") == 1  # NORMAL
    assert pragma(app, "wal_autocheckpoint") == BACKSTOP_PAGES
    assert pragma(app, "journal_size_limit") == JOURNAL_SIZE_LIMIT


def test_switched_off_commits_checkpoint_as_sqlite_does_by_default(make_app, tmp_path):
    app = make_app(SQLITE_CHECKPOINTER=False)
    commit_rows(app, 20)
    assert pragma(app, "wal_autocheckpoint") == 1000
    assert str(tmp_path / "lanes.db") not in _checkpointer.paths()
    time.sleep(0.3)
    frames, copied = wal_index(tmp_path / "lanes.db")
    assert frames > 20 and copied == 0


def test_the_thread_copies_committed_frames_and_the_next_write_restarts_the_wal(make_app, tmp_path):
    path = tmp_path / "lanes.db"
    app = make_app()
    commit_rows(app, 20)
    frames, _ = wal_index(path)
    assert frames > 20  # far below the backstop: no commit checkpointed
    assert wait_until(lambda: wal_index(path) == (frames, frames)), wal_index(path)

    def restarts() -> bool:  # a write while every frame is copied (and no pass is reading) starts over
        before, copied = wal_index(path)
        if copied != before:
            return False
        commit_rows(app, 1)
        return wal_index(path)[0] < before

    assert wait_until(restarts)  # the WAL is reused from its start, not appended to


def test_a_deleted_database_is_dropped_and_not_created_again(make_app, tmp_path):
    path = tmp_path / "lanes.db"
    app = make_app()
    commit_rows(app, 5)
    assert str(path) in _checkpointer.paths()
    for suffix in ("", "-wal", "-shm"):  # as a test's temp folder goes, while the app still has a connection
        os.remove(f"{path}{suffix}")
    assert wait_until(lambda: str(path) not in _checkpointer.paths())
    time.sleep(0.25)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instance"]


def test_a_deleted_database_whose_wal_is_left_is_not_created_again(make_app, tmp_path):
    """Only the connection finds the file gone here (mode=rw); one that created it would copy the WAL in."""
    path = tmp_path / "lanes.db"
    app = make_app()
    commit_rows(app, 5)
    os.remove(path)
    commit_rows(app, 5)  # the app's connection writes on to the -wal, which changes: the thread looks
    assert wait_until(lambda: str(path) not in _checkpointer.paths())
    time.sleep(0.25)
    assert not path.exists()
    assert Path(f"{path}-wal").exists()


def test_a_garbage_collected_engine_is_dropped(tmp_path, monkeypatch):
    monkeypatch.setenv("LANES_INSTANCE_DIR", str(tmp_path / "instance"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'gone.db'}"})
    assert str(tmp_path / "gone.db") not in _checkpointer.paths()  # no file before the first connection
    pragma(app, "journal_mode")
    assert str(tmp_path / "gone.db") in _checkpointer.paths()
    del app
    for _ in range(3):  # the app's engine is freed by the second collection
        gc.collect()
    assert str(tmp_path / "gone.db") not in _checkpointer.paths()


def test_only_database_files_are_registered():
    assert database_path(make_url("sqlite://")) is None
    assert database_path(make_url("sqlite:///:memory:")) is None
    assert database_path(make_url("sqlite:///file:shared?mode=memory&cache=shared&uri=true")) is None
    assert database_path(make_url("sqlite:///instance/lanes.db")) == os.path.abspath("instance/lanes.db")


def test_a_failing_checkpoint_is_logged_once_and_the_thread_carries_on(make_app, tmp_path, caplog):
    broken = tmp_path / "broken.db"
    broken.mkdir()  # a database that cannot be opened, at every tick
    Path(f"{broken}-wal").write_text("changed")

    class Holder:  # stands in for an engine: the entry lives as long as it does
        pass

    holder = Holder()
    _checkpointer.register(holder, str(broken))
    caplog.set_level(logging.WARNING, logger="runner.models.sqlite_wal")
    path = tmp_path / "lanes.db"
    app = make_app()
    commit_rows(app, 5)
    assert wait_until(lambda: wal_index(path)[1] == wal_index(path)[0])
    time.sleep(0.3)  # a few more ticks on the broken file
    failures = [r for r in caplog.records if str(broken) in r.getMessage()]
    assert len(failures) == 1, failures
    assert THREAD in threads()
    del holder


def test_an_error_outside_a_pass_is_logged_once_and_the_thread_carries_on(make_app, tmp_path, caplog,
                                                                           monkeypatch):
    path = tmp_path / "lanes.db"
    app = make_app()
    commit_rows(app, 1)  # registered, and the pooled connection is reused: no new one restarts the thread
    calls = []
    paths = _checkpointer.paths

    def failing_paths():  # as a WeakKeyDictionary copied while a collection in another thread drops an entry
        calls.append(None)
        if len(calls) <= 3:
            raise RuntimeError("dictionary changed size during iteration")
        return paths()

    caplog.set_level(logging.ERROR, logger="runner.models.sqlite_wal")
    monkeypatch.setattr(_checkpointer, "paths", failing_paths)
    assert wait_until(lambda: len(calls) > 3, 5)
    commit_rows(app, 10)
    frames = wal_index(path)[0]
    assert wait_until(lambda: wal_index(path)[1] >= frames, 5)
    assert [r.exc_info[0] for r in caplog.records if r.name == sqlite_wal.__name__] == [RuntimeError]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the SystemExit
def test_a_thread_that_ended_is_started_again_by_the_next_connection(make_app, tmp_path, monkeypatch):
    commit_rows(make_app("first.db"), 1)
    assert THREAD in threads()

    def stop():
        raise SystemExit  # not an Exception: the thread ends

    with monkeypatch.context() as patch:
        patch.setattr(_checkpointer, "paths", stop)
        assert wait_until(lambda: THREAD not in threads(), 5)
    path = tmp_path / "lanes.db"
    app = make_app()
    commit_rows(app, 10)
    assert THREAD in threads()
    frames = wal_index(path)[0]
    assert wait_until(lambda: wal_index(path)[1] >= frames, 5)


def test_a_forked_child_checkpoints_in_a_thread_of_its_own(make_app, tmp_path):
    """The child's file is registered by the child only, so no thread of the parent's does its work; and
    another thread of the parent's holds the registry lock at the fork, which the child must not wait for."""
    commit_rows(make_app(), 1)
    assert THREAD in threads()
    held, release = threading.Event(), threading.Event()

    def hold():
        with _checkpointer._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    path = tmp_path / "child.db"

    def child() -> bool:  # threads do not survive fork: the child's first connection starts one
        before = THREAD in threads()
        commit_rows(make_app("child.db"), 10)
        frames = wal_index(path)[0]
        return not before and THREAD in threads() and wait_until(lambda: wal_index(path)[1] >= frames, 5)

    try:
        assert held.wait(5)
        assert in_child(child) == 0
    finally:
        release.set()
        holder.join()


def test_a_fork_waits_for_a_running_pass_to_close_its_connection(make_app, monkeypatch):
    """A child forked while a pass had its connection open inherited SQLite's locks and mutexes as that
    connection held them, with no thread to release them: it could never checkpoint, or hung."""
    in_pass, closed = threading.Event(), threading.Event()

    class Connection(sqlite3.Connection):
        def close(self):
            super().close()
            closed.set()

    class Sqlite3:  # sqlite3 as the thread sees it: a pass keeps its connection open for 0.3 s
        def __getattr__(self, name):
            return getattr(sqlite3, name)

        def connect(self, *args, **kwargs):
            connection = sqlite3.connect(*args, factory=Connection, **kwargs)
            in_pass.set()
            time.sleep(0.3)
            return connection

    monkeypatch.setattr(sqlite_wal, "sqlite3", Sqlite3())
    commit_rows(make_app(), 5)
    assert in_pass.wait(5)
    assert in_child(closed.is_set) == 0  # forked only once the pass had closed its connection
