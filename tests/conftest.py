"""Shared fixtures: a migrated database per test and a Flask test client over real HTTP semantics."""
from __future__ import annotations

import pytest

from runner.app import create_app
from runner.models import db, upgrade_database

from .helpers import PROCESSES, folder_files, upload

@pytest.fixture
def database_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'lanes.db'}"
    upgrade_database(url)
    return url


@pytest.fixture
def app(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LANES_INSTANCE_DIR", str(tmp_path / "instance"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


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
