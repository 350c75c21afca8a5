"""Figure 1: straight-through instances per second via POST /api/v1/process-instances on SQLite.

The diagram (diagrams/straight_through.bpmn): start -> business rule task (bench_route.dmn) ->
script task -> end, so every request starts, runs to the end and stores one completed instance.
Measured twice: the Flask test client in this process (one caller, no network), and real HTTP
against `lanes serve --workers 2` (gunicorn) with a few client threads on keep-alive connections.
"""
from __future__ import annotations

import random
import time

from .common import SEED, BenchEnv, Client, Gunicorn, report, run_threads, scaled

DIAGRAMS = ("straight_through.bpmn", "bench_route.dmn")
PROCESS = "bench_straight"
TARGET_PER_S = 100
CLIENT_THREADS = 4


def bodies(n: int, prefix: str) -> list[dict]:
    """`n` start requests with seeded sites and amounts (the bench user works at NORTH and SOUTH)."""
    rng = random.Random(SEED)
    return [{"processKey": PROCESS, "site": rng.choice(("NORTH", "SOUTH")), "businessKey": f"{prefix}-{i}",
             "variables": {"amount": rng.randint(1, 2000)}} for i in range(n)]


def _check(status: int, body: dict) -> None:
    if status != 201 or body.get("state") != "completed":
        raise RuntimeError(f"start failed: {status} {body}")


def rest_in_process(n: int, rounds: int = 5) -> tuple[float, float]:
    """Seconds per instance through the Flask test client: overall, and in the best of `rounds` rounds."""
    with BenchEnv("straight-rest", DIAGRAMS) as env:
        client = env.app.test_client()
        for body in bodies(20, "warm"):
            response = client.post("/api/v1/process-instances", json=body, headers=env.headers)
            _check(response.status_code, response.get_json())
        work = bodies(n, "ST")
        size = -(-n // rounds)
        times = []
        for start in range(0, n, size):
            chunk = work[start:start + size]
            began = time.perf_counter()
            for body in chunk:
                response = client.post("/api/v1/process-instances", json=body, headers=env.headers)
                _check(response.status_code, response.get_json())
            times.append((time.perf_counter() - began, len(chunk)))
        return sum(t for t, _ in times) / n, min(t / k for t, k in times)


def rest_http(n: int, threads: int = CLIENT_THREADS) -> float:
    """Seconds per instance (wall clock / n) against gunicorn with `threads` concurrent clients."""
    with BenchEnv("straight-http", DIAGRAMS) as env, Gunicorn(env) as server:
        def warm(index):
            client = Client(server.port, env.headers)
            for body in bodies(10, f"warm{index}"):
                _check(*client.request("POST", "/api/v1/process-instances", body))
            client.close()

        run_threads(threads, warm)
        work = bodies(n, "ST")

        def drive(index):
            client = Client(server.port, env.headers)
            for body in work[index::threads]:
                _check(*client.request("POST", "/api/v1/process-instances", body))
            client.close()

        began = time.perf_counter()
        run_threads(threads, drive)
        return (time.perf_counter() - began) / n


def run(results: dict) -> None:
    n = scaled(5000, 500)
    per_instance, best = rest_in_process(n)
    results["straight_through_rest_best_s"] = best
    report("straight_through_rest", instances_per_s=1 / per_instance, n=n, client="flask-test-client",
           target=f">={TARGET_PER_S}")
    per_instance = rest_http(n)
    results["straight_through_http_s"] = per_instance
    report("straight_through_http", instances_per_s=1 / per_instance, n=n,
           client=f"{CLIENT_THREADS}-threads-keepalive", server="gunicorn-2-sync-workers", target=f">={TARGET_PER_S}")
