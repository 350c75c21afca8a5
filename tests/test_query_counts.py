"""Lists cost a fixed number of queries, whatever their length (no query per row when rendered)."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from runner.models import db
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload

LOOP = Path(__file__).parent / "fixtures" / "step_cost" / "task_loop.bpmn"
ALICE = bearer("alice")


def statements(app, client, path: str, headers: dict) -> int:
    seen = []

    def count(*_):
        seen.append(1)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
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
