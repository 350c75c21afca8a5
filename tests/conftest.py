"""Shared fixtures: a migrated database per test and a Flask test client over real HTTP semantics.

The suite runs on one database at a time, chosen by LANES_TEST_DB (`make test` runs it twice):
  sqlite      (default) a fresh SQLite file per test, migrated with Alembic;
  postgresql  a throwaway PostgreSQL cluster for the session (tests/postgres.py), migrated once into
              the template database `lanes_template`; each test gets `CREATE DATABASE ... TEMPLATE
              lanes_template`, dropped after it.
Markers: `postgresql_only` and `sqlite_only` skip a test on the other database.
"""
from __future__ import annotations

import itertools
import os
import time

import pytest
from flask import has_app_context
from flask.testing import FlaskClient

from runner.app import create_app
from runner.models import db, upgrade_database

from .helpers import PROCESSES, folder_files, upload

DATABASES = ("sqlite", "postgresql")
TEMPLATE = "lanes_template"


def selected_database() -> str:
    kind = os.environ.get("LANES_TEST_DB", "sqlite").strip().lower() or "sqlite"
    aliases = {"postgres": "postgresql", "pg": "postgresql"}
    kind = aliases.get(kind, kind)
    if kind not in DATABASES:
        raise pytest.UsageError(f"LANES_TEST_DB={kind!r}: expected one of {', '.join(DATABASES)}")
    return kind




def pytest_configure(config):
    config.addinivalue_line("markers", "postgresql_only: runs only when LANES_TEST_DB=postgresql")
    config.addinivalue_line("markers", "sqlite_only: runs only when LANES_TEST_DB=sqlite")
    selected_database()


def pytest_report_header(config):
    return f"database: {selected_database()} (LANES_TEST_DB)"


def pytest_collection_modifyitems(config, items):
    kind = selected_database()
    for item in items:
        for other in DATABASES:
            if other != kind and item.get_closest_marker(f"{other}_only"):
                item.add_marker(pytest.mark.skip(reason=f"{other} only (LANES_TEST_DB={kind})"))


@pytest.fixture(scope="session")
def postgres_cluster():
    """The session's PostgreSQL cluster with a migrated template database; stopped at session end."""
    from .postgres import Cluster

    began = time.perf_counter()
    cluster = Cluster().start()
    try:
        upgrade_database(cluster.create_database(TEMPLATE))
        cluster.mark_template(TEMPLATE)
    except BaseException:
        cluster.stop()
        raise
    cluster.startup_seconds = time.perf_counter() - began
    yield cluster
    cluster.stop()


_database_numbers = itertools.count(1)


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """An empty, migrated database of the kind LANES_TEST_DB names, for this test only."""
    if selected_database() == "postgresql":
        cluster = request.getfixturevalue("postgres_cluster")
        name = f"test_{os.getpid()}_{next(_database_numbers)}"
        url = cluster.create_database(name, template=TEMPLATE)
        yield url
        cluster.drop_database(name)
        return
    url = f"sqlite:///{tmp_path / 'lanes.db'}"
    upgrade_database(url)
    yield url


class RequestContextClient(FlaskClient):
    """A test client whose every request runs in an app context (and database session) of its own, as
    each request of a running server does. Flask lets a request join an app context that is already
    pushed, so a request sent inside `with app.app_context():` would share the test's session with the
    requests before it, and an object one of them read could answer a later one from the session's
    identity map instead of the database (a stale read that depends on when the garbage collector ran)."""

    def open(self, *args, **kwargs):
        if has_app_context():
            raise RuntimeError("a test request was sent inside an app context: it would share that "
                               "context's database session; send it outside `with app.app_context()`")
        return super().open(*args, **kwargs)


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LANES_INSTANCE_DIR", str(tmp_path / "instance"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    app.test_client_class = RequestContextClient
    yield app
    with app.app_context():  # a context of its own: its session reads what the test committed
        assert offers_out_of_step() == [], "task_candidates.task_open disagrees with its task's state"
        db.session.remove()
        db.engine.dispose()


def offers_out_of_step() -> list[tuple[str, str, bool]]:
    """(task id, state, task_open) of each candidate row whose task_open does not say whether its task is
    open: checked after every test that had an app, so every way the suite ends a task keeps them in step."""
    from sqlalchemy import select

    from runner.models import HumanTask, TaskCandidate
    rows = db.session.execute(select(HumanTask.id, HumanTask.state, TaskCandidate.task_open)
                              .join(TaskCandidate, TaskCandidate.task_id == HumanTask.id)).all()
    return [tuple(row) for row in rows if row.task_open != (row.state == "open")]


@pytest.fixture
def engine(app):
    """The app's database engine; no app context stays pushed (requests get their own session)."""
    with app.app_context():
        return db.engine


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def deploy_refund(client):
    def deploy(files: dict[str, bytes] | None = None):
        response = upload(client, files or folder_files(PROCESSES / "patient_refund"))
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()
    return deploy
