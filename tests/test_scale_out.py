"""Issue 7: several worker processes and gunicorn workers on one database, and crash safety.

Workers and the server run as real subprocesses (`lanes worker`, `lanes serve`) against the
test's database; the test process only sets up data and checks the outcome.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select, text

from adapters import sandbox
from runner.models import AuditEvent, Job, ProcessInstance, db
from runner.services import instances, system_principal
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401
from tests.helpers import ROOT, upload

FIXTURES = Path(__file__).parent / "fixtures" / "jobs"


def deploy(client, name):
    response = upload(client, {name: (FIXTURES / name).read_bytes()})
    assert response.status_code == 201, response.get_json()


_process_numbers = itertools.count(1)


def lanes(database_url, tmp_path, *args, **env):
    """Start `lanes ARGS` as a subprocess on the test database; its log (stderr) goes to `process.log`."""
    environment = {**os.environ, "DATABASE_URL": database_url, "LANES_INSTANCE_DIR": str(tmp_path / "instance"),
                   **{k: str(v) for k, v in env.items()}}
    log = tmp_path / f"{args[0]}-{next(_process_numbers)}.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "runner.cli", *args], cwd=ROOT, env=environment,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    process.log = log
    return process


JOB_OUTCOME = re.compile(r" lanes\.worker INFO job (\d+): (\S+)$", re.M)


def job_outcomes(*workers) -> Counter:
    """(job id, outcome) -> how often, from the `lanes worker` logs."""
    return Counter(m.groups() for w in workers for m in JOB_OUTCOME.finditer(w.log.read_text(errors="replace")))


def outcome_counts(outcomes: Counter) -> Counter:
    totals = Counter()
    for (_, outcome), times in outcomes.items():
        totals[outcome] += times
    return totals


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


SLOW_CLAIMS = """
CREATE FUNCTION test_slow_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.003); RETURN NEW; END $$;
CREATE TRIGGER test_slow_claim BEFORE UPDATE ON jobs FOR EACH ROW
  WHEN (NEW.locked_by IS NOT NULL AND NEW.locked_by IS DISTINCT FROM OLD.locked_by)
  EXECUTE FUNCTION test_slow_claim();
"""


@pytest.mark.postgresql_only
def test_two_workers_drain_1000_jobs_without_duplicates_or_losses(app, client, database_url, tmp_path):
    deploy(client, "queue_message.bpmn")
    with app.app_context():
        system = system_principal("test")
        for n in range(1000):
            instances.start_instance("queue_message", "NORTH", {"n": n}, actor=system)
        # Each claim of a batch of ten holds its transaction ~30 ms (3 ms per locked row), as on a busy
        # database: the two workers' claims overlap often, so a claim that does not lock its rows
        # (no FOR UPDATE SKIP LOCKED) hands jobs to both workers and the checks below see it.
        # Without this trigger a claim takes ~2 ms, the workers rarely collide, and a run with the
        # lock removed passed. (With the lock removed and the trigger: 70-140 'lost' runs per test.)
        db.session.execute(text(SLOW_CLAIMS))
        db.session.commit()
    assert count(app, select(func.count(Job.id))) == 1000

    workers = [lanes(database_url, tmp_path, "worker", "--poll", "0.1") for _ in range(2)]
    try:
        wait_for(lambda: count(app, select(func.count(Job.id))) == 0, 180, "the jobs to drain")
    finally:
        stop(*workers)

    with app.app_context():
        effects = sandbox.effects(db.engine, "notify", "send_queue_message")
        replays = sandbox.replays(db.engine, "notify")
        completed = db.session.scalar(select(func.count(ProcessInstance.id))
                                      .where(ProcessInstance.state == "completed"))
        completions = db.session.execute(select(AuditEvent.instance_id, AuditEvent.actor)
                                         .where(AuditEvent.action == "job.completed")).all()
    # The sandbox's unique (operation, key) makes a second *effect* impossible, so counting effects
    # cannot see two workers running one job; counting calls can: a repeated key is a replay.
    assert replays == [], f"{len(replays)} adapter calls repeated a key: a job ran twice"
    assert len(effects) == 1000, "no missing adapter effect"
    assert len({e["idempotency_key"] for e in effects}) == 1000
    assert sorted(e["inputs"]["payload"]["n"] for e in effects) == list(range(1000))
    assert completed == 1000, "no lost job"
    per_instance = Counter(instance_id for instance_id, _ in completions)
    assert len(per_instance) == 1000 and set(per_instance.values()) == {1}, "each job completed exactly once"
    actors = {actor for _, actor in completions}
    assert len(actors) == 2, f"both workers took jobs: {actors}"
    outcomes = job_outcomes(*workers)
    assert outcome_counts(outcomes) == {"completed": 1000}, \
        f"every claim ran to completion, none was lost to another worker: {outcome_counts(outcomes)}"
    assert len(outcomes) == 1000 and set(outcomes.values()) == {1}, "each job was claimed and run once"


class SlowNotify:
    """A notify system on 127.0.0.1: the first call hangs for a while; effects are kept per idempotency key.

    A call with a key it has already received is a replay, counted in `replays` as it arrives (the
    killed worker's call may still be hanging); every call with a key gets that key's one effect."""

    def __init__(self, first_call_seconds: float):
        self.calls, self.effects, self.replays = [], {}, Counter()
        self.first_call_arrived = threading.Event()
        lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                key = self.headers["Idempotency-Key"]
                self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    if key in service.calls:
                        service.replays[key] += 1
                    service.calls.append(key)
                    first = len(service.calls) == 1
                if first:
                    service.first_call_arrived.set()
                    time.sleep(first_call_seconds)
                with lock:
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
        # the first worker claims all four in one batch, calls the first (which hangs) and is killed:
        # its locks on the other three expire too, though it never called them
        instance_ids = [instances.start_instance("queue_message", "NORTH", {"n": n},
                                                 actor=system_principal("test"))[0].id for n in (7, 8, 9, 10)]

    first = lanes(database_url, tmp_path, "worker", "--poll", "0.1", **env)
    second = None
    try:
        assert notify.first_call_arrived.wait(30), "the first worker never called the adapter"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = lanes(database_url, tmp_path, "worker", "--poll", "0.1", **env)
        wait_for(lambda: count(app, select(func.count(ProcessInstance.id)).where(
            ProcessInstance.id.in_(instance_ids), ProcessInstance.state == "completed")) == 4,
            60, "the second worker to finish the jobs")
    finally:
        stop(*[p for p in (first, second) if p is not None])
        notify.server.shutdown()

    killed_key = notify.calls[0]
    assert killed_key.startswith(f"{instance_ids[0]}:enqueue:"), "the first job was the one cut off"
    calls = Counter(notify.calls)
    assert calls[killed_key] == 2, "the retry carried the same idempotency key"
    assert len(notify.effects) == 4 and set(notify.effects) == set(calls), "exactly one effect per job"
    assert notify.replays == {killed_key: 1}, "one replay, of the killed job's call; none for the others"
    assert sorted(calls.values()) == [1, 1, 1, 2], "the jobs the killed worker never called are called once"
    with app.app_context():
        completions = db.session.execute(select(AuditEvent.instance_id, AuditEvent.actor)
                                         .where(AuditEvent.action == "job.completed")).all()
        variables = {i: db.session.get(ProcessInstance, i).variables for i in instance_ids}
    assert sorted(i for i, _ in completions) == sorted(instance_ids), "each job completed exactly once"
    assert all(f":{second.pid}:" in actor for _, actor in completions), "the second worker completed them"
    assert outcome_counts(job_outcomes(second)) == {"completed": 4}
    assert variables[instance_ids[0]]["message_id"] == notify.effects[killed_key]["message_id"], \
        "the replayed call got the first call's answer"


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
