"""Metrics over a history (no target): each GET /api/v1/metrics/... report and the dashboard page.

Setup bulk-inserts the rows that 100,000 instances of bench_one_task leave behind, started over the
last 90 days at ten sites (NORTH a fifth of them): 75,000 completed (each with its user task completed,
four in five of them with a due date, a stay in one canonical stage, a finished job's audit row, one in
twenty with a retry scheduled, one in a hundred with an incident, a fifth of those still open) and
25,000 running with their task open. Timed through the Flask test client, p50 over the requests, for an
analyst (every site) and for the bench staff member (NORTH and SOUTH, about a quarter of the rows), with
the default window (the last 30 days). Every answer is checked against the rows inserted.
"""
from __future__ import annotations

import json
import random
import re
import time
import uuid
from datetime import timedelta

from .common import SEED, BenchEnv, percentile, report, scaled
from .task_list import SITES, timed_gets

DIAGRAMS = ("one_user_task.bpmn",)
PROCESS = "bench_one_task"
REPORTS = ("summary", "queue-aging", "cycle-times", "sla", "incidents", "throughput", "breakdown")
BATCH = 5000
DAY_MINUTES = 24 * 60


def populate(env: BenchEnv, n: int) -> dict:
    """`n` instances' rows (see the module's docstring); returns what the reports should count."""
    from sqlalchemy import select

    from runner.models import (AuditEvent, HumanTask, Incident, ProcessDefinition, ProcessInstance, StageInterval,
                               db, utcnow)

    rng = random.Random(SEED)
    now = utcnow()
    window_start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=29)
    expected = {"open": 0, "completed_in_window": 0, "with_due_in_window": 0, "incidents_in_window": 0}
    with env.app.app_context():
        definition_id = db.session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.process_key == PROCESS))
        state = json.dumps({"format": "bench-placeholder"})  # never loaded: metrics do not read it
        for start in range(0, n, BATCH):
            rows = {ProcessInstance: [], HumanTask: [], StageInterval: [], AuditEvent: [], Incident: []}
            for i in range(start, min(n, start + BATCH)):
                site = rng.choice(SITES)
                instance_id = f"{rng.getrandbits(128):032x}"
                started = now - timedelta(minutes=rng.randint(60, 90 * DAY_MINUTES))
                done = rng.random() < 0.75
                ended = min(now, started + timedelta(minutes=rng.randint(60, 10 * DAY_MINUTES))) if done else None
                due = None if rng.random() < 0.2 else started + timedelta(days=rng.randint(1, 7))
                rows[ProcessInstance].append(dict(
                    id=instance_id, definition_id=definition_id, process_key=PROCESS, business_key=f"BK-{i}", site=site,
                    state="completed" if done else "running", variables={"item": i, "status": "in_review"},
                    activities=[] if done else ["review"], workflow_state=state, lock_version=1, started_at=started,
                    started_by="bench", ended_at=ended, stage=None if done else "in_review"))
                rows[HumanTask].append(dict(
                    id=f"{rng.getrandbits(128):032x}", instance_id=instance_id, definition_id=definition_id,
                    spiff_task_id=str(uuid.UUID(int=rng.getrandbits(128))), element_id="review", name="Review",
                    process_key=PROCESS, business_key=f"BK-{i}", site=site, state="completed" if done else "open",
                    assignee="bench" if done else None, due_at=due, created_at=started, completed_at=ended,
                    completed_by="bench" if done else None))
                rows[StageInterval].append(dict(instance_id=instance_id, process_key=PROCESS, definition_id=definition_id,
                                                site=site, stage="in_review", entered_at=started, left_at=ended))
                job_at = started + timedelta(minutes=1)
                rows[AuditEvent].append(dict(at=job_at, actor="worker", action="job.completed", instance_id=instance_id,
                                             details={"element_id": "notify"}))
                if rng.random() < 0.05:
                    rows[AuditEvent].append(dict(at=job_at, actor="worker", action="job.retry-scheduled",
                                                 instance_id=instance_id, details={"element_id": "notify"}))
                if rng.random() < 0.01:
                    still_open = rng.random() < 0.2
                    expected["incidents_in_window"] += job_at >= window_start
                    rows[Incident].append(dict(
                        state="open" if still_open else "resolved", instance_id=instance_id, element_id="notify",
                        process_key=PROCESS, site=site, kind="failed-job", message="bench", created_at=job_at,
                        resolved_at=None if still_open else job_at + timedelta(hours=1),
                        resolved_by=None if still_open else "bench"))
                expected["open"] += not done
                expected["completed_in_window"] += bool(done and ended >= window_start)
                expected["with_due_in_window"] += bool(done and ended >= window_start and due is not None)
            for model, batch in rows.items():
                db.session.execute(model.__table__.insert(), batch)  # Core executemany: no ORM objects
            db.session.commit()
    return expected


def _checks(expected: dict, everyone: bool):
    """Per report, a check of its answer: exact counts for the analyst, a share of them for staff."""
    def counted(value: int, total: int, what: str) -> None:
        if (value != total) if everyone else not 0 < value < total:
            raise RuntimeError(f"{what}: {value} of {total}")

    def summary(response):
        counted(response.get_json()["tasks"]["open"], expected["open"], "summary's open tasks")

    def aging(response):
        counted(response.get_json()["totals"]["open"], expected["open"], "queue aging's open tasks")

    def throughput(response):
        totals = response.get_json()["totals"]
        counted(totals["instancesCompleted"], expected["completed_in_window"], "throughput's completed instances")
        counted(totals["tasksCompleted"], expected["completed_in_window"], "throughput's completed tasks")

    def cycles(response):
        counted(response.get_json()["overall"]["count"], expected["completed_in_window"], "cycle times' instances")

    def sla(response):
        counted(response.get_json()["totals"]["completedWithDue"], expected["with_due_in_window"],
                "the SLA's completed tasks with a due date")

    def incidents(response):
        counted(response.get_json()["totals"]["incidentsOpened"], expected["incidents_in_window"],
                "incidents opened")

    def breakdown(response):
        rows = response.get_json()["rows"]
        counted(sum(row["open"] or 0 for row in rows), expected["open"], "the breakdown's open tasks")

    def page(response):
        tile = re.search(r'id="tile-open"[^>]*>([0-9,]+)<', response.get_data(as_text=True))
        counted(int(tile.group(1).replace(",", "")) if tile else 0, expected["open"], "the dashboard's open tasks")

    return {"summary": summary, "queue-aging": aging, "throughput": throughput, "cycle-times": cycles,
            "sla": sla, "incidents": incidents, "breakdown": breakdown, "dashboard": page}


def run(results: dict) -> None:
    n = scaled(100_000, 10_000)
    repeats = scaled(10, 3)
    with BenchEnv("metrics", DIAGRAMS) as env:
        began = time.perf_counter()
        expected = populate(env, n)
        setup = time.perf_counter() - began
        analyst_headers, analyst_web = env.other_user("bench_analyst", ("analyst",))
        staff_web = env.signed_in_client()
        api = env.app.test_client()
        callers = {"analyst": (analyst_headers, analyst_web, _checks(expected, True)),
                   "staff": (env.headers, staff_web, _checks(expected, False))}
        for name in (*REPORTS, "dashboard"):
            timings = {}
            for who, (headers, web, checks) in callers.items():
                client, path = (web, "/dashboard") if name == "dashboard" else (api, f"/api/v1/metrics/{name}")
                latencies, _, _ = timed_gets(env, path, repeats, client, checks[name], headers)
                timings[who] = percentile(latencies, 50)
            report(f"metrics_history_{name.replace('-', '_')}", analyst_p50_ms=timings["analyst"] * 1000,
                   staff_p50_ms=timings["staff"] * 1000, instances=n, open_tasks=expected["open"], setup_s=setup)
