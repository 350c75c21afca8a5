"""Issue 8: who sees and does what, through the REST API.

Test users (tests/accounts_fixtures.py): alice is staff at NORTH and WEST in north_finance,
north_billing and billing_office; bob is staff at NORTH in north_finance and refund_controllers;
sam is staff at SOUTH in south_finance. The `routed` process offers its task to the group it is
started with (conftest.start_routed).
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from runner.models import utcnow
from runner.services import accounts, system_principal
from tests.accounts_fixtures import basic, bearer
from tests.helpers import PROCESSES, folder_files, upload

from .bpmn import user_task_process

ALICE, BOB, SAM = bearer("alice"), bearer("bob"), bearer("sam")
DECISION = {"variables": {"decision": "approve", "comment": "verified"}}


@pytest.fixture
def refunds(start_routed):
    """Three instances, each waiting on one task: {name: (instance id, task id)}."""
    return {"north": start_routed("NORTH", "north_finance"), "north_small": start_routed("NORTH", "north_billing"),
            "south": start_routed("SOUTH", "south_finance")}


def problem_type(response) -> str:
    assert response.mimetype == "application/problem+json", response.data
    return response.get_json()["type"].rsplit("/", 1)[-1]


def audit_actions(client, instance_id):
    return [(e["action"], e["actor"]) for e in client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json()]


def test_north_staff_get_404_for_everything_at_south_and_change_nothing(client, refunds):
    south_instance, south_task = refunds["south"]
    before = client.get(f"/api/v1/tasks/{south_task}").get_json()

    for method, path, body in (("get", f"/tasks/{south_task}", None),
                               ("post", f"/tasks/{south_task}/claim", {}),
                               ("post", f"/tasks/{south_task}/unclaim", None),
                               ("post", f"/tasks/{south_task}/complete", DECISION),
                               ("get", f"/process-instances/{south_instance}", None),
                               ("get", f"/process-instances/{south_instance}/audit", None)):
        response = getattr(client, method)(f"/api/v1{path}", headers=ALICE, json=body)
        assert response.status_code == 404, (path, response.get_json())
        assert problem_type(response) == "not-found"
        assert "SOUTH" not in response.get_data(as_text=True)

    # exactly what a task that does not exist at all answers: nothing tells them apart
    missing = client.get("/api/v1/tasks/0123456789abcdef0123456789abcdef", headers=ALICE).get_json()
    other = client.get(f"/api/v1/tasks/{south_task}", headers=ALICE).get_json()
    assert {k: v for k, v in missing.items() if k != "detail"} == {k: v for k, v in other.items() if k != "detail"}

    assert client.get("/api/v1/tasks?site=SOUTH", headers=ALICE).get_json() == []
    assert {t["site"] for t in client.get("/api/v1/tasks", headers=ALICE).get_json()} == {"NORTH"}
    assert {i["site"] for i in client.get("/api/v1/process-instances", headers=ALICE).get_json()} == {"NORTH"}
    assert client.get("/api/v1/process-instances?site=SOUTH", headers=ALICE).get_json() == []

    assert client.get(f"/api/v1/tasks/{south_task}").get_json() == before
    assert audit_actions(client, south_instance) == [("instance.started", "admin")]
    # sam works at SOUTH: the same task is his to see
    assert client.get(f"/api/v1/tasks/{south_task}", headers=SAM).status_code == 200


def test_a_task_at_your_site_for_another_group_is_403_and_not_listed(client, refunds):
    instance_id, task_id = refunds["north_small"]  # offered to north_billing: bob is not in it
    for method, path, body in (("get", f"/tasks/{task_id}", None),
                               ("post", f"/tasks/{task_id}/claim", {}),
                               ("post", f"/tasks/{task_id}/complete", DECISION)):
        response = getattr(client, method)(f"/api/v1{path}", headers=BOB, json=body)
        assert response.status_code == 403, (path, response.get_json())
        assert problem_type(response) == "forbidden"
    assert task_id not in [t["id"] for t in client.get("/api/v1/tasks", headers=BOB).get_json()]
    # the instance is at bob's site: he may see it and which task it waits on
    seen = client.get(f"/api/v1/process-instances/{instance_id}", headers=BOB)
    assert seen.status_code == 200 and [t["id"] for t in seen.get_json()["openTasks"]] == [task_id]
    assert audit_actions(client, instance_id) == [("instance.started", "admin")]


def test_a_task_claimed_by_someone_else_is_visible_but_not_theirs(client, refunds):
    instance_id, task_id = refunds["north"]  # north_finance: alice and bob are both in it
    claimed = client.post(f"/api/v1/tasks/{task_id}/claim", headers=ALICE, json={})
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "alice"

    assert client.get(f"/api/v1/tasks/{task_id}", headers=BOB).status_code == 200
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=BOB, json={}).status_code == 409
    for action, body in (("complete", DECISION), ("unclaim", None)):
        response = client.post(f"/api/v1/tasks/{task_id}/{action}", headers=BOB, json=body)
        assert response.status_code == 403 and "alice" in response.get_json()["detail"]
    assert client.get(f"/api/v1/tasks/{task_id}").get_json()["assignee"] == "alice"

    # alice may give it back; an admin may take it off her
    assert client.post(f"/api/v1/tasks/{task_id}/unclaim", headers=ALICE).status_code == 200
    client.post(f"/api/v1/tasks/{task_id}/claim", headers=ALICE, json={})
    assert client.post(f"/api/v1/tasks/{task_id}/unclaim").status_code == 200
    assert audit_actions(client, instance_id) == [
        ("instance.started", "admin"), ("task.claimed", "alice"), ("task.unclaimed", "alice"),
        ("task.claimed", "alice"), ("task.unclaimed", "admin")]


def test_only_an_admin_assigns_a_task_to_someone_else(client, refunds):
    _, task_id = refunds["north"]
    refused = client.post(f"/api/v1/tasks/{task_id}/claim", headers=ALICE, json={"assignee": "bob"})
    assert refused.status_code == 403 and problem_type(refused) == "forbidden"
    assigned = client.post(f"/api/v1/tasks/{task_id}/claim", json={"assignee": "bob"})
    assert assigned.status_code == 200 and assigned.get_json()["assignee"] == "bob"
    done = client.post(f"/api/v1/tasks/{task_id}/complete", headers=BOB, json=DECISION)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["task"]["completedBy"] == "bob"


def test_a_candidate_user_sees_a_task_outside_their_groups(client):
    response = upload(client, {"direct.bpmn": user_task_process("direct", candidateUsers="sam",
                                                                candidateGroups="auditors")})
    assert response.status_code == 201, response.get_json()
    started = client.post("/api/v1/process-instances", json={"processKey": "direct", "site": "SOUTH"}).get_json()
    [task] = started["openTasks"]
    assert [t["id"] for t in client.get("/api/v1/tasks", headers=SAM).get_json()] == [task["id"]]
    assert client.post(f"/api/v1/tasks/{task['id']}/complete", headers=SAM, json={}).status_code == 200


def test_staff_start_instances_only_at_their_sites(client, start_routed):
    body = {"processKey": "routed", "site": "SOUTH", "variables": {"group": "south_finance"}}
    refused = client.post("/api/v1/process-instances", headers=ALICE, json=body)
    assert refused.status_code == 403 and problem_type(refused) == "forbidden"
    assert client.get("/api/v1/process-instances").get_json() == []
    started = client.post("/api/v1/process-instances", headers=SAM, json=body)
    assert started.status_code == 201 and started.get_json()["startedBy"] == "sam"


def test_only_analysts_and_admins_deploy(client):
    files = folder_files(PROCESSES / "patient_refund")
    refused = upload(client, files, headers=ALICE)
    assert refused.status_code == 403 and problem_type(refused) == "forbidden"
    assert client.get("/api/v1/deployments").get_json() == []
    deployed = upload(client, files, headers=bearer("analyst"))
    assert deployed.status_code == 201 and deployed.get_json()["createdBy"] == "analyst"
    # everyone signed in may read what is deployed
    assert len(client.get("/api/v1/process-definitions", headers=ALICE).get_json()) == 1


# --- authentication -----------------------------------------------------------

def test_no_or_bad_credentials_get_401_problem_json(anonymous):
    for headers in ({}, {"X-Lanes-User": "admin"}, {"Authorization": "Bearer lanes_not-a-token"},
                    {"Authorization": "Bearer "}, {"Authorization": "Token abc"},
                    basic("alice", "wrong password"), {"Authorization": "Basic !!!"}):
        response = anonymous.get("/api/v1/tasks", headers=headers)
        assert response.status_code == 401, headers
        assert problem_type(response) == "unauthorized"
        assert "Bearer" in response.headers["WWW-Authenticate"]
    assert anonymous.post("/api/v1/process-instances", json={}).status_code == 401
    # the API document itself is public
    assert anonymous.get("/api/v1/openapi.json").status_code == 200


def test_a_revoked_token_is_refused(app, anonymous):
    with app.app_context():
        token, raw = accounts.create_token("alice", "scanner", actor=system_principal())
        token_id = token.id
    headers = {"Authorization": f"Bearer {raw}"}
    assert anonymous.get("/api/v1/tasks", headers=headers).status_code == 200
    with app.app_context():
        accounts.revoke_token(token_id, actor=system_principal())
    refused = anonymous.get("/api/v1/tasks", headers=headers)
    assert refused.status_code == 401 and problem_type(refused) == "unauthorized"


def test_expired_tokens_and_inactive_users_are_refused(app, anonymous):
    with app.app_context():
        _, expired = accounts.create_token("alice", "old", actor=system_principal(),
                                           expires_at=utcnow() - timedelta(seconds=1))
        _, fresh = accounts.create_token("sam", "new", actor=system_principal(),
                                         expires_at=utcnow() + timedelta(days=1))
    assert anonymous.get("/api/v1/tasks", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    assert anonymous.get("/api/v1/tasks", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    with app.app_context():
        accounts.update_user("sam", actor=system_principal(), active=False)
    assert anonymous.get("/api/v1/tasks", headers={"Authorization": f"Bearer {fresh}"}).status_code == 401
    assert anonymous.get("/api/v1/tasks", headers=SAM).status_code == 401


def test_basic_auth_with_a_users_password(app, anonymous):
    with app.app_context():
        accounts.update_user("alice", actor=system_principal(), password="correct horse battery")
    assert anonymous.get("/api/v1/tasks", headers=basic("alice", "correct horse battery")).status_code == 200
    assert anonymous.get("/api/v1/tasks", headers=basic("alice", "correct horse")).status_code == 401
    assert anonymous.get("/api/v1/tasks", headers=basic("nobody", "correct horse battery")).status_code == 401


def test_a_token_scoped_to_one_site_sees_only_that_site(app, client, refunds):
    with app.app_context():
        accounts.update_user("alice", actor=system_principal(), sites=["NORTH", "SOUTH"],
                             groups=["north_finance", "south_finance"])
        _, raw = accounts.create_token("alice", "south desk", actor=system_principal(), sites=["SOUTH"])
    scoped = {"Authorization": f"Bearer {raw}"}
    assert {t["site"] for t in client.get("/api/v1/tasks", headers=ALICE).get_json()} == {"NORTH", "SOUTH"}
    assert {t["site"] for t in client.get("/api/v1/tasks", headers=scoped).get_json()} == {"SOUTH"}
    assert client.get(f"/api/v1/tasks/{refunds['north'][1]}", headers=scoped).status_code == 404
