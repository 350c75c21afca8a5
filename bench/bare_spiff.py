"""Figure 3: the straight-through diagram in bare in-memory SpiffWorkflow, and Lanes against it.

Bare: SpiffWorkflow's own CamundaParser parses the BPMN and DMN once; each instance is a new
BpmnWorkflow run to its end in memory with Spiff's default script engine and DMN engine
(the table uses only tests both engines read the same way). Lanes is measured three ways on the
same files, time per instance each:
  engine   ProcessRuntime.start + dump_state in memory (restricted evaluator, FEEL DMN, state JSON)
  service  instances.start_instance in-process: engine + SQLite transaction with the instance row,
           its derived rows and the audit row (no HTTP)
  rest     POST /api/v1/process-instances through the Flask test client (figure 1's number)
The target (Lanes <= 2x bare) is judged on `service`, the cheapest call that actually stores an instance.
Beside it, not a target, `stored`: bare SpiffWorkflow that also stores each instance in the least way
(bare_stored_seconds). `service` against it is the whole stored start (the engines' difference included);
its `storing_ratio` sets what Lanes' start adds to its engine against what that least storing adds.
The five are timed in turn in each of ROUNDS rounds of n/ROUNDS instances, and a ratio is the median of
the rounds' own ratios: this 2-core machine's speed varies by a third from minute to minute, so two
figures compare only when measured side by side, in rounds short enough (about a second for all five)
that the speed seldom changes within one. With five rounds of 1,000 the same code gave medians from
1.73 to 2.42; `ratio_p10` and `ratio_p90` show how far the rounds' own ratios spread. The milliseconds
printed are each way's best round.
"""
from __future__ import annotations

import json
import random
import sqlite3
import statistics
import time
import uuid
from pathlib import Path

from .common import DIAGRAMS, SEED, BenchEnv, report, scaled
from .straight_through import DIAGRAMS as FILES
from .straight_through import PROCESS, bodies, post_starts

TARGET_RATIO = 2.0
ROUNDS = 25


def _bare(n: int):
    """The straight-through diagram parsed by SpiffWorkflow's own CamundaParser, a function that runs one
    instance of it to its end, and the seeded data of `n` instances."""
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.camunda.parser import CamundaParser

    parser = CamundaParser()
    parser.add_bpmn_file(str(DIAGRAMS / FILES[0]))
    parser.add_dmn_file(str(DIAGRAMS / FILES[1]))
    spec, subprocesses = parser.get_spec(PROCESS), parser.get_subprocess_specs(PROCESS)

    def run(data: dict):
        workflow = BpmnWorkflow(spec, subprocesses)
        workflow.task_tree.data.update(data)
        workflow.do_engine_steps()
        if not workflow.is_completed():
            raise RuntimeError("bare SpiffWorkflow did not complete the straight-through diagram")
        return workflow

    rng = random.Random(SEED)
    return run, [{"site": rng.choice(("NORTH", "SOUTH")), "amount": rng.randint(1, 2000)} for _ in range(n)]


def bare_seconds(n: int) -> float:
    run, inputs = _bare(n)
    began = time.perf_counter()
    for data in inputs:
        run(data)
    return (time.perf_counter() - began) / n


def bare_stored_seconds(n: int, path: Path) -> float:
    """bare_seconds plus the least storing each instance takes: Spiff's own serializer, with its workflow
    converter swapped for one that leaves out the specs (which a runner keeps once; the one Lanes uses, whose
    to_dict is Spiff's less the specs), and one INSERT of the JSON and the instance's data, a commit each,
    into a table with no index but its key, on `path` (an SQLite file in WAL mode with synchronous=NORMAL,
    SQLite's own checkpoints). Not a target: what the target's bare figure leaves out, shown beside it."""
    from SpiffWorkflow.bpmn import BpmnWorkflow
    from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
    from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

    from runner.engine.serialization import StateOnlyWorkflowConverter

    run, inputs = _bare(n)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(
        {**CAMUNDA_CONFIG, BpmnWorkflow: StateOnlyWorkflowConverter}))
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, state TEXT, data TEXT)")
    began = time.perf_counter()
    for data in inputs:
        workflow = run(data)
        connection.execute("BEGIN")
        connection.execute("INSERT INTO instances VALUES (?, ?, ?)",
                           (uuid.uuid4().hex, json.dumps(serializer.to_dict(workflow)), json.dumps(workflow.data)))
        connection.execute("COMMIT")
    seconds = (time.perf_counter() - began) / n
    connection.close()
    return seconds


def lanes_engine_seconds(env: BenchEnv, n: int) -> float:
    from runner.services import deployments

    with env.app.app_context():
        runtime = deployments.runtime_for(deployments.latest_definition(PROCESS))
    work = [{**b["variables"], "site": b["site"], "business_key": b["businessKey"]} for b in bodies(n, "EN")]
    began = time.perf_counter()
    for variables in work:
        workflow = runtime.start(variables)
        runtime.dump(workflow)
        if not workflow.is_completed():
            raise RuntimeError("the Lanes engine did not complete the straight-through diagram")
    return (time.perf_counter() - began) / n


def lanes_service_seconds(env: BenchEnv, n: int) -> float:
    from sqlalchemy import func, select

    from runner.models import ProcessInstance, db
    from runner.services import instances

    work = bodies(n, f"SV{n}")
    with env.app.app_context():
        actor = env.principal()
        done_before = _completed(db, func, select, ProcessInstance)
        db.session.remove()
    began = time.perf_counter()
    for body in work:
        with env.app.app_context():
            instances.start_instance(PROCESS, body["site"], body["variables"], actor=actor,
                                     business_key=body["businessKey"])
    seconds = (time.perf_counter() - began) / n
    with env.app.app_context():  # checked once afterwards: reading an instance back is not part of starting it
        if _completed(db, func, select, ProcessInstance) - done_before != n:
            raise RuntimeError("not every instance completed")
    return seconds


def _completed(db, func, select, model) -> int:
    return db.session.scalar(select(func.count()).where(model.process_key == PROCESS, model.state == "completed"))


def run(results: dict) -> None:
    n = scaled(5000, 500)
    size = n // ROUNDS
    rounds = []
    with BenchEnv("bare-vs-lanes", FILES) as env:
        client = env.app.test_client()
        lanes_engine_seconds(env, 20)  # warm the parsed-deployment cache
        lanes_service_seconds(env, 20)
        post_starts(env, client, bodies(20, "warm"))
        for index in range(ROUNDS):
            rounds.append({"bare": bare_seconds(size), "stored": bare_stored_seconds(size, env.folder / "bare.db"),
                           "engine": lanes_engine_seconds(env, size),
                           "service": lanes_service_seconds(env, size),
                           "rest": post_starts(env, client, bodies(size, f"RS{index}"))})

    def ratio(way: str) -> float:  # the median over the rounds of each round's own ratio
        return statistics.median(r[way] / r["bare"] for r in rounds)

    deciles = statistics.quantiles((r["service"] / r["bare"] for r in rounds), n=10)

    def best_ms(way: str) -> float:
        return min(r[way] for r in rounds) * 1000

    report("bare_spiff", ms_per_instance=best_ms("bare"), instances_per_s=1000 / best_ms("bare"), n=n,
           timing=f"best-of-{ROUNDS}")
    report("lanes_vs_bare", ratio=ratio("service"), compared="service-call", target=f"<={TARGET_RATIO}",
           timing=f"median-of-{ROUNDS}-interleaved-rounds", ratio_p10=deciles[0], ratio_p90=deciles[-1],
           bare_ms=best_ms("bare"), engine_ms=best_ms("engine"), service_ms=best_ms("service"),
           rest_ms=best_ms("rest"), engine_ratio=ratio("engine"), rest_ratio=ratio("rest"))
    # the whole stored start against the stored bare one (the engines' difference included), and the
    # storing alone: what Lanes' start adds to its engine, against what storing adds to bare SpiffWorkflow
    report("lanes_vs_bare_stored", ratio=statistics.median(r["service"] / r["stored"] for r in rounds),
           storing_ratio=statistics.median((r["service"] - r["engine"]) / (r["stored"] - r["bare"]) for r in rounds),
           compared="service-call", timing=f"median-of-{ROUNDS}-interleaved-rounds", bare_stored_ms=best_ms("stored"))
