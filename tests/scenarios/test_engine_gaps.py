"""Engine gaps met while modelling the issue 6 process library, now closed; these tests keep them closed.

Each test states what the process library needed: multi-instance over a collection across processes,
a `${collection}` expression, camunda:inputOutput outside service tasks (refused at deploy, naming the
element), and the audit row of an instance that a job completes.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from runner.engine import ProcessRuntime, parse_deployment
from tests.accounts_fixtures import bearer
from tests.helpers import upload

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="gap_defs" targetNamespace="http://bpmn.io/schema/bpmn">\n')


def line_approvals(collection: str, sequential: bool) -> bytes:
    """One approval per requisition line: a multi-instance user task over a collection, Camunda 7 style."""
    return (HEAD + f'''<bpmn:process id="line_approvals" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve_line" />
    <bpmn:userTask id="approve_line" name="Approve line" camunda:candidateGroups="${{line.approver}}">
      <bpmn:multiInstanceLoopCharacteristics isSequential="{str(sequential).lower()}" camunda:collection="{collection}" camunda:elementVariable="line" />
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="approve_line" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>''').encode()


LINES = [{"description": "Infusion pump", "approver": "biomed"}, {"description": "Gloves", "approver": "supply"}]


def fresh_runtime(bpmn: bytes) -> ProcessRuntime:
    """A new parse of the same version, as another gunicorn worker, the job worker or a restart has."""
    parsed = parse_deployment({"line_approvals.bpmn": bpmn})
    return ProcessRuntime(parsed.processes["line_approvals"], parsed)


@pytest.mark.parametrize("sequential", [True, False], ids=["sequential", "parallel"])
def test_multi_instance_over_a_collection_survives_another_process(sequential):
    """SpiffWorkflow's Camunda multi-instance spec sets its data_input/input_item only when the loop starts
    (SpiffWorkflow/camunda/specs/multiinstance_task.py, update_task_spec), on the parsed spec of the process
    that starts it. Another process (web vs. job worker, another gunicorn worker, a restart) has a fresh parse
    without them: sequentially the loop never creates the next child and ends after the first line; in
    parallel each answer is appended to the collection instead of replacing its item.
    purchase_requisition uses a sequential gateway loop meanwhile."""
    bpmn = line_approvals("lines", sequential)
    state = ProcessRuntime.dump(fresh_runtime(bpmn).start({"lines": [dict(x) for x in LINES]}))
    approved = []
    for _ in range(len(LINES)):
        runtime = fresh_runtime(bpmn)
        workflow = runtime.load(state)
        ready = runtime.ready_user_tasks(workflow, datetime(2026, 1, 1))
        if not ready:
            break
        approved.append(ready[0].candidate_groups)
        runtime.complete_user_task(workflow, ready[0].spiff_task_id, {"line": {"decision": "approve"}})
        state = runtime.dump(workflow)
    final = fresh_runtime(bpmn).load(state)
    assert approved == [["biomed"], ["supply"]]
    assert final.is_completed()
    assert len(ProcessRuntime.variables(final)["lines"]) == len(LINES)


def test_collection_expression_is_supported_or_refused_at_deploy(client):
    """Camunda 7 allows an expression as the collection; SpiffWorkflow takes the text as a variable name, so
    starting fails with 'Missing data input' (sequential) or, in parallel, an uncaught TypeError the API
    answers with a 500. It should work, or be a deploy-time problem naming the element."""
    response = upload(client, {"line_approvals.bpmn": line_approvals("${lines}", sequential=False)})
    if response.status_code == 422:
        assert any(p["element_id"] == "approve_line" for p in response.get_json()["problems"])
        return
    started = client.post("/api/v1/process-instances", json={
        "processKey": "line_approvals", "site": "NORTH", "variables": {"lines": LINES}})
    assert started.status_code == 201, started.get_json()
    assert len(client.get(f"/api/v1/tasks?instanceId={started.get_json()['id']}").get_json()) == 2


def test_output_mapping_on_a_user_task_is_applied_or_refused(client):
    """camunda:inputParameter/outputParameter on user, script and business rule tasks deploy but are never
    applied (only service tasks run their mappings), against DESIGN.md's "never a silent skip". Setting
    `status` at each stage by output mappings, as Camunda users do, does nothing; the processes use script
    tasks meanwhile."""
    bpmn = (HEAD + '''<bpmn:process id="mapped" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:userTask id="review" name="Review" camunda:candidateGroups="north_billing">
      <bpmn:extensionElements>
        <camunda:inputOutput>
          <camunda:outputParameter name="status">reviewed</camunda:outputParameter>
        </camunda:inputOutput>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>''').encode()
    response = upload(client, {"mapped.bpmn": bpmn})
    if response.status_code == 422:
        assert any(p["element_id"] == "review" for p in response.get_json()["problems"])
        return
    started = client.post("/api/v1/process-instances", json={"processKey": "mapped", "site": "NORTH"}).get_json()
    [task] = client.get(f"/api/v1/tasks?instanceId={started['id']}").get_json()
    client.post(f"/api/v1/tasks/{task['id']}/complete", json={"variables": {}})
    final = client.get(f"/api/v1/process-instances/{started['id']}").get_json()
    assert final["variables"].get("status") == "reviewed"


def test_instance_completed_by_a_job_is_audited(scenario):
    """An instance whose last step is a service task (patient_refund's notify_patient) completes in the
    job worker, which records job.completed but not instance.completed; services/tasks.py records it
    when a user task completes the instance."""
    scenario.deploy("patient_refund")
    started = scenario.start("patient_refund", "CLINIC-12", "PA-1002", patient_account="PA-1002", amount=75,
                             reason="overpayment")
    checked = scenario.drain(started["id"])
    final = scenario.work(checked["id"], "cleo", "first_approval", decision="approve", comment="ok")
    assert final["state"] == "completed"
    actions = [e["action"] for e in scenario.client.get(f"/api/v1/process-instances/{final['id']}/audit").get_json()]
    assert actions[-1] == "instance.completed"
