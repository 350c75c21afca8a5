"""Figure 4: the cost of one step at step 10 and at step 1,000 of the same long-lived instance.

The diagram (diagrams/user_task_loop.bpmn): a user task in a loop (user task -> script counts the
turn -> gateway back), so every step is one `tasks.complete_task` service call: load the stored
state, complete the task, run the script and gateway, save the state and the derived rows, commit.
Each step is timed; the figure is the median of the nine steps around step 10 and around step 1,000
(single steps are too noisy), with the stored state's size at both points.
"""
from __future__ import annotations

import statistics
import time

from .common import BenchEnv, report

DIAGRAMS = ("user_task_loop.bpmn",)
PROCESS = "bench_loop"
TARGET_RATIO = 1.5
EARLY, LATE = 10, 1000
WINDOW = 4  # steps on either side


def walk(env: BenchEnv, steps: int) -> tuple[dict[int, float], dict[int, int], dict[int, float]]:
    """Complete the loop's task `steps` times; returns seconds per step, state bytes after each,
    and CPU seconds per step (this process: the step's own work)."""
    from runner.models import ProcessInstance, db
    from runner.services import instances, tasks

    seconds, sizes, cpu = {}, {}, {}
    with env.app.app_context():
        actor = env.principal()
        instance, _ = instances.start_instance(PROCESS, "NORTH", {"turns": steps + 1}, actor=actor,
                                               business_key="LOOP-1")
        instance_id = instance.id
        db.session.remove()
    for step in range(1, steps + 1):
        with env.app.app_context():
            [task] = tasks.open_tasks(instance_id)
            task_id = task.id
            db.session.remove()
            began, began_cpu = time.perf_counter(), time.process_time()
            tasks.complete_task(task_id, {"note": f"step {step}"}, actor=actor)
            seconds[step], cpu[step] = time.perf_counter() - began, time.process_time() - began_cpu
            sizes[step] = len(db.session.get(ProcessInstance, instance_id).workflow_state)
            db.session.remove()
    return seconds, sizes, cpu


def around(seconds: dict[int, float], step: int) -> float:
    return statistics.median(seconds[s] for s in range(step - WINDOW, step + WINDOW + 1))


def run(results: dict) -> None:
    with BenchEnv("step-cost", DIAGRAMS) as env:
        seconds, sizes, cpu = walk(env, LATE + WINDOW)
    early, late = around(seconds, EARLY), around(seconds, LATE)
    report("step_cost", step10_ms=early * 1000, step1000_ms=late * 1000, ratio=late / early,
           cpu_ratio=around(cpu, LATE) / around(cpu, EARLY), state_bytes_10=sizes[EARLY],
           state_bytes_1000=sizes[LATE], target=f"ratio<={TARGET_RATIO}")
