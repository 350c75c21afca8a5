"""Figure 4: the cost of one step at step 10 and at step 1,000 of a long-lived instance.

The diagram (diagrams/user_task_loop.bpmn): a user task in a loop (user task -> script counts the
turn -> gateway back), so every step is one `tasks.complete_task` service call: load the stored
state, complete the task, run the script and gateway, save the state and the derived rows, commit.
An old instance is walked to step 1,000 - WINDOW and a young one to step 10 - WINDOW (untimed); then
their steps are timed in turn, a young one then an old one, 2 * WINDOW + 1 times: the figure is the
median over those pairs of old/young (this VM's speed drifts by a third from minute to minute, so the
two are measured side by side), with each one's median milliseconds and the stored state's size.
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


class Loop:
    """One instance of the loop, stepped with tasks.complete_task."""

    def __init__(self, env: BenchEnv, name: str, turns: int):
        from runner.models import db
        from runner.services import instances

        self.env, self.steps = env, 0
        with env.app.app_context():
            self.actor = env.principal()
            instance, _ = instances.start_instance(PROCESS, "NORTH", {"turns": turns}, actor=self.actor,
                                                   business_key=name)
            self.instance_id = instance.id
            db.session.remove()

    def step(self) -> tuple[float, int]:
        """Complete the open task once: (seconds the service call took, stored state bytes after it)."""
        from runner.models import ProcessInstance, db
        from runner.services import tasks

        with self.env.app.app_context():
            [task] = tasks.open_tasks(self.instance_id)
            task_id = task.id
            db.session.remove()
            self.steps += 1
            began = time.perf_counter()
            tasks.complete_task(task_id, {"note": f"step {self.steps}"}, actor=self.actor)
            seconds = time.perf_counter() - began
            size = len(db.session.get(ProcessInstance, self.instance_id).workflow_state)
            db.session.remove()
        return seconds, size

    def walk_to(self, step: int) -> None:
        while self.steps < step:
            self.step()


def run(results: dict) -> None:
    with BenchEnv("step-cost", DIAGRAMS) as env:
        old, young = Loop(env, "LOOP-OLD", LATE + WINDOW + 1), Loop(env, "LOOP-YOUNG", EARLY + WINDOW + 1)
        old.walk_to(LATE - WINDOW - 1)
        young.walk_to(EARLY - WINDOW - 1)
        pairs = [(young.step(), old.step()) for _ in range(2 * WINDOW + 1)]
    early = [seconds for (seconds, _), _ in pairs]
    late = [seconds for _, (seconds, _) in pairs]
    report("step_cost", step10_ms=statistics.median(early) * 1000, step1000_ms=statistics.median(late) * 1000,
           ratio=statistics.median(o / y for y, o in zip(early, late)), timing="median-of-9-interleaved-pairs",
           state_bytes_10=pairs[WINDOW][0][1], state_bytes_1000=pairs[WINDOW][1][1], target=f"ratio<={TARGET_RATIO}")
