"""Issue 6: purchase requisitions end to end through the REST API.

The requisition's total is checked against the cost center's remaining budget (erp.lookup_cost_center);
over budget, the cost center's owner resolves a budget exception. requisition_approval.dmn picks the
approver and the line threshold by site, category and total; every line above the threshold is approved
on its own by a parallel multi-instance user task (approve_line over `line_reviews`, one task per line,
all open at once); a rejected line is left out of the order, and a requisition whose every line is
rejected is rejected; the approved lines become a purchase order (erp.create_purchase_order).
"""
from __future__ import annotations

from uuid import UUID

import pytest

from runner.models import HumanTask, db
from runner.services import deployments
from tests.accounts_fixtures import bearer

KEY = "purchase_requisition"


def requisition(scenario, site, number, cost_center, category, lines, **more):
    scenario.deploy(KEY)
    started = scenario.start(KEY, site, number, cost_center=cost_center, category=category, lines=lines,
                             requested_by="dr.lee", justification="Restock for the new infusion suite", **more)
    assert started["currentActivities"] == ["check_budget"]
    return scenario.drain(started["id"])


def open_tasks(scenario, instance_id, user) -> list[dict]:
    """The instance's open tasks in `user`'s task list (GET /api/v1/tasks)."""
    response = scenario.client.get(f"/api/v1/tasks?instanceId={instance_id}", headers=bearer(user))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def line_of(scenario, task) -> int:
    """The line number a per-line approval task is for: the multi-instance element variable `line` in
    that task's own data. (The task list and the task page show the instance's variables, not a task's.)"""
    with scenario.client.application.app_context():
        row = db.session.get(HumanTask, task["id"])
        runtime = deployments.runtime_for(row.instance.definition)
        workflow = runtime.load(row.instance.workflow_state)
        return workflow.get_task_from_id(UUID(row.spiff_task_id)).data["line"]["line_no"]


def complete(scenario, task, user, **variables) -> dict:
    """`user` claims and completes this task; the worker runs what follows; the instance as the API shows it."""
    claimed = scenario.client.post(f"/api/v1/tasks/{task['id']}/claim", headers=bearer(user), json={})
    assert claimed.status_code == 200, claimed.get_json()
    done = scenario.client.post(f"/api/v1/tasks/{task['id']}/complete", headers=bearer(user),
                                json={"variables": variables})
    assert done.status_code == 200, done.get_json()
    return scenario.drain(task["instanceId"])


def line_approvals(scenario, instance_id, user) -> dict[int, dict]:
    """The open per-line approval tasks, by line number: all of them are open at once."""
    tasks = open_tasks(scenario, instance_id, user)
    assert {t["elementId"] for t in tasks} == {"approve_line"}, tasks
    by_line = {line_of(scenario, t): t for t in tasks}
    assert len(by_line) == len(tasks)  # one task per line
    return by_line


NORTH_LINES = [{"description": "Infusion tubing set", "quantity": 40, "unit_price": 30},
               {"description": "Nitrile gloves, box of 100", "quantity": 20, "unit_price": 9.5},
               {"description": "Vein finder", "quantity": 1, "unit_price": 2500}]


@pytest.mark.parametrize("first", [1, 3], ids=["line-1-first", "line-3-first"])
def test_north_supplies_within_budget_get_parallel_approvals_of_the_large_lines_and_a_po_of_the_approved(
        scenario, first):
    checked = requisition(scenario, "NORTH", "REQ-1001", "CC-100", "clinical_supplies", NORTH_LINES)
    variables = checked["variables"]
    assert (variables["total"], variables["budget_remaining"], variables["status"]) == (3890, 50000, "in_approval")
    assert variables["approval"] == {"approver_group": "north_supply_chain", "line_threshold": 1000,
                                     "line_approver_group": "north_value_analysis"}
    assert variables["lines_to_review"] == [1, 3]  # 1,200 and 2,500 are above 1,000; 190 is not
    [lookup] = scenario.effects("erp", "lookup_cost_center")
    assert lookup["inputs"] == {"cost_center": "CC-100", "site": "NORTH"}

    scenario.sees_no_task(checked["id"], "vera")
    approved = scenario.work(checked["id"], "nate", "approve_requisition", approval_decision="approve",
                             approval_comment="Needed for the infusion suite opening")
    assert approved["currentActivities"] == ["approve_line"]

    # two lines above the threshold: exactly two line approvals, open at the same time
    tasks = line_approvals(scenario, checked["id"], "vera")
    assert sorted(tasks) == [1, 3]
    assert all(t["candidateGroups"] == ["north_value_analysis"] and t["dueAt"] for t in tasks.values())
    assert open_tasks(scenario, checked["id"], "nate") == []

    decisions = {1: {"line.decision": "approve"},
                 3: {"line": {"decision": "reject", "comment": "Biomed already holds two vein finders on loan"}}}
    second = 3 if first == 1 else 1
    halfway = complete(scenario, tasks[first], "vera", **decisions[first])
    assert (halfway["state"], halfway["currentActivities"]) == ("running", ["approve_line"])
    assert [t["id"] for t in open_tasks(scenario, checked["id"], "vera")] == [tasks[second]["id"]]
    assert scenario.effects("erp", "create_purchase_order") == []
    final = complete(scenario, tasks[second], "vera", **decisions[second])

    assert (final["state"], final["endEvent"]) == ("completed", "po_created")
    assert final["variables"]["status"] == "ordered"
    assert [(l["line_no"], l.get("approval"), l.get("approval_comment")) for l in final["variables"]["lines"]] == [
        (1, "approve", ""), (2, None, None), (3, "reject", "Biomed already holds two vein finders on loan")]
    [po] = scenario.effects("erp", "create_purchase_order")
    assert po["inputs"] == {"requisition_id": "REQ-1001", "cost_center": "CC-100", "site": "NORTH", "lines": [
        {"line_no": 1, "description": "Infusion tubing set", "quantity": 40, "unit_price": 30},
        {"line_no": 2, "description": "Nitrile gloves, box of 100", "quantity": 20, "unit_price": 9.5}]}
    assert final["variables"]["po_number"] == po["outputs"]["po_number"]
    assert final["variables"]["approved_total"] == 1390


def test_every_line_rejected_rejects_the_requisition_and_orders_nothing(scenario):
    checked = requisition(scenario, "NORTH", "REQ-1003", "CC-100", "clinical_supplies", NORTH_LINES[::2])
    scenario.work(checked["id"], "nate", "approve_requisition", approval_decision="approve", approval_comment="ok")
    tasks = line_approvals(scenario, checked["id"], "vera")
    assert sorted(tasks) == [1, 2]
    complete(scenario, tasks[2], "vera", line={"decision": "reject"})
    final = complete(scenario, tasks[1], "vera", line={"decision": "reject", "comment": "Order from the GPO"})
    assert (final["state"], final["endEvent"], final["variables"]["status"]) == (
        "completed", "requisition_rejected", "rejected")
    assert [l["approval"] for l in final["variables"]["lines"]] == ["reject", "reject"]
    assert scenario.effects("erp", "create_purchase_order") == []


def test_line_approval_needs_a_decision(scenario):
    checked = requisition(scenario, "NORTH", "REQ-1004", "CC-100", "clinical_supplies", NORTH_LINES[2:])
    scenario.work(checked["id"], "nate", "approve_requisition", approval_decision="approve", approval_comment="ok")
    [task] = line_approvals(scenario, checked["id"], "vera").values()
    scenario.client.post(f"/api/v1/tasks/{task['id']}/claim", headers=bearer("vera"), json={})
    refused = scenario.client.post(f"/api/v1/tasks/{task['id']}/complete", headers=bearer("vera"),
                                   json={"variables": {"line": {"comment": "no decision"}}})
    assert refused.status_code == 422
    assert "line.decision" in refused.get_json()["errors"]


def test_clinic12_over_budget_requisition_goes_through_a_budget_exception_then_its_own_chain(scenario):
    lines = [{"description": "Otoscope", "quantity": 2, "unit_price": 450},
             {"description": "Exam table paper, case", "quantity": 10, "unit_price": 30}]
    checked = requisition(scenario, "CLINIC-12", "REQ-3001", "CC-200", "clinical_supplies", lines)
    assert checked["currentActivities"] == ["resolve_budget_exception"]
    assert (checked["variables"]["status"], checked["variables"]["budget_shortfall"]) == ("budget_exception", 200)
    exception_task = scenario.task(checked["id"], "olga")
    assert exception_task["candidateGroups"] == ["clinic_procurement"]  # the cost center's owner, from the ERP

    approving = scenario.work(checked["id"], "olga", "resolve_budget_exception", budget_decision="approve_overrun",
                              budget_comment="Covered by the Q3 equipment reserve")
    # CLINIC-12's supplies row stops at 1,000: 1,200 takes the clinic's default row (every line above 250)
    assert approving["variables"]["approval"]["approver_group"] == "ambulatory_operations"
    assert approving["variables"]["lines_to_review"] == [1, 2]
    scenario.work(checked["id"], "olga", "approve_requisition", approval_decision="approve", approval_comment="ok")
    tasks = line_approvals(scenario, checked["id"], "finn")
    assert sorted(tasks) == [1, 2]
    assert all(t["candidateGroups"] == ["ambulatory_finance"] for t in tasks.values())
    complete(scenario, tasks[1], "finn", line={"decision": "approve"})
    final = complete(scenario, tasks[2], "finn", line={"decision": "approve", "comment": "Usual supplier"})

    assert (final["endEvent"], final["variables"]["status"]) == ("po_created", "ordered")
    [po] = scenario.effects("erp", "create_purchase_order")
    assert [l["description"] for l in po["inputs"]["lines"]] == ["Otoscope", "Exam table paper, case"]


def test_no_line_above_the_threshold_goes_from_the_approval_straight_to_the_po(scenario):
    lines = [{"description": "Window cleaning, quarterly", "quantity": 1, "unit_price": 900},
             {"description": "Carpet cleaning", "quantity": 1, "unit_price": 900},
             {"description": "Pest control", "quantity": 1, "unit_price": 900}]
    checked = requisition(scenario, "SOUTH", "REQ-4002", "CC-300", "services", lines)
    # SOUTH, 2,700: south_finance approves, lines need their own approval above 1,000: none does
    assert checked["variables"]["approval"]["approver_group"] == "south_finance"
    assert checked["variables"]["lines_to_review"] == []
    final = scenario.work(checked["id"], "sid", "approve_requisition", approval_decision="approve",
                          approval_comment="Annual facilities contract")
    assert (final["endEvent"], final["variables"]["approved_total"]) == ("po_created", 2700)
    [po] = scenario.effects("erp", "create_purchase_order")
    assert [l["line_no"] for l in po["inputs"]["lines"]] == [1, 2, 3]


def test_over_budget_requisition_rejected_by_the_cost_center_owner_orders_nothing(scenario):
    checked = requisition(scenario, "EAST", "REQ-2001", "CC-400", "clinical_supplies",
                          [{"description": "Insulin pens", "quantity": 100, "unit_price": 12}])
    final = scenario.work(checked["id"], "pete", "resolve_budget_exception", budget_decision="reject",
                          budget_comment="Pharmacy budget is exhausted until the next fiscal year")
    assert (final["state"], final["endEvent"]) == ("completed", "requisition_rejected")
    assert final["variables"]["status"] == "rejected"
    assert scenario.effects("erp", "create_purchase_order") == []


def test_unknown_cost_center_rejects_the_requisition(scenario):
    final = requisition(scenario, "SOUTH", "REQ-4001", "CC-999", "services",
                        [{"description": "Window cleaning", "quantity": 1, "unit_price": 800}])
    assert (final["state"], final["endEvent"]) == ("completed", "requisition_rejected")
    assert (final["variables"]["status"], final["variables"]["error_code"]) == ("rejected", "UNKNOWN_COST_CENTER")
    assert scenario.effects("erp", "create_purchase_order") == []


def test_a_requisition_without_lines_is_refused_at_once(scenario):
    scenario.deploy(KEY)
    response = scenario.client.post("/api/v1/process-instances", json={
        "processKey": KEY, "site": "NORTH", "businessKey": "REQ-1002",
        "variables": {"cost_center": "CC-100", "category": "clinical_supplies", "lines": []}})
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["elementId"] == "total_requisition" and "lines must be a non-empty list" in problem["detail"]
