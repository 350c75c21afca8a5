"""Issue 10: migrate 100 patient_refund version-1 instances to a changed version 2, dry run first."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from adapters import build_registry
from runner.models import db
from runner.worker import Worker
from tests.accounts_fixtures import client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import PROCESSES, folder_files, upload

BPMN = "patient_refund.bpmn"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"


def version_2(files: dict[str, bytes]) -> dict[str, bytes]:
    """The analysts' change: the second approval becomes a controller review (a new element id) and
    the first approval gets three days instead of two."""
    tree = etree.fromstring(files[BPMN])
    for node in tree.iter():
        for attr in ("id", "sourceRef", "targetRef", "bpmnElement"):
            if node.get(attr) == "second_approval":
                node.set(attr, "controller_review")
    review = tree.find(f".//{{{BPMN_NS}}}userTask[@id='controller_review']")
    review.set("name", "Controller review")
    first = tree.find(f".//{{{BPMN_NS}}}userTask[@id='first_approval']")
    first.set(f"{{{CAMUNDA_NS}}}dueDate", "P3D")
    return {**files, BPMN: etree.tostring(tree, xml_declaration=True, encoding="UTF-8")}


@pytest.fixture
def worker(app):
    with app.app_context():
        registry = build_registry(db.engine, env={})
    return Worker(app, name="migration-test-worker", poll_seconds=0.05, registry=registry)


def start(client, site, amount, n):
    response = client.post("/api/v1/process-instances", json={
        "processKey": "patient_refund", "site": site, "businessKey": f"REF-{n:03d}",
        "variables": {"amount": amount, "reason": "overpayment", "patient_account": f"PA-{n:03d}"}})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def open_task(client, instance_id):
    [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}").get_json()
    return task


def complete(client, instance_id, **variables):
    task = open_task(client, instance_id)
    response = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": variables})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["instance"]


def migrate(client, **body):
    response = client.post("/api/v1/admin/migrations", json={"processKey": "patient_refund", "fromVersion": 1,
                                                              "toVersion": 2, **body})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_one_hundred_refunds_move_to_version_2_after_a_dry_run(client, worker):
    v1 = folder_files(PROCESSES / "patient_refund")
    assert upload(client, v1).status_code == 201

    # 100 running version-1 instances, waiting at four different steps (and at another site)
    at_first = [start(client, "NORTH", 1800, n) for n in range(30)]                 # first approval, then a 2nd
    south_first = [start(client, "SOUTH", 1200, n) for n in range(30, 40)]          # another site
    at_second = [start(client, "NORTH", 1500, n) for n in range(40, 70)]            # second approval
    small = [start(client, "NORTH", 500, n) for n in range(70, 90)]                  # no second approval
    worker.drain()  # the eligibility checks
    at_eligibility = [start(client, "NORTH", 900, n) for n in range(90, 100)]       # the billing check waits
    for instance_id in at_second + small:
        complete(client, instance_id, decision="approve", comment="verified")
    waiting = {i: tuple(client.get(f"/api/v1/process-instances/{i}").get_json()["currentActivities"])
               for i in at_first + south_first + at_second + small + at_eligibility}
    assert len(waiting) == 100
    assert {waiting[i] for i in at_first + south_first} == {("first_approval",)}
    assert {waiting[i] for i in at_second} == {("second_approval",)}
    assert {waiting[i] for i in small} == {("issue_refund",)}                      # a job waits: the refund call
    assert {waiting[i] for i in at_eligibility} == {("check_eligibility",)}

    assert upload(client, version_2(v1)).get_json()["processDefinitions"][0]["version"] == 2

    # dry run: every running NORTH instance is checked, nothing moves
    dry = migrate(client, site="NORTH")
    running_north = len(at_first) + len(at_second) + len(small) + len(at_eligibility)
    assert dry["dryRun"] is True and dry["summary"]["selected"] == running_north
    assert dry["suggestedMapping"] == {"second_approval": "controller_review"}
    assert dry["changedElements"]["first_approval"] == ["camunda:dueDate"]
    blocked = {m["instanceId"]: m for m in dry["cannotMove"]}
    assert set(blocked) == set(at_second)
    assert blocked[at_second[0]]["activities"] == ["second_approval"]
    assert blocked[at_second[0]]["reasons"] == [
        "waits at second_approval, which version 2 does not have; map it to an activity of version 2 "
        "(perhaps controller_review)"]
    movable = {m["instanceId"]: m for m in dry["canMove"]}
    assert set(movable) == set(at_first) | set(small) | set(at_eligibility)
    assert movable[at_first[0]]["activitiesAfter"] == ["first_approval"]
    assert all(client.get(f"/api/v1/process-instances/{i}").get_json()["version"] == 1 for i in at_first[:3])

    # move those that can; the others stay on version 1, with the reason
    done = migrate(client, site="NORTH", dryRun=False)
    assert done["summary"]["moved"] == len(movable) and {m["instanceId"] for m in done["cannotMove"]} == set(blocked)
    moved = client.get(f"/api/v1/process-instances/{at_first[0]}").get_json()
    assert (moved["version"], moved["currentActivities"]) == (2, ["first_approval"])
    assert client.get(f"/api/v1/process-instances/{at_second[0]}").get_json()["version"] == 1
    [entry] = [e for e in client.get(f"/api/v1/process-instances/{at_first[0]}/audit").get_json()
               if e["action"] == "instance.migrated"]
    assert entry["actor"] == "admin"
    assert (entry["details"]["from_version"], entry["details"]["to_version"]) == (1, 2)
    assert client.get(f"/api/v1/process-instances/{south_first[0]}").get_json()["version"] == 1

    # the admin maps the renamed activity: the rest can move and do
    mapping = {"second_approval": "controller_review"}
    second_dry = migrate(client, mapping=mapping)
    assert {m["instanceId"] for m in second_dry["canMove"]} == set(at_second) | set(south_first)
    assert second_dry["cannotMove"] == []
    assert migrate(client, mapping=mapping, dryRun=False)["summary"]["moved"] == len(at_second) + len(south_first)
    assert migrate(client)["summary"]["selected"] == 0
    listed = client.get("/api/v1/process-instances?processKey=patient_refund&limit=200").get_json()
    assert len(listed) == 100 and {i["version"] for i in listed} == {2}

    # moved tokens keep their tasks (claims, due dates) under the new element; the rest runs on version 2
    review = open_task(client, at_second[0])
    assert (review["elementId"], review["name"], review["candidateGroups"]) == (
        "controller_review", "Controller review", ["refund_controllers"])
    complete(client, at_second[0], second_decision="approve")
    after_first = complete(client, at_first[0], decision="approve", comment="ok")
    assert after_first["currentActivities"] == ["controller_review"] and after_first["version"] == 2
    # the billing calls that waited moved with their instances and now run on version 2
    [job] = client.get(f"/api/v1/process-instances/{small[0]}/jobs").get_json()
    assert job["elementId"] == "issue_refund"
    worker.drain()
    # an instance that moved before its first approval gets version 2's due date for it (P3D, not P2D)
    first_after_move = open_task(client, at_eligibility[0])
    assert first_after_move["elementId"] == "first_approval"
    due_in = datetime.fromisoformat(first_after_move["dueAt"].rstrip("Z")) - datetime.fromisoformat(
        first_after_move["createdAt"].rstrip("Z"))
    assert timedelta(days=3) - timedelta(minutes=1) < due_in <= timedelta(days=3)
    for instance_id in (at_second[0], small[0]):
        final = client.get(f"/api/v1/process-instances/{instance_id}").get_json()
        assert (final["version"], final["state"], final["endEvent"]) == (2, "completed", "refund_approved")


def test_migration_is_for_admins_and_checks_its_mapping(client):
    v1 = folder_files(PROCESSES / "patient_refund")
    upload(client, v1)
    upload(client, version_2(v1))
    from tests.accounts_fixtures import bearer
    assert client.post("/api/v1/admin/migrations", headers=bearer("alice"), json={
        "processKey": "patient_refund", "fromVersion": 1, "toVersion": 2}).status_code == 403
    bad = client.post("/api/v1/admin/migrations", json={
        "processKey": "patient_refund", "fromVersion": 1, "toVersion": 2, "mapping": {"second_approval": "nowhere"}})
    assert bad.status_code == 422 and "second_approval" in bad.get_json()["errors"]["mapping"]
    assert client.post("/api/v1/admin/migrations", json={
        "processKey": "patient_refund", "fromVersion": 1, "toVersion": 7}).status_code == 404


def test_a_moved_instance_counts_its_open_task_under_the_new_version_and_its_done_ones_under_the_old(
        client, worker):
    assert upload(client, folder_files(PROCESSES / "patient_refund")).status_code == 201
    instance_id = start(client, "NORTH", 1500, 1)
    worker.drain()
    complete(client, instance_id, decision="approve", comment="verified")  # first approval, under version 1
    assert upload(client, version_2(folder_files(PROCESSES / "patient_refund"))).status_code == 201
    migrate(client, mapping={"second_approval": "controller_review"}, dryRun=False)

    def metric(path, rows, *names):
        body = client.get(f"/api/v1/metrics/{path}?processKey=patient_refund").get_json()
        return [tuple(r[n] for n in names) for r in body[rows]]
    assert metric("queue-aging", "rows", "version", "elementId", "open") == [(2, "controller_review", 1)]
    assert metric("cycle-times", "stages", "version", "elementId", "count") == [(1, "first_approval", 1)]
    assert metric("sla", "rows", "version", "elementId", "completed", "openWithDue") == [
        (1, "first_approval", 1, 0), (2, "controller_review", 0, 1)]


def test_waiting_timers_keep_their_due_time_when_their_instance_moves(client):
    original = (Path(__file__).parent / "fixtures" / "jobs" / "sla_escalation.bpmn").read_bytes()
    assert upload(client, {"sla_escalation.bpmn": original}).status_code == 201
    started = client.post("/api/v1/process-instances", json={
        "processKey": "sla_escalation", "site": "NORTH", "businessKey": "BK-9", "variables": {"hard_deadline": "PT1H"}})
    instance_id = started.get_json()["id"]
    jobs_before = client.get(f"/api/v1/process-instances/{instance_id}/jobs").get_json()
    changed = original.replace(b'name="Review claim"', b'name="Review the denied claim"')
    assert upload(client, {"sla_escalation.bpmn": changed}).get_json()["processDefinitions"][0]["version"] == 2
    time.sleep(0.6)  # the SLA timer falls due meanwhile: it is still its job's to fire, not the migration's

    report = client.post("/api/v1/admin/migrations", json={
        "processKey": "sla_escalation", "fromVersion": 1, "toVersion": 2, "dryRun": False}).get_json()
    assert report["summary"]["moved"] == 1, report
    jobs_after = client.get(f"/api/v1/process-instances/{instance_id}/jobs").get_json()
    assert sorted((j["elementId"], j["dueAt"]) for j in jobs_after) == \
        sorted((j["elementId"], j["dueAt"]) for j in jobs_before)
    moved = client.get(f"/api/v1/process-instances/{instance_id}").get_json()
    assert (moved["version"], moved["currentActivities"]) == (2, ["review"])
    [task] = client.get(f"/api/v1/tasks?instanceId={instance_id}").get_json()
    assert task["name"] == "Review the denied claim"
