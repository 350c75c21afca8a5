"""Issue 6: billing exceptions (claim denials) end to end through the REST API, at several sites.

The denial arrives as POST /api/v1/process-instances with the denial as variables; the site rules classify
it (denial_classification.dmn) and route it to a work queue (denial_routing.dmn); the queue resubmits,
appeals (claims.submit_appeal) or writes off (billing.post_adjustment, reviewed above the site's threshold).
`status` tells dashboards where each denial stands.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

KEY = "billing_exception"


def denial(scenario, site, claim_id, payer, code, amount, account):
    scenario.deploy(KEY)
    return scenario.start(KEY, site, claim_id, claim_id=claim_id, payer=payer, denial_code=code,
                          denied_amount=amount, patient_account=account)


def audit_actions(scenario, instance_id):
    return [e["action"] for e in scenario.client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json()]


def test_north_medical_necessity_denial_is_appealed_by_the_clinical_appeals_queue(scenario):
    started = denial(scenario, "NORTH", "CLM-1001", "MEDICARE", "CO-50", 1240.5, "PA-1001")
    assert started["currentActivities"] == ["work_denial"]
    variables = started["variables"]
    assert variables["status"] == "in_review"
    # NORTH's own classification row: its physician advisors appeal every medical-necessity denial
    assert variables["classification"] == {"category": "medical_necessity", "recommended_action": "appeal"}
    assert variables["routing"]["work_queue"] == "north_clinical_appeals"

    task = scenario.task(started["id"], "nadia")
    assert task["candidateGroups"] == ["north_clinical_appeals"]
    due = datetime.fromisoformat(task["dueAt"]).replace(tzinfo=timezone.utc)
    assert timedelta(days=2, hours=23) < due - datetime.now(timezone.utc) <= timedelta(days=3)
    scenario.sees_no_task(started["id"], "sofia")   # another site's queue
    scenario.sees_no_task(started["id"], "nick")    # same site, not the work queue
    [sla] = scenario.client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json()
    assert (sla["kind"], sla["elementId"]) == ("timer", "sla_breached")

    note = "Progress notes document failed conservative therapy; LCD L33822 criteria met."
    final = scenario.work(started["id"], "nadia", "work_denial", resolution="appeal", work_note=note)

    assert (final["state"], final["endEvent"]) == ("completed", "exception_closed")
    assert final["variables"]["status"] == "closed"
    assert final["variables"]["outcome"] == "appeal_submitted"
    [appeal] = scenario.effects("claims", "submit_appeal")
    assert appeal["inputs"] == {"claim_id": "CLM-1001", "reason": note}
    assert final["variables"]["appeal_id"] == appeal["outputs"]["appeal_id"]
    assert scenario.effects("billing", "post_adjustment") == []
    assert scenario.client.get(f"/api/v1/process-instances/{started['id']}/jobs").get_json() == []


def test_south_denied_appeal_goes_to_write_off_review_and_is_written_off(scenario):
    # claims sandbox: claim ids starting "DENY" are refused on appeal (business error APPEAL_DENIED)
    started = denial(scenario, "SOUTH", "DENY-2001", "AETNA", "CO-197", 880, "PA-2001")
    assert started["variables"]["classification"]["category"] == "authorization"
    assert started["variables"]["routing"]["work_queue"] == "south_denials"

    after_appeal = scenario.work(started["id"], "sofia", "work_denial", resolution="appeal",
                                 work_note="Retro-authorization obtained from the payer portal.")
    assert after_appeal["currentActivities"] == ["review_writeoff"]
    assert after_appeal["variables"]["error_code"] == "APPEAL_DENIED"
    assert after_appeal["variables"]["status"] == "in_review"
    assert "job.bpmn-error" in audit_actions(scenario, started["id"])
    assert scenario.effects("claims", "submit_appeal") == []  # the payer refused: nothing recorded

    scenario.sees_no_task(started["id"], "sofia")
    review = scenario.task(started["id"], "sid")
    assert review["candidateGroups"] == ["south_finance"]
    final = scenario.work(started["id"], "sid", "review_writeoff", writeoff_decision="approve",
                          writeoff_comment="Payer upheld the denial; no further appeal level.")

    assert (final["state"], final["endEvent"]) == ("completed", "exception_closed")
    assert (final["variables"]["status"], final["variables"]["outcome"]) == ("closed", "written_off")
    [adjustment] = scenario.effects("billing", "post_adjustment")
    assert adjustment["inputs"] == {"patient_account": "PA-2001", "amount": 880, "reason_code": "WO-AUTHORIZATION"}
    assert final["variables"]["adjustment_id"] == adjustment["outputs"]["adjustment_id"]


def test_south_small_timely_filing_write_off_needs_no_review(scenario):
    # SOUTH's own row: timely-filing denials are not appealable there; 120 is under its 250 threshold
    started = denial(scenario, "SOUTH", "CLM-2002", "MEDICARE", "CO-29", 120, "PA-2002")
    assert started["variables"]["classification"] == {"category": "timely_filing", "recommended_action": "write_off"}
    assert scenario.task(started["id"], "sofia")["candidateGroups"] == ["south_government_payers"]

    final = scenario.work(started["id"], "sofia", "work_denial", resolution="write_off",
                          work_note="Filed 14 days past the payer's limit.")
    assert (final["endEvent"], final["variables"]["outcome"]) == ("exception_closed", "written_off")
    [adjustment] = scenario.effects("billing", "post_adjustment")
    assert adjustment["inputs"]["reason_code"] == "WO-TIMELY_FILING"
    assert not any(t["elementId"] == "review_writeoff" for t in scenario.client.get(
        f"/api/v1/tasks?instanceId={started['id']}&state=completed").get_json())


def test_clinic12_registration_error_is_corrected_and_resubmitted_by_the_front_desk(scenario):
    started = denial(scenario, "CLINIC-12", "CLM-3001", "BCBS", "CO-16", 310, "PA-3001")
    assert started["variables"]["classification"] == {"category": "registration", "recommended_action": "resubmit"}
    task = scenario.task(started["id"], "cleo")
    assert task["candidateGroups"] == ["clinic12_frontdesk"]
    due = datetime.fromisoformat(task["dueAt"]).replace(tzinfo=timezone.utc)
    assert due - datetime.now(timezone.utc) <= timedelta(days=1)  # the clinic's next-day SLA

    final = scenario.work(started["id"], "cleo", "work_denial", resolution="resubmit",
                          work_note="Subscriber ID corrected from the new insurance card.")
    assert (final["endEvent"], final["variables"]["status"], final["variables"]["outcome"]) == (
        "exception_closed", "closed", "resubmitted")
    [message] = scenario.effects("notify", "send_queue_message")
    assert message["inputs"] == {"queue": "claims.resubmissions", "payload": {
        "claim_id": "CLM-3001", "payer": "BCBS", "site": "CLINIC-12", "patient_account": "PA-3001",
        "correction": "Subscriber ID corrected from the new insurance card."}}
    assert scenario.effects("claims", "submit_appeal") == [] and scenario.effects("billing", "post_adjustment") == []


def test_write_off_sent_back_returns_to_the_work_queue(scenario):
    started = denial(scenario, "NORTH", "CLM-1002", "CIGNA", "CO-18", 2400, "PA-1002")
    scenario.work(started["id"], "nadia", "work_denial", resolution="write_off", work_note="Looks like a duplicate.")
    back = scenario.work(started["id"], "nick", "review_writeoff", writeoff_decision="send_back",
                         writeoff_comment="Not a duplicate: different date of service. Resubmit.")
    assert back["currentActivities"] == ["work_denial"] and back["variables"]["status"] == "in_review"
    final = scenario.work(started["id"], "nadia", "work_denial", resolution="resubmit",
                          work_note="Resubmitted with the corrected date of service.")
    assert final["variables"]["outcome"] == "resubmitted"
    assert scenario.effects("billing", "post_adjustment") == []


def test_sla_breach_notifies_the_team_lead_and_leaves_the_task_open(scenario):
    """The routing table's SLA drives both the task's due date and the boundary timer; this test
    shortens NORTH's P3D to 0.2 seconds in its copy of the table to see the escalation fire."""
    scenario.deploy(KEY, change=lambda files: {
        **files, "denial_routing.dmn": files["denial_routing.dmn"].replace(b'"P3D"', b'"PT0.2S"')})
    started = scenario.start(KEY, "NORTH", "CLM-1003", claim_id="CLM-1003", payer="MEDICARE", denial_code="CO-97",
                             denied_amount=95, patient_account="PA-1003")
    assert started["variables"]["routing"]["work_queue"] == "north_denials"
    time.sleep(0.3)
    after = scenario.drain(started["id"])

    [email] = scenario.effects("notify", "send_email")
    assert email["inputs"]["to"] == "north-denials-lead@hospital.example"
    assert email["inputs"]["subject"] == "SLA breached: denial of claim CLM-1003"
    assert "north_denials" in email["inputs"]["body"]
    assert after["state"] == "running" and after["currentActivities"] == ["work_denial"]
    assert after["variables"]["status"] == "in_review"
    final = scenario.work(started["id"], "nadia", "work_denial", resolution="resubmit", work_note="Unbundled.")
    assert final["endEvent"] == "exception_closed"


def test_a_denial_without_its_data_is_refused_at_once_naming_what_is_missing(scenario):
    scenario.deploy(KEY)
    response = scenario.client.post("/api/v1/process-instances", json={
        "processKey": KEY, "site": "NORTH", "businessKey": "CLM-1004",
        "variables": {"claim_id": "CLM-1004", "payer": "MEDICARE", "denial_code": "CO-50",
                      "denied_amount": "a lot", "patient_account": "PA-1004"}})
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["elementId"] == "record_receipt" and "denied_amount must be a number" in problem["detail"]
    assert scenario.client.get("/api/v1/process-instances").get_json() == []
