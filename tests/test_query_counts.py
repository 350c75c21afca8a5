"""What requests cost in queries: lists a fixed number whatever their length (no query per row when
rendered), a start no read of the row it has just written nor of its version's."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from runner.models import db
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload

LOOP = Path(__file__).parent / "fixtures" / "step_cost" / "task_loop.bpmn"
ALICE = bearer("alice")


def executed(app, call) -> tuple[object, list[str]]:
    """`call()`'s result and the SQL statements it executed."""
    seen = []

    def record(_conn, _cursor, statement, *_):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        return call(), seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def statements(app, client, path: str, headers: dict) -> int:
    response, seen = executed(app, lambda: client.get(path, headers=headers))
    assert response.status_code == 200, response.get_json()
    return len(seen)


def test_the_task_list_costs_the_same_queries_for_2_tasks_as_for_12(app, client):
    bpmn = LOOP.read_bytes().replace(b'camunda:candidateGroups="loopers"', b'camunda:candidateGroups="north_billing"')
    assert upload(client, {"task_loop.bpmn": bpmn}).status_code == 201

    def start(count):
        for i in range(count):
            response = client.post("/api/v1/process-instances", json={
                "processKey": "task_loop", "site": "NORTH", "businessKey": f"Q-{i}", "variables": {"turns": 3}})
            assert response.status_code == 201, response.get_json()

    start(2)
    few = statements(app, client, "/api/v1/tasks?candidateGroup=north_billing", ALICE)
    start(10)
    assert len(client.get("/api/v1/tasks", headers=ALICE).get_json()) == 12
    assert statements(app, client, "/api/v1/tasks?candidateGroup=north_billing", ALICE) == few


def test_a_start_answers_without_reading_back_the_instance_it_stored(app, client):
    assert upload(client, {"task_loop.bpmn": LOOP.read_bytes()}).status_code == 201
    response, seen = executed(app, lambda: client.post("/api/v1/process-instances", json={
        "processKey": "task_loop", "site": "NORTH", "businessKey": "Q-1", "variables": {"turns": 2}}))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["state"], body["version"], body["businessKey"], body["variables"]["turns"]) == ("running", 1, "Q-1", 2)
    assert [task["elementId"] for task in body["openTasks"]] == ["work"]
    inserts = [s for s in seen if s.lstrip().upper().startswith("INSERT INTO PROCESS_INSTANCES")]
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT") and "FROM process_instances" in s]
    assert len(inserts) == 1 and reads == []
    # the version it shows is the one the start read: process_definitions is read once, not again for the 201
    assert len([s for s in seen if "FROM process_definitions" in s]) == 1
    stored = client.get(f"/api/v1/process-instances/{body['id']}").get_json()
    assert {key: stored[key] for key in body} == body  # what the 201 said is what was stored


def test_the_metrics_summary_reads_the_open_tasks_once(app, client):
    """Queue aging and the SLA's open part count the same open tasks: one pass over them serves both."""
    response, seen = executed(app, lambda: client.get("/api/v1/metrics/summary"))
    assert response.status_code == 200, response.get_json()
    open_passes = [s for s in seen if "FROM human_tasks" in s and "human_tasks.due_at < " in s]  # overdue now
    assert len(open_passes) == 1, open_passes
