"""Figure 6: timer lateness with a running `lanes worker`, and job throughput of one worker.

Timers (diagrams/timer_wait.bpmn: start -> PT3S intermediate timer -> end): one, then two `lanes
worker` subprocesses run on the bench database; N instances are started through the service layer in
this process, as fast as it goes (so their timers fall due within about a second); each firing writes
its lateness (fired - due) into the audit row 'timer.fired' (late_seconds), which is what is reported.
Every instance must end.

Timer job cost: K timer instances are started and waited for until all are due, then one in-process
Worker fires them: timer jobs per second and SQL statements per job (claims included).

Jobs (diagrams/service_call.bpmn: start -> service task notify.send_email -> end, sandbox
adapter): K instances are started first (K jobs due), then one in-process Worker drains them;
the figure is K / drain time.
"""
from __future__ import annotations

import statistics
import time

from .common import BenchEnv, LanesProcess, report, scaled

TIMER_DIAGRAMS = ("timer_wait.bpmn",)
JOB_DIAGRAMS = ("service_call.bpmn",)
TARGET_LATE_S = 1.0
TIMER_SECONDS = 3


def _start(env: BenchEnv, process: str, n: int, prefix: str) -> None:
    from runner.models import db
    from runner.services import instances

    with env.app.app_context():
        actor = env.principal()
        db.session.remove()
    for i in range(n):
        with env.app.app_context():
            instances.start_instance(process, "NORTH", {"item": i}, actor=actor, business_key=f"{prefix}-{i}")


def _running(env: BenchEnv, process: str) -> int:
    from sqlalchemy import func, select

    from runner.models import ProcessInstance, db
    with env.app.app_context():
        count = db.session.scalar(select(func.count()).where(ProcessInstance.process_key == process,
                                                             ProcessInstance.state == "running"))
        db.session.remove()
    return count


def timer_lateness(n: int, workers: int = 1) -> tuple[list[float], float]:
    """Lateness of each timer firing with `workers` worker processes, and how long starting the n instances took."""
    from contextlib import ExitStack

    from sqlalchemy import select

    from runner.models import AuditEvent, db

    with BenchEnv("timers", TIMER_DIAGRAMS) as env, ExitStack() as stack:
        running = [stack.enter_context(LanesProcess(env, "worker", "--poll", "0.5", log_name=f"worker-{i + 1}"))
                   for i in range(workers)]
        worker = running[0]
        began = time.perf_counter()
        _start(env, "bench_timer", n, "TM")
        start_seconds = time.perf_counter() - began
        deadline = time.monotonic() + TIMER_SECONDS + 60
        while _running(env, "bench_timer"):
            for worker in running:
                if worker.process.poll() is not None:
                    raise RuntimeError(f"lanes worker exited with {worker.process.returncode}; see {worker.log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timers still running after a minute; see {worker.log.name}")
            time.sleep(0.2)
        with env.app.app_context():
            details = db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "timer.fired")).all()
        if len(details) != n:
            raise RuntimeError(f"{len(details)} timers fired for {n} instances")
        return [d["late_seconds"] for d in details], start_seconds


def _drain(env: BenchEnv, process: str) -> tuple[float, int]:
    """Seconds one in-process Worker takes to drain the due jobs (every adapter on its sandbox), and the
    SQL statements it ran; every instance of `process` must have ended."""
    from sqlalchemy import event

    from adapters import build_registry

    from runner.models import db
    from runner.worker import Worker

    with env.app.app_context():
        engine = db.engine
        registry = build_registry(engine, env={})  # every system on its sandbox
        db.session.remove()
    worker = Worker(env.app, name="bench-worker", registry=registry)
    statements = []

    def count(*_):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        began = time.perf_counter()
        worker.drain()
        seconds = time.perf_counter() - began
    finally:
        event.remove(engine, "before_cursor_execute", count)
    left = _running(env, process)
    if left:
        raise RuntimeError(f"{left} instances still running after the worker drained")
    return seconds, len(statements)


def job_throughput(k: int) -> float:
    """Jobs per second one in-process Worker drains, K service-task jobs queued up front."""
    from runner.models import Job, db

    with BenchEnv("jobs", JOB_DIAGRAMS) as env:
        _start(env, "bench_service", k, "JB")
        with env.app.app_context():
            queued = db.session.query(Job).filter(Job.kind == "service").count()
            db.session.remove()
        if queued != k:
            raise RuntimeError(f"{queued} jobs queued for {k} instances")
        seconds, _ = _drain(env, "bench_service")
        return k / seconds


def timer_job_cost(k: int) -> tuple[float, float]:
    """Timer jobs per second one in-process Worker fires, K timers all due when it starts (what one
    worker's lateness in a burst comes from), and the SQL statements per job (claims included)."""
    from sqlalchemy import func, select

    from runner.models import Job, db, utcnow

    with BenchEnv("timer-jobs", TIMER_DIAGRAMS) as env:
        _start(env, "bench_timer", k, "TJ")
        with env.app.app_context():
            last_due = db.session.scalar(select(func.max(Job.due_at)))
            db.session.remove()
        time.sleep(max(0.0, (last_due - utcnow()).total_seconds()) + 0.05)
        seconds, statements = _drain(env, "bench_timer")
        return k / seconds, statements / k


def run(results: dict) -> None:
    n = scaled(300, 60)
    # n timers due within about a second: one worker fired about 120 a second here (8 ms a job, 14 SQL
    # statements), so with one the figure was its throughput; at about 250 a second (7 statements) it
    # keeps up, and with two (one a core) it is the lateness itself
    for workers in (1, 2):
        late, start_seconds = timer_lateness(n, workers)
        report("timer_lateness", workers=workers, mean_s=statistics.mean(late), p50_s=statistics.median(late),
               max_s=max(late), n=n, timer=f"PT{TIMER_SECONDS}S", started_in_s=start_seconds,
               target=f"<{TARGET_LATE_S}s")
    k = scaled(1000, 300)
    per_s, statements = timer_job_cost(scaled(500, 100))
    report("timer_job_cost", jobs_per_s=per_s, statements_per_job=statements, k=scaled(500, 100), workers=1)
    report("job_throughput", jobs_per_s=job_throughput(k), k=k, workers=1, adapter="sandbox")
