"""The worker rides out a database that goes away: its connections are cut, it waits, reconnects, and
goes on with the jobs (`lanes worker` used to die on the first OperationalError)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters import build_registry
from runner.models import db
from runner.worker import Worker
from tests.accounts_fixtures import client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload

FIXTURES = Path(__file__).parent / "fixtures" / "jobs"


def state_of(client, instance_id):
    return client.get(f"/api/v1/process-instances/{instance_id}").get_json()["state"]


def start_payout(client, key):
    response = client.post("/api/v1/process-instances", json={
        "processKey": "refund_payout", "site": "NORTH", "businessKey": key,
        "variables": {"patient_account": f"PA-{key}", "amount": 10}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.mark.postgresql_only
def test_the_worker_survives_its_connections_being_cut(client, app, postgres_cluster, database_url, caplog):
    assert upload(client, {"refund_payout.bpmn": (FIXTURES / "refund_payout.bpmn").read_bytes()}).status_code == 201
    with app.app_context():
        registry = build_registry(db.engine, env={})
    worker = Worker(app, name="outage-worker", poll_seconds=0.05, registry=registry)
    worker.outage_seconds = 0.2
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    try:
        first = start_payout(client, "before")
        wait_until(lambda: state_of(client, first) == "completed")

        # what a restart does: every open connection of this database is ended, and for a while no new
        # one is accepted (the worker's next claim fails), then the database is back
        import psycopg
        database = database_url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_cluster.url("postgres", driver="postgresql"), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            cut = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchone()[0]
            assert cut >= 1
            wait_until(lambda: "the database is not answering" in caplog.text)
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')

        second = start_payout(client, "after")   # the API reconnects (pool_pre_ping)
        wait_until(lambda: state_of(client, second) == "completed")
        assert thread.is_alive()
    finally:
        worker.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()
