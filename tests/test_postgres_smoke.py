"""In the PostgreSQL run (LANES_TEST_DB=postgresql): the app really runs on PostgreSQL, each test
gets its own migrated database, and the throwaway cluster cleans up after itself."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from adapters import build_registry
from runner.models import db
from runner.worker import Worker

from .accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from .postgres import Cluster

pytestmark = pytest.mark.postgresql_only

ALICE = bearer("alice")


def test_the_app_runs_on_postgresql_15_through_psycopg_3(app, database_url):
    assert database_url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    with app.app_context():
        assert db.engine.dialect.name == "postgresql"
        assert db.engine.dialect.driver == "psycopg"
        version = db.session.execute(text("SHOW server_version_num")).scalar_one()
        assert int(version) >= 150000
        assert db.session.execute(text("SELECT current_database()")).scalar_one() == database_url.rsplit("/", 1)[1]


def test_deploy_start_claim_complete_over_http_lands_in_postgresql(app, client, deploy_refund):
    deployed = deploy_refund()
    assert deployed["created"] is True
    started = client.post("/api/v1/process-instances", headers={**ALICE, "Idempotency-Key": "pg-1"}, json={
        "processKey": "patient_refund", "site": "NORTH", "businessKey": "PA-ü-100",
        "variables": {"amount": 1800, "reason": "overpayment — 2 visits", "patient_account": "PA-100"}})
    assert started.status_code == 201, started.get_json()
    instance = started.get_json()
    with app.app_context():  # the eligibility check in billing runs as a job first
        Worker(app, name="smoke", registry=build_registry(db.engine, env={})).drain()
    [task] = client.get(f"/api/v1/tasks?instanceId={instance['id']}").get_json()
    assert task["candidateGroups"] == ["north_finance"] and task["dueAt"]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=ALICE, json={}).status_code == 200
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=ALICE,
                       json={"variables": {"decision": "reject", "comment": "duplicate"}})
    assert done.status_code == 200, done.get_json()

    with app.app_context():
        row = db.session.execute(text(
            "SELECT state, end_event, business_key, variables->>'reason' AS reason "
            "FROM process_instances WHERE id = :id"),
            {"id": instance["id"]}).one()
        assert (row.state, row.end_event, row.business_key) == ("completed", "refund_rejected", "PA-ü-100")
        assert row.reason == "overpayment — 2 visits"
        actions = db.session.execute(text(
            "SELECT action FROM audit_events WHERE instance_id = :id ORDER BY id"), {"id": instance["id"]}).scalars()
        assert list(actions) == ["instance.started", "job.completed", "task.claimed", "task.completed",
                                 "instance.completed"]
    final = client.get(f"/api/v1/process-instances/{instance['id']}").get_json()
    assert final["state"] == "completed" and final["variables"]["reason"] == "overpayment — 2 visits"


def test_each_test_gets_an_empty_migrated_database_of_its_own(database_url, postgres_cluster):
    engine = create_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"deployments", "process_instances", "human_tasks", "audit_events", "alembic_version"} <= tables
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM deployments")).scalar_one() == 0
            assert conn.execute(text("SELECT count(*) FROM process_instances")).scalar_one() == 0
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    with postgres_cluster.connect() as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'test%'")]
    assert names == [database_url.rsplit("/", 1)[1]]  # the previous tests' databases are gone


def test_the_session_cluster_is_loopback_only_and_throwaway(postgres_cluster):
    with postgres_cluster.connect() as conn:
        settings = dict(conn.execute("SELECT name, setting FROM pg_settings WHERE name IN "
                                     "('listen_addresses', 'fsync', 'unix_socket_directories', 'TimeZone')"))
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["fsync"] == "off"
    assert Path(settings["unix_socket_directories"]) == postgres_cluster.folder
    assert settings["TimeZone"] != "UTC"  # naive-UTC handling must not lean on the server's zone


def test_a_cluster_starts_and_stop_leaves_nothing_behind():
    cluster = Cluster().start()
    folder, port = cluster.folder, cluster.port
    try:
        pid = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        with cluster.connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        cluster.stop()
    assert not folder.exists()
    assert cluster.folder is None and not cluster.running
    assert not _running(pid)
    cluster.stop()  # a second stop is harmless
    assert port


def _running(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status
