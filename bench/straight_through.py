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


def post_starts(env: BenchEnv, client, work: list[dict]) -> float:
    """Seconds per instance for POSTing the start requests `work` through the Flask test client `client`."""
    began = time.perf_counter()
    for body in work:
        response = client.post("/api/v1/process-instances", json=body, headers=env.headers)
        _check(response.status_code, response.get_json())
    return (time.perf_counter() - began) / len(work)


def rest_in_process(n: int) -> float:
    """Seconds per instance through the Flask test client."""
    with BenchEnv("straight-rest", DIAGRAMS) as env:
        client = env.app.test_client()
        post_starts(env, client, bodies(20, "warm"))
        return post_starts(env, client, bodies(n, "ST"))


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
    per_instance = rest_in_process(n)
    report("straight_through_rest", instances_per_s=1 / per_instance, n=n, client="flask-test-client",
           target=f">={TARGET_PER_S}")
    per_instance = rest_http(n)
    report("straight_through_http", instances_per_s=1 / per_instance, n=n,
           client=f"{CLIENT_THREADS}-threads-keepalive", server="gunicorn-2-sync-workers", target=f">={TARGET_PER_S}")
