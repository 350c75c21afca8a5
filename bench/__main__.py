"""`python -m bench [figure ...]` (or `make bench`): run the benchmarks, one line per figure on stdout.

BENCH_QUICK=1 runs smaller n (a smoke test of the benchmarks, not figures to quote). Every
module starts from a fresh temporary SQLite database, migrated with Alembic, with fixed seeds.
"""
from __future__ import annotations

import sys
import time

from . import (bare_spiff, metrics_reports, step_cost, straight_through, task_latency, task_list, timers_jobs,
               worker_scaling)

MODULES = {
    "straight_through": straight_through,  # 1. instances/s via REST (test client and gunicorn)
    "task_latency": task_latency,          # 2. POST /tasks/{id}/complete p50/p99
    "bare_spiff": bare_spiff,              # 3. bare SpiffWorkflow and Lanes/bare
    "step_cost": step_cost,                # 4. step 10 vs step 1,000 of a looping instance
    "task_list": task_list,                # 5. task list with 100,000 open instances
    "metrics_reports": metrics_reports,    # the metrics API and dashboard over 100,000 instances' history
    "timers_jobs": timers_jobs,            # 6. timer lateness, job throughput
    "worker_scaling": worker_scaling,      # issue 7: jobs/s for 1, 2 and 4 workers on PostgreSQL
}


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in MODULES]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}", file=sys.stderr)
        return 2
    results: dict = {}  # for figures a later module would reuse
    began = time.perf_counter()
    for name in names or list(MODULES):
        MODULES[name].run(results)
    print(f"(benchmarks took {time.perf_counter() - began:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
