"""Issue 2 through HTTP on SQLite: deploy, start, task list, claim, complete, versions, 422s.

Since issue 6 the refund checks eligibility (billing) before the approvals and issues, posts and
notifies after them: those are service tasks, run here by a worker drained in-process (sandbox adapters).
"""
from __future__ import annotations

import pytest

from adapters import build_registry
from runner.models import db
from runner.worker import Worker
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import PROCESSES, folder_files, upload

ALICE = bearer("alice")
BOB = bearer("bob")


def start_refund(client, site="NORTH", amount=1800, reason="overpayment", key=None, business_key="ACC-1"):
    headers = dict(ALICE)
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/process-instances", headers=headers, json={
        "processKey": "patient_refund", "site": site, "businessKey": business_key,
        "variables": {"amount": amount, "reason": reason, "patient_account": "PA-100"}})


@pytest.fixture
def worker(app):
    """Runs the refund's service tasks (eligibility check, payout) against the sandbox adapters."""
    with app.app_context():
        registry = build_registry(db.engine, env={})
    return Worker(app, name="skeleton-worker", registry=registry)


def only_task(client, instance_id):
    tasks = client.get(f"/api/v1/tasks?instanceId={instance_id}").get_json()
    assert len(tasks) == 1, tasks
    return tasks[0]


def test_deploy_then_identical_redeploy_is_a_no_op(client):
    first = upload(client, folder_files(PROCESSES / "patient_refund"))
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["created"] is True
    assert [(d["processKey"], d["version"]) for d in body["processDefinitions"]] == [("patient_refund", 1)]
    assert {"patient_refund.bpmn", "refund_approval.dmn", "refund_first_approval.form"} <= set(body["files"])

    again = upload(client, folder_files(PROCESSES / "patient_refund"))
    assert again.status_code == 200
    assert again.get_json()["created"] is False
    assert again.get_json()["id"] == body["id"]
    assert len(client.get("/api/v1/process-definitions").get_json()) == 1


def test_north_refund_of_1800_goes_to_the_dmn_group_and_completes(client, deploy_refund, worker):
    deploy_refund()
    response = start_refund(client)
    assert response.status_code == 201, response.get_json()
    instance = response.get_json()
    assert instance["state"] == "running"
    assert instance["version"] == 1
    assert instance["currentActivities"] == ["check_eligibility"]
    worker.drain()
    instance = client.get(f"/api/v1/process-instances/{instance['id']}").get_json()
    assert instance["currentActivities"] == ["first_approval"]
    assert instance["variables"]["approval"]["approver_group"] == "north_finance"

    listed = client.get("/api/v1/tasks?site=NORTH&candidateGroup=north_finance").get_json()
    assert [t["instanceId"] for t in listed] == [instance["id"]]
    assert client.get("/api/v1/tasks?candidateGroup=north_billing").get_json() == []
    assert client.get("/api/v1/tasks?site=SOUTH").get_json() == []
    task = listed[0]
    assert task["elementId"] == "first_approval" and task["dueAt"] is not None
    assert task["candidateGroups"] == ["north_finance"]

    claimed = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=ALICE, json={})
    assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "alice"
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=BOB, json={}).status_code == 409
    assert client.get("/api/v1/tasks?assignee=alice").get_json()[0]["id"] == task["id"]

    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=ALICE,
                       json={"variables": {"decision": "approve", "comment": "verified overpayment"}})
    assert done.status_code == 200, done.get_json()
    # 1,800 at NORTH needs a second approval (DMN rule 2)
    second = only_task(client, instance["id"])
    assert second["elementId"] == "second_approval"
    assert second["candidateGroups"] == ["refund_controllers"]

    done = client.post(f"/api/v1/tasks/{second['id']}/complete", headers=BOB,
                       json={"variables": {"second_decision": "approve", "second_comment": "ok"}})
    assert done.status_code == 200, done.get_json()
    worker.drain()  # issue the refund, post it to the ERP, notify the patient
    final = client.get(f"/api/v1/process-instances/{instance['id']}").get_json()
    assert final["state"] == "completed"
    assert final["endEvent"] == "refund_approved"
    assert final["variables"]["outcome"] == "approved"
    assert final["currentActivities"] == [] and final["openTasks"] == []

    actions = [e["action"] for e in client.get(f"/api/v1/process-instances/{instance['id']}/audit").get_json()]
    assert actions == ["instance.started", "job.completed", "task.claimed", "task.completed", "task.completed",
                       "job.completed", "job.completed", "job.completed", "instance.completed"]


def test_task_list_filters_by_process_and_assignee(client, deploy_refund, worker):
    from tests.security.bpmn import user_task_process
    deploy_refund()
    assert upload(client, {"intake.bpmn": user_task_process("intake", candidateGroups="north_finance")}
                  ).status_code == 201
    refund = start_refund(client).get_json()
    worker.drain()
    intake = client.post("/api/v1/process-instances", headers=ALICE,
                         json={"processKey": "intake", "site": "NORTH"}).get_json()
    refund_task, intake_task = only_task(client, refund["id"]), only_task(client, intake["id"])
    assert client.post(f"/api/v1/tasks/{refund_task['id']}/claim", headers=ALICE, json={}).status_code == 200

    def listed(query, headers=None):
        return sorted(t["id"] for t in client.get(f"/api/v1/tasks?{query}", headers=headers or {}).get_json())

    assert listed("candidateGroup=north_finance") == sorted([refund_task["id"], intake_task["id"]])
    assert listed("processKey=intake") == [intake_task["id"]]
    assert listed("processKey=patient_refund") == [refund_task["id"]]
    assert listed("assignee=alice") == [refund_task["id"]]
    assert listed("assignee=bob") == []
    assert listed("processKey=intake&assignee=alice") == []
    assert listed("processKey=intake", headers=BOB) == [intake_task["id"]]


def test_small_refund_elsewhere_takes_the_default_row_and_a_rejection_ends_it(client, deploy_refund, worker):
    deploy_refund()
    instance = start_refund(client, site="WEST", amount=120).get_json()
    worker.drain()
    task = only_task(client, instance["id"])
    assert task["candidateGroups"] == ["billing_office"]
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=ALICE,
                       json={"variables": {"decision": "reject", "comment": "not a credit balance"}})
    assert done.status_code == 200
    final = client.get(f"/api/v1/process-instances/{instance['id']}").get_json()
    assert (final["state"], final["endEvent"]) == ("completed", "refund_rejected")


def test_invalid_form_data_gets_422_with_field_errors_and_changes_nothing(client, deploy_refund, worker):
    deploy_refund()
    instance = start_refund(client).get_json()
    worker.drain()
    task = only_task(client, instance["id"])
    before = client.get(f"/api/v1/process-instances/{instance['id']}").get_json()

    response = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=ALICE,
                           json={"variables": {"decision": "maybe", "approved_amount": -5, "hacker": 1}})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"].endswith("/validation-error")
    assert set(problem["errors"]) >= {"decision", "approved_amount", "comment", "hacker"}

    after = client.get(f"/api/v1/process-instances/{instance['id']}").get_json()
    assert after == before
    assert only_task(client, instance["id"])["state"] == "open"
    actions = [e["action"] for e in client.get(f"/api/v1/process-instances/{instance['id']}/audit").get_json()]
    assert actions == ["instance.started", "job.completed"]


def test_malformed_bpmn_gets_422_naming_the_file(client):
    files = folder_files(PROCESSES / "patient_refund")
    files["patient_refund.bpmn"] = files["patient_refund.bpmn"].replace(b"</bpmn:process>", b"", 1)
    response = upload(client, files)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problems = response.get_json()["problems"]
    assert problems[0]["file"] == "patient_refund.bpmn"
    assert "well-formed" in problems[0]["message"]
    assert client.get("/api/v1/deployments").get_json() == []


def test_invalid_elements_are_each_named(client, tmp_path):
    marker = tmp_path / "pwned"
    files = folder_files(PROCESSES / "patient_refund")
    bpmn = files["patient_refund.bpmn"].decode()
    bpmn = bpmn.replace('${decision == "reject"}', f"${{__import__('os').system('touch {marker}')}}")
    bpmn = bpmn.replace('camunda:formRef="refund_second_approval"', 'camunda:formRef="no_such_form"')
    bpmn = bpmn.replace('camunda:decisionRef="refund_approval"', 'camunda:decisionRef="no_such_table"')
    files["patient_refund.bpmn"] = bpmn.encode()
    response = upload(client, files)
    assert response.status_code == 422
    by_element = {p["element_id"]: p["message"] for p in response.get_json()["problems"]}
    assert "first_rejected" in by_element and "condition" in by_element["first_rejected"]
    assert "no_such_form" in by_element["second_approval"]
    assert "no_such_table" in by_element["decide_approval"]
    assert not marker.exists()


def test_a_flow_to_an_element_that_does_not_exist_names_the_flow(client):
    files = folder_files(PROCESSES / "patient_refund")
    files["patient_refund.bpmn"] = files["patient_refund.bpmn"].replace(
        b'sourceRef="decide_approval" targetRef="first_approval"', b'sourceRef="decide_approval" targetRef="nowhere"')
    response = upload(client, files)
    assert response.status_code == 422
    [problem] = response.get_json()["problems"]
    assert (problem["file"], problem["element_id"]) == ("patient_refund.bpmn", "flow_to_first_approval")
    assert problem["message"] == ("sequence flow leads to 'nowhere' (targetRef), which is not an element of "
                                  "patient_refund")
    assert client.get("/api/v1/deployments").get_json() == []


def test_unsupported_camunda_extension_is_a_deploy_error(client):
    files = folder_files(PROCESSES / "patient_refund")
    files["patient_refund.bpmn"] = files["patient_refund.bpmn"].replace(
        b'camunda:dueDate="P2D"', b'camunda:dueDate="P2D" camunda:followUpDate="P1D"', 1)
    response = upload(client, files)
    assert response.status_code == 422
    [problem] = response.get_json()["problems"]
    assert problem["element_id"] == "first_approval" and "followUpDate" in problem["message"]


def test_running_instance_keeps_version_1_after_version_2_is_deployed(client, deploy_refund, worker):
    deploy_refund()
    old = start_refund(client, business_key="OLD").get_json()

    files = folder_files(PROCESSES / "patient_refund")
    files["patient_refund.bpmn"] = files["patient_refund.bpmn"].replace(b'name="Approve refund"',
                                                                        b'name="Review refund"')
    v2 = deploy_refund(files)
    assert v2["created"] is True
    assert [(d["processKey"], d["version"]) for d in v2["processDefinitions"]] == [("patient_refund", 2)]

    new = start_refund(client, business_key="NEW").get_json()
    assert new["version"] == 2
    worker.drain()
    assert only_task(client, new["id"])["name"] == "Review refund"
    old_task = only_task(client, old["id"])
    assert old_task["name"] == "Approve refund"

    client.post(f"/api/v1/tasks/{old_task['id']}/complete", headers=ALICE,
                json={"variables": {"decision": "reject", "comment": "duplicate request"}})
    final = client.get(f"/api/v1/process-instances/{old['id']}").get_json()
    assert (final["state"], final["version"], final["endEvent"]) == ("completed", 1, "refund_rejected")


def test_idempotency_key_returns_the_same_instance(client, deploy_refund):
    deploy_refund()
    first = start_refund(client, key="req-42")
    again = start_refund(client, key="req-42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    assert len(client.get("/api/v1/process-instances").get_json()) == 1
    different = start_refund(client, key="req-42", amount=99)
    assert different.status_code == 409
    assert different.get_json()["type"].endswith("/conflict")


def test_bad_start_requests_get_clear_errors(client, deploy_refund):
    deploy_refund()
    unknown = client.post("/api/v1/process-instances", json={"processKey": "nope", "site": "NORTH"})
    assert unknown.status_code == 404 and "nope" in unknown.get_json()["detail"]
    no_site = client.post("/api/v1/process-instances", json={"processKey": "patient_refund"})
    assert no_site.status_code == 422 and "site" in no_site.get_json()["errors"]
    not_json = client.post("/api/v1/process-instances", data="x", content_type="text/plain")
    assert not_json.status_code == 422
    missing = client.get("/api/v1/process-instances/doesnotexist")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert client.get("/api/v1/no-such-route").mimetype == "application/problem+json"


def test_nul_bytes_and_overlong_keys_are_refused_before_the_database(client, deploy_refund):
    deploy_refund()
    long_key = client.post("/api/v1/process-instances", headers={"Idempotency-Key": "k" * 201}, json={
        "processKey": "patient_refund", "site": "NORTH", "variables": {"amount": 5, "reason": "overpayment"}})
    assert long_key.status_code == 422 and "Idempotency-Key" in long_key.get_json()["detail"]
    nul_key = client.post("/api/v1/process-instances", json={
        "processKey": "patient_refund", "site": "NORTH", "businessKey": "a\x00b", "variables": {}})
    assert nul_key.status_code == 422
    for url in ("/api/v1/process-instances?businessKey=a%00b", "/api/v1/tasks?assignee=%00",
                "/api/v1/process-instances/ab%00cd"):
        response = client.get(url)
        assert response.status_code == 422 and "NUL" in response.get_json()["detail"], url
    assert client.get("/api/v1/process-instances").get_json() == []


def test_an_instance_that_ends_as_it_starts_is_audited_started_then_completed_by_its_starter(client):
    from tests.security.bpmn import script_process
    assert upload(client, {"straight.bpmn": script_process("straight", "total = amount * 2")}).status_code == 201
    response = client.post("/api/v1/process-instances", headers=ALICE, json={
        "processKey": "straight", "site": "NORTH", "variables": {"amount": 21}})
    body = response.get_json()
    assert response.status_code == 201, body
    assert (body["state"], body["endEvent"], body["variables"]["total"], body["openTasks"]) == (
        "completed", "done", 42, [])
    history = client.get(f"/api/v1/process-instances/{body['id']}/audit").get_json()
    assert [(e["action"], e["actor"]) for e in history] == [("instance.started", "alice"),
                                                           ("instance.completed", "alice")]
    assert [i["id"] for i in client.get("/api/v1/process-instances?processKey=straight").get_json()] == [body["id"]]


def test_a_task_list_over_several_sites_is_one_order_and_pages_through_it(app, client):
    """alice works at NORTH and WEST: the list merges both sites' tasks in due order, page by page."""
    from tests.accounts_fixtures import add_test_users
    from tests.security.bpmn import user_task_process
    add_test_users(app, {"wendy": (["staff"], ["WEST"], ["north_finance"])})
    assert upload(client, {"due.bpmn": user_task_process("due", candidateGroups="north_finance",
                                                         dueDate="${due}")}).status_code == 201
    dues = {"NORTH": ["2031-01-02", "2031-01-05", "2031-01-06"], "WEST": ["2031-01-01", "2031-01-03", "2031-01-04"]}
    for site, days in dues.items():
        for day in days:
            started = client.post("/api/v1/process-instances", json={
                "processKey": "due", "site": site, "businessKey": f"{site}-{day}",
                "variables": {"due": f"{day}T12:00:00Z"}})
            assert started.status_code == 201, started.get_json()

    def page(query):
        return [t["businessKey"] for t in client.get(f"/api/v1/tasks?{query}", headers=ALICE).get_json()]

    everything = sorted((day, f"{site}-{day}") for site, days in dues.items() for day in days)
    assert page("limit=100") == [key for _, key in everything]
    assert page("limit=2") == ["WEST-2031-01-01", "NORTH-2031-01-02"]
    assert page("limit=2&offset=2") == ["WEST-2031-01-03", "WEST-2031-01-04"]
    assert page("limit=2&offset=4") == ["NORTH-2031-01-05", "NORTH-2031-01-06"]
    assert page("site=WEST&limit=100") == ["WEST-2031-01-01", "WEST-2031-01-03", "WEST-2031-01-04"]
    assert [t["businessKey"] for t in client.get("/api/v1/tasks", headers=bearer("wendy")).get_json()] == [
        "WEST-2031-01-01", "WEST-2031-01-03", "WEST-2031-01-04"]


def test_a_due_date_expression_giving_a_date_time_with_an_offset_is_stored_in_utc(app, client):
    """12:00 at UTC+2 is due at 10:00 UTC, whether the expression gives the ISO text or a datetime of it
    (stripping the offset instead would move every SLA figure of the task by it)."""
    from tests.security.bpmn import user_task_process
    for key, expression in (("due_text", "${due}"), ("due_datetime", "${datetime.fromisoformat(due)}")):
        assert upload(client, {f"{key}.bpmn": user_task_process(key, candidateGroups="north_finance",
                                                                dueDate=expression)}).status_code == 201
        started = client.post("/api/v1/process-instances", json={
            "processKey": key, "site": "NORTH", "variables": {"due": "2031-03-01T12:00:00+02:00"}})
        assert started.status_code == 201, started.get_json()
        [task] = client.get(f"/api/v1/tasks?instanceId={started.get_json()['id']}", headers=ALICE).get_json()
        assert task["dueAt"] == "2031-03-01T10:00:00Z", key


@pytest.mark.parametrize("due", ["P999999999D", "P9999999999D", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_a_due_date_outside_the_calendar_is_a_deploy_error(client, due):
    from tests.security.bpmn import user_task_process
    response = upload(client, {"far.bpmn": user_task_process("far", candidateGroups="north_finance", dueDate=due)})
    assert response.status_code == 422, response.get_json()
    [problem] = response.get_json()["problems"]
    assert problem["element_id"] == "review" and due in problem["message"]


def test_a_due_date_expression_outside_the_calendar_stops_the_start_with_a_process_error(client):
    from tests.security.bpmn import user_task_process
    assert upload(client, {"far.bpmn": user_task_process("far", candidateGroups="north_finance",
                                                         dueDate="${due}")}).status_code == 201
    response = client.post("/api/v1/process-instances", json={
        "processKey": "far", "site": "NORTH", "variables": {"due": "P999999999D"}})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["elementId"] == "review"
