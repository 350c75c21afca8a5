"""Figure 5: task-list query time with 100,000 open instances (p50 of GET /api/v1/tasks).

Setup bulk-inserts the rows a started instance leaves behind (process_instances, human_tasks,
task_candidates) with SQL for speed: 100,000 running instances with one open task each, spread
over ten sites (NORTH has a fifth of them) and four candidate groups per site, due dates within a
month either way (a tenth have none); and the history of a database in use: 400,000 completed
instances of the months before, their tasks offered the same way (one in twenty completed by the
caller). The caller is a staff member at NORTH and SOUTH in the groups north_billing and
north_finance (the API filters what they may see in the same query).
Timed through the Flask test client: the API's filtered list (?site=NORTH&candidateGroup=north_billing)
and unfiltered one (their whole inbox), and the staff pages signed in as the same user: "Group tasks"
(its first page of 100, the filter menus, the navigation's counts) and "My tasks" (nothing claimed);
and, for an admin (every site, every unclaimed task), the API's unfiltered list and "Group tasks".
All of it on SQLite, then on PostgreSQL (a throwaway cluster, tests/postgres.py; VACUUM ANALYZE after
the inserts, as autovacuum would have run by then) where it is installed; each line says which.
Every answer is checked: a full page, at the right sites and groups.
"""
from __future__ import annotations

import json
import random
import re
import time
import uuid
from datetime import timedelta

from .common import BENCH_USER, SEED, BenchEnv, percentile, postgres_cluster, report, scaled

DIAGRAMS = ("one_user_task.bpmn",)
PROCESS = "bench_one_task"
TARGET_P50_MS = 50
SITES = ["NORTH", "NORTH", "SOUTH", "EAST", "WEST", "CLINIC-01", "CLINIC-02", "CLINIC-03", "CLINIC-04",
         "CLINIC-05", "CLINIC-06"]  # NORTH twice: a fifth of the work (CLINIC-* share the rest)
GROUPS = ("billing", "finance", "intake", "controllers")
USER_GROUPS = ("north_billing", "north_finance")
BATCH = 5000
PAGE = 100  # the API's default page


def group_of(site: str, kind: str) -> str:
    return f"{site.lower().replace('-', '')}_{kind}"


def populate(env: BenchEnv, n: int, history: int = 0) -> None:
    """`n` running instances of bench_one_task, each with one open task, and `history` completed ones of
    the months before, each with its completed task, inserted in batches."""
    from sqlalchemy import select

    from runner.models import HumanTask, ProcessDefinition, ProcessInstance, TaskCandidate, db, utcnow

    rng = random.Random(SEED)
    now = utcnow()
    day = 60 * 24  # minutes
    with env.app.app_context():
        definition_id = db.session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.process_key == PROCESS))
        state = json.dumps({"format": "bench-placeholder"})  # never loaded: task lists do not read it
        for start in range(0, n + history, BATCH):
            instances, tasks, candidates = [], [], []
            for i in range(start, min(n + history, start + BATCH)):
                site, is_open = rng.choice(SITES), i < n
                instance_id, task_id = f"{rng.getrandbits(128):032x}", f"{rng.getrandbits(128):032x}"
                if is_open:
                    started = now - timedelta(minutes=rng.randint(0, 60 * day))
                    due = None if rng.random() < 0.1 else now + timedelta(minutes=rng.randint(-30 * day, 30 * day))
                    ended, done_by = None, None
                else:  # the history: started and completed in the 300 days before the open ones
                    started = now - timedelta(minutes=rng.randint(60 * day, 360 * day))
                    due, ended = started + timedelta(days=5), started + timedelta(minutes=rng.randint(10, 10 * day))
                    done_by = BENCH_USER if rng.random() < 0.05 else "someone"
                instances.append(dict(id=instance_id, definition_id=definition_id, process_key=PROCESS,
                                      business_key=f"BK-{i}", site=site, state="running" if is_open else "completed",
                                      variables={"item": i}, activities=["review"] if is_open else [],
                                      workflow_state=state, lock_version=1, started_at=started, started_by="bench",
                                      ended_at=ended, end_event=None if is_open else "done"))
                spiff_task_id = str(uuid.UUID(int=rng.getrandbits(128)))
                tasks.append(dict(id=task_id, instance_id=instance_id, definition_id=definition_id,
                                  spiff_task_id=spiff_task_id, element_id="review", name="Review", process_key=PROCESS,
                                  business_key=f"BK-{i}", site=site, state="open" if is_open else "completed",
                                  assignee=done_by, completed_by=done_by, completed_at=ended, form_ref=None, due_at=due,
                                  created_at=started))
                kinds = rng.sample(GROUPS, 2 if rng.random() < 0.2 else 1)
                candidates.extend(dict(task_id=task_id, kind="group", value=group_of(site, kind), task_open=is_open)
                                  for kind in kinds)
            for model, rows in ((ProcessInstance, instances), (HumanTask, tasks), (TaskCandidate, candidates)):
                db.session.execute(model.__table__.insert(), rows)  # Core executemany: no ORM objects
            db.session.commit()


def timed_gets(env: BenchEnv, path: str, repeats: int, client=None, check=None,
               headers: dict | None = None) -> tuple[list[float], list[float], int]:
    """Wall-clock and CPU seconds (this process: the request's own work) of each GET (with `headers`, by
    default the bench user's token), and the rows of the last; `check(response)` gives the rows and raises
    if the answer is not what it should be."""
    client = client or env.app.test_client()
    latencies, cpu, count = [], [], 0
    for i in range(repeats + 5):
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.get(path, headers=headers or env.headers)
        elapsed, elapsed_cpu = time.perf_counter() - began, time.process_time() - began_cpu
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        count = check(response)
        if i >= 5:
            latencies.append(elapsed)
            cpu.append(elapsed_cpu)
    return latencies, cpu, count


def _api_rows(site: str | None = None, group: str | None = None, sites=("NORTH", "SOUTH")):
    """A full page (PAGE rows) of the API's list, at `site` and offered to `group` when given, at `sites`
    (None: any)."""
    def check(response) -> int:
        rows = response.get_json()
        wrong = [r["id"] for r in rows if (site and r["site"] != site) or (group and group not in r["candidateGroups"])
                 or (sites and r["site"] not in sites)]
        if len(rows) != PAGE or wrong:
            raise RuntimeError(f"the list gave {len(rows)} rows (expected {PAGE}), {len(wrong)} of them wrong")
        return len(rows)
    return check


def _page_rows(expected: int):
    """A work-list page with `expected` task rows."""
    def check(response) -> int:
        rows = response.get_data(as_text=True).count("<tr data-task-id=")
        if rows != expected:
            raise RuntimeError(f"the page shows {rows} tasks (expected {expected})")
        return rows
    return check


def _dashboard_open(n: int):
    """The dashboard, its open-tasks tile counting the user's sites' share of the `n` open tasks."""
    def check(response) -> int:
        tile = re.search(r'id="tile-open"[^>]*>([0-9,]+)<', response.get_data(as_text=True))
        shown = int(tile.group(1).replace(",", "")) if tile else 0
        if not 0 < shown < n:
            raise RuntimeError(f"the dashboard shows {shown} open tasks of {n}")
        return shown
    return check


def measure(env: BenchEnv, database: str, n: int, history: int, repeats: int) -> None:
    """Populate `env`'s database with `n` open instances and `history` completed ones and report every
    figure on it."""
    from runner.services.worklists import PAGE_ROWS

    began = time.perf_counter()
    populate(env, n, history)
    if database == "postgresql":  # what autovacuum does after such inserts: statistics, the visibility map
        with env.app.app_context():
            vacuum_analyze()
    setup = time.perf_counter() - began
    web = env.signed_in_client()
    admin_headers, admin_web = env.other_user("bench_admin", ("admin",))  # sees every site
    for figure, path, client, headers, check in (
            ("task_list_site_group", "/api/v1/tasks?site=NORTH&candidateGroup=north_billing", None, None,
             _api_rows("NORTH", "north_billing")),
            ("task_list_inbox", "/api/v1/tasks", None, None, _api_rows()),
            ("task_page_group", "/tasks/group", web, None, _page_rows(PAGE_ROWS)),  # what staff open
            ("task_page_mine", "/tasks", web, None, _page_rows(0)),  # nothing claimed: its count, facets, nav
            ("task_list_admin_inbox", "/api/v1/tasks", None, admin_headers, _api_rows(sites=None)),
            ("task_page_group_admin", "/tasks/group", admin_web, None, _page_rows(PAGE_ROWS))):
        latencies, cpu, count = timed_gets(env, path, repeats, client, check, headers)
        report(figure, p50_ms=percentile(latencies, 50) * 1000, p99_ms=percentile(latencies, 99) * 1000,
               cpu_p50_ms=percentile(cpu, 50) * 1000, database=database, open_instances=n,
               completed_instances=history, rows=count, setup_s=setup, target=f"p50<={TARGET_P50_MS}ms")
    # the metrics dashboard over the same open tasks (no target: it aggregates all of them)
    latencies, cpu, count = timed_gets(env, "/dashboard", scaled(20, 10), web, _dashboard_open(n))
    report("metrics_dashboard", p50_ms=percentile(latencies, 50) * 1000, p99_ms=percentile(latencies, 99) * 1000,
           cpu_p50_ms=percentile(cpu, 50) * 1000, database=database, open_instances=n, completed_instances=history)


def vacuum_analyze() -> None:
    """VACUUM ANALYZE the app's PostgreSQL database (outside a transaction, as VACUUM must run)."""
    from sqlalchemy import text

    from runner.models import db
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def run(results: dict) -> None:
    n, history = scaled(100_000, 20_000), scaled(400_000, 40_000)
    repeats = scaled(100, 50)
    with BenchEnv("task-list", DIAGRAMS, user_groups=USER_GROUPS) as env:
        measure(env, "sqlite", n, history, repeats)
    with postgres_cluster("task_list on PostgreSQL") as cluster:  # the production database, where installed
        if cluster is not None:
            url = cluster.create_database("bench_task_list")
            with BenchEnv("task-list-pg", DIAGRAMS, user_groups=USER_GROUPS, url=url) as env:
                measure(env, "postgresql", n, history, repeats)
