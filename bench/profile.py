"""`python -m bench.profile [start-service | start-rest | complete-rest] [n]`: where a figure's time goes.

Runs one benchmark's work under pyinstrument on the bench's fresh SQLite database and prints the call
tree (SpiffWorkflow, SQLAlchemy and Flask frames folded; BENCH_PROFILE_ALL=1 shows every frame):
  start-service  instances.start_instance of the straight-through diagram (figure 3's `service`, its own loop)
  start-rest     POST /api/v1/process-instances through the test client (figure 1's loop)
  complete-rest  POST /api/v1/tasks/{id}/complete of a one-user-task process (figure 2)
Sampling adds its own cost to every Python frame, so read the shares, not the milliseconds.
"""
from __future__ import annotations

import os
import re
import sys

from .bare_spiff import lanes_service_seconds
from .common import BenchEnv
from .straight_through import DIAGRAMS, bodies, post_starts
from .task_latency import DIAGRAMS as TASK_DIAGRAMS
from .task_latency import open_tasks
from .task_latency import payload as task_payload

WARM = 50


def _start_service(env: BenchEnv, n: int):
    lanes_service_seconds(env, WARM)
    return lambda: lanes_service_seconds(env, n)


def _start_rest(env: BenchEnv, n: int):
    client = env.app.test_client()
    post_starts(env, client, bodies(WARM, "warm"))
    return lambda: post_starts(env, client, bodies(n, "profiled"))


def _complete_rest(env: BenchEnv, n: int):
    client = env.app.test_client()

    def run(task_ids):
        for index, task_id in enumerate(task_ids):
            response = client.post(f"/api/v1/tasks/{task_id}/complete", json=task_payload(index), headers=env.headers)
            if response.status_code != 200:
                raise RuntimeError(f"complete failed: {response.status_code} {response.get_json()}")
    run(open_tasks(env, WARM))
    task_ids = open_tasks(env, n)
    return lambda: run(task_ids)


TARGETS = {"start-service": (DIAGRAMS, _start_service), "start-rest": (DIAGRAMS, _start_rest),
           "complete-rest": (TASK_DIAGRAMS, _complete_rest)}


def main(args: list[str]) -> int:
    from pyinstrument import Profiler

    if not args or args[0] not in TARGETS or len(args) > 2 or (len(args) == 2 and not re.fullmatch("[0-9]{1,7}", args[1])):
        print(f"usage: python -m bench.profile {{{' | '.join(TARGETS)}}} [n]", file=sys.stderr)
        return 2
    diagrams, prepare = TARGETS[args[0]]
    n = int(args[1]) if len(args) == 2 else 1000
    with BenchEnv(f"profile-{args[0]}", diagrams) as env:
        work = prepare(env, n)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        work()
        profiler.stop()
    print(profiler.output_text(unicode=False, color=False, show_all=bool(os.environ.get("BENCH_PROFILE_ALL"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
