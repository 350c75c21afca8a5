"""Issue 7: jobs/s drained by 1, 2 and 4 `lanes worker` processes sharing one PostgreSQL database.

A throwaway PostgreSQL cluster (tests/postgres.py: initdb + pg_ctl on loopback) holds a fresh
database per round. K instances of diagrams/service_call.bpmn (one sandbox service call each) are
started with their jobs parked in the future; the N workers start and settle; then every job is
made due at once and the clock runs until none is left. Every instance must end, with exactly one
adapter effect and one job.completed each, and no adapter call may repeat a key: the sandbox's
unique (operation, key) makes a second effect impossible, so a job run twice shows only as a
replay (adapters/sandbox.py `replays`), reported as `replays=` (0 is the only right answer).
Without PostgreSQL on the machine the figure is skipped with a note.
"""
from __future__ import annotations

import time
from datetime import timedelta

from .common import BenchEnv, LanesProcess, postgres_cluster, report, scaled
from .timers_jobs import JOB_DIAGRAMS, _running, _start

WORKERS = (1, 2, 4)


def _park_jobs(env: BenchEnv, later: bool) -> None:
    from sqlalchemy import update

    from runner.models import Job, db, utcnow
    with env.app.app_context():
        due = utcnow() + (timedelta(days=1) if later else timedelta(0))
        db.session.execute(update(Job).values(due_at=due))
        db.session.commit()
        db.session.remove()


def _calls(env: BenchEnv) -> dict:
    """Effects (distinct keys), replays (calls that repeated a key) and job completions per instance."""
    from collections import Counter

    from sqlalchemy import select

    from adapters import sandbox
    from runner.models import AuditEvent, db
    with env.app.app_context():
        effects = sandbox.effects(db.engine, "notify", "send_email")
        replays = sandbox.replays(db.engine, "notify")
        completions = Counter(db.session.scalars(select(AuditEvent.instance_id)
                                                 .where(AuditEvent.action == "job.completed")))
        db.session.remove()
    return {"effects": len(effects), "keys": len({e["idempotency_key"] for e in effects}), "replays": len(replays),
            "completed_instances": len(completions), "completed_twice": sum(1 for n in completions.values() if n > 1)}


def drain_seconds(cluster, workers: int, k: int) -> tuple[float, dict]:
    database = f"bench_workers_{workers}"
    url = cluster.create_database(database)
    try:
        with BenchEnv(f"workers{workers}", JOB_DIAGRAMS, url=url) as env:
            _start(env, "bench_service", k, "W")
            _park_jobs(env, later=True)
            processes = [LanesProcess(env, "worker", "--poll", "0.2") for _ in range(workers)]
            try:
                time.sleep(3)  # imports done, every worker idle and polling
                _park_jobs(env, later=False)
                began = time.perf_counter()
                deadline = time.monotonic() + 300
                while _running(env, "bench_service"):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{workers} worker(s) did not drain {k} jobs in 5 minutes")
                    time.sleep(0.05)
                seconds = time.perf_counter() - began
            finally:
                for process in processes:
                    process.stop()
            return seconds, _calls(env)
    finally:
        cluster.drop_database(database)


def run(results: dict) -> None:
    with postgres_cluster("worker_scaling") as cluster:
        if cluster is None:
            return
        k = scaled(2000, 300)
        for workers in WORKERS:
            seconds, calls = drain_seconds(cluster, workers, k)
            report("worker_scaling", workers=workers, jobs_per_s=k / seconds, k=k, database="postgresql",
                   adapter="sandbox", replays=calls["replays"], completed_twice=calls["completed_twice"])
            expected = {"effects": k, "keys": k, "replays": 0, "completed_instances": k, "completed_twice": 0}
            if calls != expected:  # the figure above is printed, but it does not count
                raise RuntimeError(f"{workers} worker(s), {k} jobs: {calls}, expected {expected}")
