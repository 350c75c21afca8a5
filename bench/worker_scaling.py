"""Issue 7: jobs/s drained by 1, 2 and 4 `lanes worker` processes sharing one PostgreSQL database.

A throwaway PostgreSQL cluster (tests/postgres.py: initdb + pg_ctl on loopback) holds a fresh
database per round. K instances of diagrams/service_call.bpmn (one sandbox service call each) are
started with their jobs parked in the future; the N workers start and settle; then every job is
made due at once and the clock runs until none is left. Every instance must end, with exactly one
adapter effect each. Without PostgreSQL on the machine the figure is skipped with a note.
"""
from __future__ import annotations

import sys
import time
from datetime import timedelta

from .common import BenchEnv, LanesProcess, report, scaled
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


def _effects(env: BenchEnv) -> int:
    from adapters import sandbox
    from runner.models import db
    with env.app.app_context():
        return len({e["idempotency_key"] for e in sandbox.effects(db.engine, "notify", "send_email")})


def drain_seconds(cluster, workers: int, k: int) -> float:
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
            if _effects(env) != k:
                raise RuntimeError(f"{_effects(env)} adapter effects for {k} jobs")
            return seconds
    finally:
        cluster.drop_database(database)


def run(results: dict) -> None:
    try:
        from tests.postgres import Cluster, PostgresUnavailable
        cluster = Cluster().start()
    except (ImportError, PostgresUnavailable) as exc:
        print(f"worker_scaling skipped: no PostgreSQL here ({exc})", file=sys.stderr)
        return
    try:
        k = scaled(2000, 300)
        for workers in WORKERS:
            seconds = drain_seconds(cluster, workers, k)
            report("worker_scaling", workers=workers, jobs_per_s=k / seconds, k=k, database="postgresql",
                   adapter="sandbox")
    finally:
        cluster.stop()
