"""Issue 6: patient refunds end to end through the REST API.

A credit balance is detected; billing.get_patient_account decides eligibility (open account, a credit
balance covering the refund); refund_approval.dmn picks the approvers by site and amount (a second approval
above the site's threshold); billing.issue_refund pays it, erp.post_journal_entry books it, and
notify.send_email tells the patient.
"""
from __future__ import annotations

import pytest

KEY = "patient_refund"


def refund(scenario, site, account, amount, reason="overpayment", **more):
    scenario.deploy(KEY)
    started = scenario.start(KEY, site, account, patient_account=account, amount=amount, reason=reason, **more)
    assert started["currentActivities"] == ["check_eligibility"]
    return scenario.drain(started["id"])


def test_north_refund_above_the_threshold_needs_two_approvals_then_pays_posts_and_notifies(scenario):
    checked = refund(scenario, "NORTH", "PA-1001", 1800, patient_email="pat.doe@example.org")
    assert checked["currentActivities"] == ["first_approval"]
    assert (checked["variables"]["credit_balance"], checked["variables"]["account_status"]) == (1800, "open")
    [eligibility] = scenario.effects("billing", "get_patient_account")
    assert eligibility["inputs"] == {"patient_account": "PA-1001"}

    second = scenario.work(checked["id"], "fran", "first_approval", decision="approve", comment="overpaid twice")
    assert second["currentActivities"] == ["second_approval"]   # NORTH: above 1,000 needs the controllers
    scenario.sees_no_task(checked["id"], "fran")
    assert scenario.effects("billing", "issue_refund") == []
    final = scenario.work(checked["id"], "carl", "second_approval", second_decision="approve")

    assert (final["state"], final["endEvent"]) == ("completed", "refund_approved")
    assert final["variables"]["outcome"] == "approved"
    [payout] = scenario.effects("billing", "issue_refund")
    assert payout["inputs"] == {"patient_account": "PA-1001", "amount": 1800, "method": "check"}
    assert final["variables"]["refund_id"] == payout["outputs"]["refund_id"]
    [journal] = scenario.effects("erp", "post_journal_entry")
    assert journal["inputs"]["site"] == "NORTH"
    assert journal["inputs"]["memo"] == f"Patient refund {payout['outputs']['refund_id']} for account PA-1001"
    entries = journal["inputs"]["entries"]
    assert sum(e["debit"] for e in entries) == sum(e["credit"] for e in entries) == 1800
    assert final["variables"]["journal_id"] == journal["outputs"]["journal_id"]
    [notice] = scenario.effects("notify", "send_email")
    assert notice["inputs"]["to"] == "pat.doe@example.org"
    assert payout["outputs"]["refund_id"] in notice["inputs"]["body"]


def test_clinic12_small_refund_is_settled_by_the_front_desk_alone(scenario):
    checked = refund(scenario, "CLINIC-12", "PA-1002", 75)
    task = scenario.task(checked["id"], "cleo")
    assert task["candidateGroups"] == ["clinic12_frontdesk"]
    final = scenario.work(checked["id"], "cleo", "first_approval", decision="approve", approved_amount=60,
                          comment="10.00 + 5.00 already credited at the desk")

    assert (final["state"], final["endEvent"]) == ("completed", "refund_approved")
    assert [t["elementId"] for t in scenario.client.get(
        f"/api/v1/tasks?instanceId={checked['id']}&state=completed").get_json()] == ["first_approval"]
    [payout] = scenario.effects("billing", "issue_refund")
    assert payout["inputs"]["amount"] == 60  # the approver's amount
    [notice] = scenario.effects("notify", "send_email")
    assert notice["inputs"]["to"] == "pfs-clinic-12@hospital.example"  # no e-mail on file: a letter goes out


@pytest.mark.parametrize("account, amount, reason", [
    ("PA-CLOSED-7", 50, "account closed"),
    ("PA-1003", 50, "no credit balance"),
    ("PA-1002", 120, "amount exceeds the credit balance"),
])
def test_ineligible_refund_is_rejected_without_any_task_or_payout(scenario, account, amount, reason):
    final = refund(scenario, "SOUTH", account, amount)
    assert (final["state"], final["endEvent"]) == ("completed", "refund_ineligible")
    assert (final["variables"]["outcome"], final["variables"]["ineligible_reason"]) == ("ineligible", reason)
    assert scenario.client.get(f"/api/v1/tasks?instanceId={final['id']}&state=").get_json() == []
    assert scenario.effects("billing", "issue_refund") == [] and scenario.effects("erp", "post_journal_entry") == []
