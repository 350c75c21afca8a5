"""Issue 6: purchase requisitions end to end through the REST API.

The requisition's total is checked against the cost center's remaining budget (erp.lookup_cost_center);
over budget, the cost center's owner resolves a budget exception. requisition_approval.dmn picks the
approver and the line threshold by site, category and total; every line above the threshold is approved
on its own (a sequential loop: see the README for why not a multi-instance task); the approved lines
become a purchase order (erp.create_purchase_order).
"""
from __future__ import annotations

KEY = "purchase_requisition"


def requisition(scenario, site, number, cost_center, category, lines, **more):
    scenario.deploy(KEY)
    started = scenario.start(KEY, site, number, cost_center=cost_center, category=category, lines=lines,
                             requested_by="dr.lee", justification="Restock for the new infusion suite", **more)
    assert started["currentActivities"] == ["check_budget"]
    return scenario.drain(started["id"])


def test_north_supplies_within_budget_get_one_approval_per_large_line_and_a_po_of_the_approved_lines(scenario):
    lines = [{"description": "Infusion tubing set", "quantity": 40, "unit_price": 30},
             {"description": "Nitrile gloves, box of 100", "quantity": 20, "unit_price": 9.5},
             {"description": "Vein finder", "quantity": 1, "unit_price": 2500}]
    checked = requisition(scenario, "NORTH", "REQ-1001", "CC-100", "clinical_supplies", lines)
    variables = checked["variables"]
    assert (variables["total"], variables["budget_remaining"], variables["status"]) == (3890, 50000, "in_approval")
    assert variables["approval"] == {"approver_group": "north_supply_chain", "line_threshold": 1000,
                                     "line_approver_group": "north_value_analysis"}
    assert variables["lines_to_review"] == [1, 3]
    [lookup] = scenario.effects("erp", "lookup_cost_center")
    assert lookup["inputs"] == {"cost_center": "CC-100", "site": "NORTH"}

    scenario.sees_no_task(checked["id"], "vera")
    first_line = scenario.work(checked["id"], "nate", "approve_requisition", approval_decision="approve",
                               approval_comment="Needed for the infusion suite opening")
    assert first_line["variables"]["line"]["line_no"] == 1
    third_line = scenario.work(checked["id"], "vera", "approve_line", line_decision="approve")
    assert third_line["variables"]["line"]["line_no"] == 3
    final = scenario.work(checked["id"], "vera", "approve_line", line_decision="reject",
                          line_comment="Biomed already holds two vein finders on loan")

    assert (final["state"], final["endEvent"]) == ("completed", "po_created")
    assert final["variables"]["status"] == "ordered"
    assert [(l["line_no"], l.get("approval")) for l in final["variables"]["lines"]] == [
        (1, "approve"), (2, None), (3, "reject")]
    [po] = scenario.effects("erp", "create_purchase_order")
    assert po["inputs"] == {"requisition_id": "REQ-1001", "cost_center": "CC-100", "site": "NORTH", "lines": [
        {"line_no": 1, "description": "Infusion tubing set", "quantity": 40, "unit_price": 30},
        {"line_no": 2, "description": "Nitrile gloves, box of 100", "quantity": 20, "unit_price": 9.5}]}
    assert final["variables"]["po_number"] == po["outputs"]["po_number"]
    assert final["variables"]["approved_total"] == 1390


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
    # CLINIC-12's supplies row stops at 1,000: 1,200 takes the clinic's default row
    assert approving["variables"]["approval"]["approver_group"] == "ambulatory_operations"
    assert approving["variables"]["lines_to_review"] == [1, 2]
    scenario.work(checked["id"], "olga", "approve_requisition", approval_decision="approve", approval_comment="ok")
    scenario.work(checked["id"], "finn", "approve_line", line_decision="approve")
    final = scenario.work(checked["id"], "finn", "approve_line", line_decision="approve")

    assert (final["endEvent"], final["variables"]["status"]) == ("po_created", "ordered")
    [po] = scenario.effects("erp", "create_purchase_order")
    assert [l["description"] for l in po["inputs"]["lines"]] == ["Otoscope", "Exam table paper, case"]


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
