"""Figure 2: latency of POST /api/v1/tasks/{id}/complete (p50/p99).

The diagram (diagrams/one_user_task.bpmn): start -> user task (candidate group bench_reviewers,
due in a day) -> end. Instances are started through the service layer (setup, not timed); then each
open task is completed once, timed per request: through the Flask test client (in-process), and
over real HTTP against `lanes serve --workers 2` by one sequential keep-alive client.
"""
from __future__ import annotations

import time

from .common import BenchEnv, Client, Gunicorn, percentile, report, scaled

DIAGRAMS = ("one_user_task.bpmn",)
PROCESS = "bench_one_task"
TARGET_P50_MS = 15


def open_tasks(env: BenchEnv, n: int) -> list[str]:
    """Start `n` instances; returns their open task ids."""
    from runner.models import db
    from runner.services import instances, tasks

    ids = []
    with env.app.app_context():
        actor = env.principal()
        for i in range(n):
            instance, _ = instances.start_instance(PROCESS, "NORTH", {"item": i}, actor=actor,
                                                   business_key=f"TL-{i}")
            [task] = tasks.open_tasks(instance.id)
            ids.append(task.id)
            db.session.remove()
    return ids


def _check(status: int, body: dict) -> None:
    if status != 200 or body["instance"]["state"] != "completed":
        raise RuntimeError(f"complete failed: {status} {body}")


def payload(i: int) -> dict:
    return {"variables": {"decision": "done", "note": f"item {i}"}}


def in_process(n: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each request (CPU: this process, so the request's own work)."""
    with BenchEnv("task-latency", DIAGRAMS) as env:
        client = env.app.test_client()
        latencies, cpu = [], []
        for i, task_id in enumerate(open_tasks(env, n + 10)):
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.post(f"/api/v1/tasks/{task_id}/complete", json=payload(i), headers=env.headers)
            elapsed, elapsed_cpu = time.perf_counter() - began, time.process_time() - began_cpu
            _check(response.status_code, response.get_json())
            if i >= 10:  # the first few warm caches
                latencies.append(elapsed)
                cpu.append(elapsed_cpu)
        return latencies, cpu


def over_http(n: int) -> list[float]:
    with BenchEnv("task-latency-http", DIAGRAMS) as env:
        task_ids = open_tasks(env, n + 10)
        with Gunicorn(env) as server:
            client = Client(server.port, env.headers)
            latencies = []
            for i, task_id in enumerate(task_ids):
                began = time.perf_counter()
                status, body = client.request("POST", f"/api/v1/tasks/{task_id}/complete", payload(i))
                elapsed = time.perf_counter() - began
                _check(status, body)
                if i >= 10:
                    latencies.append(elapsed)
            client.close()
        return latencies


def run(results: dict) -> None:
    n = scaled(500, 100)
    latencies, cpu = in_process(n)
    report("task_complete_rest", p50_ms=percentile(latencies, 50) * 1000, p99_ms=percentile(latencies, 99) * 1000,
           cpu_p50_ms=percentile(cpu, 50) * 1000, n=len(latencies), client="flask-test-client",
           target=f"p50<={TARGET_P50_MS}ms")
    latencies = over_http(n)
    report("task_complete_http", p50_ms=percentile(latencies, 50) * 1000, p99_ms=percentile(latencies, 99) * 1000,
           n=len(latencies), client="1-thread-keepalive", server="gunicorn-2-sync-workers",
           target=f"p50<={TARGET_P50_MS}ms")
