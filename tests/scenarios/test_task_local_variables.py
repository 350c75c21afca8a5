"""A human task's own variables (human_tasks.local_variables, `localVariables` in the API).

purchase_requisition's approve_line is a parallel multi-instance user task over `line_reviews` with the
element variable `line`: each open task must show, through GET /api/v1/tasks and /tasks/{id}, the line
it is for, without the caller reading the workflow; and completing it with {"line": {"decision": ...}}
(the form's keys line.decision / line.comment) must add to that line, not replace it.
"""
from __future__ import annotations

import json

from runner.models import HumanTask, db
from tests.accounts_fixtures import bearer
from tests.helpers import upload

from .test_purchase_requisition import NORTH_LINES, complete, open_tasks, requisition

VERA = bearer("vera")


def at_line_approvals(scenario, number="REQ-7001"):
    """A NORTH three-line requisition (lines 1 and 3 above the 1,000 threshold) at its line approvals."""
    checked = requisition(scenario, "NORTH", number, "CC-100", "clinical_supplies", NORTH_LINES)
    first = scenario.task(checked["id"], "nate")
    assert first["elementId"] == "approve_requisition"
    assert first["localVariables"] == {}   # a plain user task sees the instance's variables only
    scenario.work(checked["id"], "nate", "approve_requisition", approval_decision="approve", approval_comment="ok")
    return checked["id"]


def test_each_line_task_in_the_task_list_shows_its_own_line(scenario):
    instance_id = at_line_approvals(scenario)
    tasks = open_tasks(scenario, instance_id, "vera")
    assert [t["elementId"] for t in tasks] == ["approve_line", "approve_line"]
    lines = sorted((t["localVariables"]["line"] for t in tasks), key=lambda line: line["line_no"])
    assert lines == [
        {"description": "Infusion tubing set", "quantity": 40, "unit_price": 30, "line_no": 1, "line_total": 1200},
        {"description": "Vein finder", "quantity": 1, "unit_price": 2500, "line_no": 3, "line_total": 2500}]
    # only what is the task's own: the instance's variables are not repeated in it
    assert all(set(t["localVariables"]) == {"line"} for t in tasks)

    for task in tasks:
        one = scenario.client.get(f"/api/v1/tasks/{task['id']}", headers=VERA)
        assert one.status_code == 200, one.get_json()
        assert one.get_json()["localVariables"] == task["localVariables"]
        assert one.get_json()["form"]["id"] == "requisition_line_approval"


def test_completing_a_line_task_adds_the_answers_to_its_line(scenario):
    instance_id = at_line_approvals(scenario, "REQ-7002")
    by_line = {t["localVariables"]["line"]["line_no"]: t for t in open_tasks(scenario, instance_id, "vera")}

    halfway = complete(scenario, by_line[3], "vera", line={"decision": "approve"})
    assert halfway["currentActivities"] == ["approve_line"]
    # the multi-instance output: line 3's review is the whole line plus the decision, not {"decision": ...}
    assert halfway["variables"]["line_reviews"][1] == {
        "description": "Vein finder", "quantity": 1, "unit_price": 2500, "line_no": 3, "line_total": 2500,
        "decision": "approve"}
    # the other line's task still shows its own line, unchanged
    [left] = open_tasks(scenario, instance_id, "vera")
    assert left["id"] == by_line[1]["id"] and left["localVariables"]["line"]["description"] == "Infusion tubing set"

    final = complete(scenario, by_line[1], "vera", **{"line.decision": "reject", "line.comment": "Have stock"})
    assert (final["state"], final["endEvent"]) == ("completed", "po_created")
    assert [(l["line_no"], l["description"], l.get("approval"), l.get("approval_comment"))
            for l in final["variables"]["lines"]] == [
        (1, "Infusion tubing set", "reject", "Have stock"), (2, "Nitrile gloves, box of 100", None, None),
        (3, "Vein finder", "approve", "")]
    [po] = scenario.effects("erp", "create_purchase_order")
    assert [l["line_no"] for l in po["inputs"]["lines"]] == [2, 3]
    done = scenario.client.get(f"/api/v1/tasks/{by_line[1]['id']}", headers=VERA).get_json()
    assert (done["state"], done["localVariables"]["line"]["line_no"]) == ("completed", 1)


def test_a_task_row_from_before_migration_0009_gets_its_variables_at_the_next_save(scenario, app):
    instance_id = at_line_approvals(scenario, "REQ-7003")
    by_line = {t["localVariables"]["line"]["line_no"]: t for t in open_tasks(scenario, instance_id, "vera")}
    with app.app_context():   # as the migration leaves an open task: no local variables stored
        db.session.get(HumanTask, by_line[1]["id"]).local_variables = None
        db.session.commit()
    [row] = [t for t in open_tasks(scenario, instance_id, "vera") if t["id"] == by_line[1]["id"]]
    assert row["localVariables"] == {}

    complete(scenario, by_line[3], "vera", line={"decision": "approve"})
    [row] = open_tasks(scenario, instance_id, "vera")
    assert row["localVariables"]["line"]["description"] == "Infusion tubing set"


PICK_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="pick_per_item" name="Pick an option per item" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="pick" />
    <bpmn:userTask id="pick" name="Pick" camunda:formRef="pick_per_item" camunda:candidateGroups="north_value_analysis">
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="${items}" camunda:elementVariable="item" />
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="pick" targetRef="done" />
    <bpmn:endEvent id="done" />
  </bpmn:process>
</bpmn:definitions>"""
PICK_FORM = json.dumps({"id": "pick_per_item", "type": "default", "components": [
    {"type": "text", "id": "t", "text": "{{item.name}}"},
    {"type": "select", "id": "c", "key": "item.choice", "label": "Choice", "valuesKey": "item.options",
     "validate": {"required": True}}]}).encode()


def test_a_form_is_validated_against_the_tasks_own_variables(scenario):
    """Options the form takes from the element variable (valuesKey item.options) are checked against the
    task's own item: its options are accepted, another item's are refused, and the item keeps its name."""
    assert upload(scenario.client, {"pick_per_item.bpmn": PICK_BPMN,
                                    "pick_per_item.form": PICK_FORM}).status_code == 201
    started = scenario.start("pick_per_item", "NORTH", "PICK-1", items=[
        {"name": "first", "options": ["a", "b"]}, {"name": "second", "options": ["c"]}])
    tasks = {t["localVariables"]["item"]["name"]: t for t in open_tasks(scenario, started["id"], "vera")}
    assert sorted(tasks) == ["first", "second"]
    for task in tasks.values():
        scenario.client.post(f"/api/v1/tasks/{task['id']}/claim", headers=VERA, json={})

    wrong = scenario.client.post(f"/api/v1/tasks/{tasks['first']['id']}/complete", headers=VERA,
                                 json={"variables": {"item": {"choice": "c"}}})
    assert wrong.status_code == 422 and "item.choice" in wrong.get_json()["errors"]
    for name, choice in (("first", "b"), ("second", "c")):
        done = scenario.client.post(f"/api/v1/tasks/{tasks[name]['id']}/complete", headers=VERA,
                                    json={"variables": {"item": {"choice": choice}}})
        assert done.status_code == 200, done.get_json()
    final = scenario.instance(started["id"])
    assert final["state"] == "completed"
    assert final["variables"]["items"] == [{"name": "first", "options": ["a", "b"], "choice": "b"},
                                           {"name": "second", "options": ["c"], "choice": "c"}]
