"""Issue 7: several worker processes and gunicorn workers on one database, and crash safety.

Workers and the server run as real subprocesses (`lanes worker`, `lanes serve`) against the
test's database; the test process only sets up data and checks the outcome.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from adapters import sandbox
from runner.models import AuditEvent, Job, ProcessInstance, db
from runner.services import instances, system_principal
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401
from tests.helpers import ROOT, upload

FIXTURES = Path(__file__).parent / "fixtures" / "jobs"


def deploy(client, name):
    response = upload(client, {name: (FIXTURES / name).read_bytes()})
    assert response.status_code == 201, response.get_json()


def lanes(database_url, tmp_path, *args, **env):
    """Start `lanes ARGS` as a subprocess on the test database."""
    environment = {**os.environ, "DATABASE_URL": database_url, "LANES_INSTANCE_DIR": str(tmp_path / "instance"),
                   **{k: str(v) for k, v in env.items()}}
    return subprocess.Popen([sys.executable, "-m", "runner.cli", *args], cwd=ROOT, env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(*processes):
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def count(app, query):
    with app.app_context():
        value = db.session.scalar(query)
        db.session.rollback()
        return value


@pytest.mark.postgresql_only
def test_two_workers_drain_1000_jobs_without_duplicates_or_losses(app, client, database_url, tmp_path):
    deploy(client, "queue_message.bpmn")
    with app.app_context():
        system = system_principal("test")
        for n in range(1000):
            instances.start_instance("queue_message", "NORTH", {"n": n}, actor=system)
    assert count(app, select(func.count(Job.id))) == 1000

    workers = [lanes(database_url, tmp_path, "worker", "--poll", "0.1") for _ in range(2)]
    try:
        wait_for(lambda: count(app, select(func.count(Job.id))) == 0, 180, "the jobs to drain")
    finally:
        stop(*workers)

    with app.app_context():
        effects = sandbox.effects(db.engine, "notify", "send_queue_message")
        completed = db.session.scalar(select(func.count(ProcessInstance.id))
                                      .where(ProcessInstance.state == "completed"))
        actors = set(db.session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "job.completed")))
    assert len(effects) == 1000, "no duplicate and no missing adapter effect"
    assert len({e["idempotency_key"] for e in effects}) == 1000
    assert sorted(e["inputs"]["payload"]["n"] for e in effects) == list(range(1000))
    assert completed == 1000, "no lost job"
    assert len(actors) == 2, f"both workers took jobs: {actors}"


class SlowNotify:
    """A notify system on 127.0.0.1: the first call hangs for a while; effects are kept per idempotency key."""

    def __init__(self, first_call_seconds: float):
        self.calls, self.effects = [], {}
        self.first_call_arrived = threading.Event()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                key = self.headers["Idempotency-Key"]
                self.rfile.read(int(self.headers["Content-Length"]))
                service.calls.append(key)
                if len(service.calls) == 1:
                    service.first_call_arrived.set()
                    time.sleep(first_call_seconds)
                effect = service.effects.setdefault(key, {"message_id": f"MSG-{len(service.effects) + 1}"})
                body = json.dumps(effect).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the caller died meanwhile

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_killed_worker_loses_its_lock_and_another_finishes_the_job_once(app, client, database_url, tmp_path):
    deploy(client, "queue_message.bpmn")
    notify = SlowNotify(first_call_seconds=4)
    env = {"LANES_ADAPTER_NOTIFY_URL": notify.url, "LANES_ADAPTER_NOTIFY_TOKEN": "t0ken",
           "LANES_JOB_LOCK_SECONDS": 2}
    with app.app_context():
        instance, _ = instances.start_instance("queue_message", "NORTH", {"n": 7}, actor=system_principal("test"))
        instance_id = instance.id

    first = lanes(database_url, tmp_path, "worker", "--poll", "0.1", **env)
    second = None
    try:
        assert notify.first_call_arrived.wait(30), "the first worker never called the adapter"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = lanes(database_url, tmp_path, "worker", "--poll", "0.1", **env)
        wait_for(lambda: count(app, select(ProcessInstance.state).where(ProcessInstance.id == instance_id))
                 == "completed", 60, "the second worker to finish the job")
    finally:
        stop(*[p for p in (first, second) if p is not None])
        notify.server.shutdown()

    assert len(notify.calls) == 2 and len(set(notify.calls)) == 1, "the retry carried the same idempotency key"
    assert len(notify.effects) == 1, "exactly one effect"
    with app.app_context():
        actor = db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "job.completed",
                                                                 AuditEvent.instance_id == instance_id))
    assert f":{second.pid}:" in actor, "the second worker completed it"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_50_concurrent_completions_against_gunicorn_lose_nothing(app, client, database_url, tmp_path):
    deploy(client, "board_vote.bpmn")
    started = client.post("/api/v1/process-instances", json={
        "processKey": "board_vote", "site": "NORTH", "variables": {"voters": 50}}).get_json()
    tasks = client.get(f"/api/v1/tasks?instanceId={started['id']}&limit=100").get_json()
    assert len(tasks) == 50

    port = free_port()
    server = lanes(database_url, tmp_path, "serve", "--port", str(port), "--workers", "4")
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = bearer("admin")
    statuses: list[int] = []
    try:
        wait_for(lambda: _answers(f"{base}/process-instances/{started['id']}", headers), 30, "gunicorn")

        def complete(index_and_task):
            index, task = index_and_task
            session = requests.Session()
            for _ in range(100):
                response = session.post(f"{base}/tasks/{task['id']}/complete", headers=headers,
                                        json={"variables": {f"vote_{index}": "yes"}}, timeout=30)
                statuses.append(response.status_code)
                if response.status_code != 409:
                    return response.status_code
                time.sleep(random.uniform(0.01, 0.05))
            return 409

        with ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(complete, enumerate(tasks)))
    finally:
        stop(server)

    assert not [s for s in statuses if s >= 500], "no 500s"
    assert results == [200] * 50, "every completion got through, possibly after a clean 409"
    assert set(statuses) <= {200, 409}
    final = client.get(f"/api/v1/process-instances/{started['id']}").get_json()
    assert (final["state"], final["endEvent"]) == ("completed", "counted")
    history = client.get(f"/api/v1/process-instances/{started['id']}/audit").get_json()
    completed = [e for e in history if e["action"] == "task.completed"]
    assert len(completed) == 50 and len({e["taskId"] for e in completed}) == 50, "no lost update"


def _answers(url, headers) -> bool:
    try:
        return requests.get(url, headers=headers, timeout=2).status_code == 200
    except requests.RequestException:
        return False
