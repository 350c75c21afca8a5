"""Issue 6: billing exceptions (claim denials) end to end through the REST API, at several sites.

The denial arrives as an event: POST /api/v1/messages with name `claim_denied`, the claim id as business key,
the site, and the denial as variables (the process has only a message start event). The site rules classify
it (denial_classification.dmn) and route it to a work queue (denial_routing.dmn); the queue resubmits,
appeals (claims.submit_appeal, then waits for the payer's `appeal_decided` message, or follows up after 30
days) or writes off (billing.post_adjustment, reviewed above the site's threshold). `status` tells
dashboards where each denial stands.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

KEY = "billing_exception"


def send(scenario, key, name, **fields):
    return scenario.client.post("/api/v1/messages", json={"name": name, **fields}, headers={"Idempotency-Key": key})


def claim_denied(scenario, site, claim_id, **variables):
    return send(scenario, f"835-{claim_id}", "claim_denied", businessKey=claim_id, site=site, variables=variables)


def denial(scenario, site, claim_id, payer, code, amount, account, deploy=True):
    """The clearinghouse reports the denial (twice, as senders retry): one instance starts."""
    if deploy:
        scenario.deploy(KEY)
    variables = dict(payer=payer, denial_code=code, denied_amount=amount, patient_account=account)
    first = claim_denied(scenario, site, claim_id, **variables)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert (body["outcome"], body["elementIds"], body["duplicate"]) == ("started", ["denial_received"], False)

    again = claim_denied(scenario, site, claim_id, **variables)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert again.get_json()["instanceId"] == body["instanceId"]
    assert [i["id"] for i in scenario.client.get(f"/api/v1/process-instances?businessKey={claim_id}").get_json()
            ] == [body["instanceId"]]

    started = scenario.instance(body["instanceId"])
    assert (started["processKey"], started["site"], started["businessKey"]) == (KEY, site, claim_id)
    assert started["variables"]["claim_id"] == claim_id  # from the business key
    return started


def appeal_decided(scenario, claim_id, outcome, note, key=None):
    return send(scenario, key or f"appeal-{claim_id}-{outcome}", "appeal_decided", businessKey=claim_id,
                variables={"appeal_outcome": outcome, "appeal_decision_note": note})


def audit_actions(scenario, instance_id):
    return [e["action"] for e in scenario.client.get(f"/api/v1/process-instances/{instance_id}/audit").get_json()]


def jobs(scenario, instance_id):
    return scenario.client.get(f"/api/v1/process-instances/{instance_id}/jobs").get_json()


def waits(scenario, instance_id):
    return [(w["messageName"], w["elementId"], w["kind"]) for w in scenario.client.get(
        f"/api/v1/process-instances/{instance_id}/message-subscriptions").get_json()]


def test_north_medical_necessity_denial_is_appealed_and_the_payer_upholds_the_appeal(scenario):
    started = denial(scenario, "NORTH", "CLM-1001", "MEDICARE", "CO-50", 1240.5, "PA-1001")
    assert started["currentActivities"] == ["work_denial"]
    variables = started["variables"]
    assert variables["status"] == "in_review"
    # NORTH's own classification row: its physician advisors appeal every medical-necessity denial
    assert variables["classification"] == {"category": "medical_necessity", "recommended_action": "appeal"}
    assert variables["routing"]["work_queue"] == "north_clinical_appeals"
    assert "instance.started" in audit_actions(scenario, started["id"])

    task = scenario.task(started["id"], "nadia")
    assert task["candidateGroups"] == ["north_clinical_appeals"]
    due = datetime.fromisoformat(task["dueAt"]).replace(tzinfo=timezone.utc)
    assert timedelta(days=2, hours=23) < due - datetime.now(timezone.utc) <= timedelta(days=3)
    scenario.sees_no_task(started["id"], "sofia")   # another site's queue
    scenario.sees_no_task(started["id"], "nick")    # same site, not the work queue
    [sla] = jobs(scenario, started["id"])
    assert (sla["kind"], sla["elementId"]) == ("timer", "sla_breached")

    note = "Progress notes document failed conservative therapy; LCD L33822 criteria met."
    waiting = scenario.work(started["id"], "nadia", "work_denial", resolution="appeal", work_note=note)

    # the appeal is with the payer: the instance waits for its decision, or 30 days
    assert (waiting["state"], waiting["currentActivities"]) == ("running", ["await_appeal_decision"])
    assert waiting["variables"]["status"] == "appeal_submitted"
    [appeal] = scenario.effects("claims", "submit_appeal")
    assert appeal["inputs"] == {"claim_id": "CLM-1001", "reason": note}
    assert waiting["variables"]["appeal_id"] == appeal["outputs"]["appeal_id"]
    assert waits(scenario, started["id"]) == [("appeal_decided", "appeal_decided", "gateway")]
    [timer] = jobs(scenario, started["id"])
    assert (timer["kind"], timer["elementId"]) == ("timer", "await_appeal_decision")
    due = datetime.fromisoformat(timer["dueAt"].rstrip("Z")).replace(tzinfo=timezone.utc)
    assert timedelta(days=29, hours=23) < due - datetime.now(timezone.utc) <= timedelta(days=30)
    scenario.sees_no_task(started["id"], "nadia")

    answer = appeal_decided(scenario, "CLM-1001", "upheld", "Redetermination favorable; claim reprocessed.")
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["outcome"], answer.get_json()["elementIds"]) == ("correlated", ["appeal_decided"])
    again = appeal_decided(scenario, "CLM-1001", "upheld", "Redetermination favorable; claim reprocessed.")
    assert again.status_code == 200 and again.get_json()["duplicate"] is True

    final = scenario.instance(started["id"])
    assert (final["state"], final["endEvent"]) == ("completed", "exception_closed")
    assert (final["variables"]["status"], final["variables"]["outcome"]) == ("closed", "appeal_upheld")
    assert final["variables"]["appeal_outcome"] == "upheld"
    assert len(scenario.effects("claims", "submit_appeal")) == 1
    assert scenario.effects("billing", "post_adjustment") == []
    assert jobs(scenario, started["id"]) == [] and waits(scenario, started["id"]) == []


def test_south_appeal_the_payer_denies_goes_to_write_off_review_and_is_written_off(scenario):
    started = denial(scenario, "SOUTH", "CLM-2001", "AETNA", "CO-197", 880, "PA-2001")
    assert started["variables"]["classification"]["category"] == "authorization"
    assert started["variables"]["routing"]["work_queue"] == "south_denials"

    waiting = scenario.work(started["id"], "sofia", "work_denial", resolution="appeal",
                            work_note="Retro-authorization obtained from the payer portal.")
    assert waiting["currentActivities"] == ["await_appeal_decision"]
    [appeal] = scenario.effects("claims", "submit_appeal")
    assert appeal["inputs"]["claim_id"] == "CLM-2001"

    # an answer the process does not know is refused at once; nothing is kept and the instance waits on
    unknown = appeal_decided(scenario, "CLM-2001", "maybe", "?", key="appeal-CLM-2001")
    assert unknown.status_code == 422
    assert unknown.get_json()["elementId"] == "record_appeal_decision"
    assert "appeal_outcome must be upheld, denied or pending" in unknown.get_json()["detail"]
    assert scenario.instance(started["id"])["currentActivities"] == ["await_appeal_decision"]

    denied = appeal_decided(scenario, "CLM-2001", "denied", "No retro-authorization for elective services.",
                            key="appeal-CLM-2001")  # the same key: the refused message was not kept
    assert denied.status_code == 200, denied.get_json()
    review_open = scenario.instance(started["id"])
    assert review_open["currentActivities"] == ["review_writeoff"]
    assert review_open["variables"]["status"] == "in_review"
    assert review_open["variables"]["appeal_outcome"] == "denied"
    assert jobs(scenario, started["id"]) == []  # the 30-day wait ended with the answer

    scenario.sees_no_task(started["id"], "sofia")
    review = scenario.task(started["id"], "sid")
    assert review["candidateGroups"] == ["south_finance"]
    final = scenario.work(started["id"], "sid", "review_writeoff", writeoff_decision="approve",
                          writeoff_comment="Payer upheld the denial on appeal; no further appeal level.")

    assert (final["state"], final["endEvent"]) == ("completed", "exception_closed")
    assert (final["variables"]["status"], final["variables"]["outcome"]) == ("closed", "written_off")
    [adjustment] = scenario.effects("billing", "post_adjustment")
    assert adjustment["inputs"] == {"patient_account": "PA-2001", "amount": 880, "reason_code": "WO-AUTHORIZATION"}
    assert final["variables"]["adjustment_id"] == adjustment["outputs"]["adjustment_id"]
    assert len(scenario.effects("claims", "submit_appeal")) == 1


def test_south_appeal_refused_at_once_by_the_payer_goes_to_write_off_review(scenario):
    # claims sandbox: claim ids starting "DENY" are refused on appeal (business error APPEAL_DENIED)
    started = denial(scenario, "SOUTH", "DENY-2002", "AETNA", "CO-197", 880, "PA-2002")
    after_appeal = scenario.work(started["id"], "sofia", "work_denial", resolution="appeal",
                                 work_note="Retro-authorization obtained from the payer portal.")
    assert after_appeal["currentActivities"] == ["review_writeoff"]
    assert after_appeal["variables"]["error_code"] == "APPEAL_DENIED"
    assert after_appeal["variables"]["status"] == "in_review"
    assert "job.bpmn-error" in audit_actions(scenario, started["id"])
    assert scenario.effects("claims", "submit_appeal") == []  # the payer refused: nothing recorded
    assert waits(scenario, started["id"]) == []                # and there is no decision to wait for

    final = scenario.work(started["id"], "sid", "review_writeoff", writeoff_decision="approve",
                          writeoff_comment="Not appealable under the contract.")
    assert (final["endEvent"], final["variables"]["outcome"]) == ("exception_closed", "written_off")
    assert scenario.effects("billing", "post_adjustment")[0]["inputs"]["patient_account"] == "PA-2002"


def test_south_small_timely_filing_write_off_needs_no_review(scenario):
    # SOUTH's own row: timely-filing denials are not appealable there; 120 is under its 250 threshold
    started = denial(scenario, "SOUTH", "CLM-2003", "MEDICARE", "CO-29", 120, "PA-2003")
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


def test_write_off_above_the_threshold_is_sent_back_then_approved(scenario):
    # NORTH reviews write-offs above 500 (north_revenue_integrity)
    started = denial(scenario, "NORTH", "CLM-1002", "CIGNA", "CO-18", 2400, "PA-1002")
    review = scenario.work(started["id"], "nadia", "work_denial", resolution="write_off",
                           work_note="Looks like a duplicate.")
    assert review["currentActivities"] == ["review_writeoff"] and review["variables"]["status"] == "in_review"
    assert scenario.task(started["id"], "nick")["candidateGroups"] == ["north_revenue_integrity"]
    back = scenario.work(started["id"], "nick", "review_writeoff", writeoff_decision="send_back",
                         writeoff_comment="Which claim does it duplicate? Name it.")
    assert back["currentActivities"] == ["work_denial"] and back["variables"]["status"] == "in_review"
    assert scenario.effects("billing", "post_adjustment") == []

    scenario.work(started["id"], "nadia", "work_denial", resolution="write_off",
                  work_note="Duplicate of CLM-0998, paid on 2024-03-02.")
    final = scenario.work(started["id"], "nick", "review_writeoff", writeoff_decision="approve",
                          writeoff_comment="Confirmed against CLM-0998.")
    assert (final["endEvent"], final["variables"]["status"], final["variables"]["outcome"]) == (
        "exception_closed", "closed", "written_off")
    [adjustment] = scenario.effects("billing", "post_adjustment")
    assert adjustment["inputs"] == {"patient_account": "PA-1002", "amount": 2400, "reason_code": "WO-DUPLICATE"}
    assert [t["elementId"] for t in scenario.client.get(
        f"/api/v1/tasks?instanceId={started['id']}&state=completed").get_json()].count("review_writeoff") == 2


def test_sla_breach_notifies_the_team_lead_and_leaves_the_task_open(scenario):
    """The routing table's SLA drives both the task's due date and the boundary timer; this test
    shortens NORTH's P3D to 0.2 seconds in its copy of the table to see the escalation fire."""
    scenario.deploy(KEY, change=lambda files: {
        **files, "denial_routing.dmn": files["denial_routing.dmn"].replace(b'"P3D"', b'"PT0.2S"')})
    started = denial(scenario, "NORTH", "CLM-1003", "MEDICARE", "CO-97", 95, "PA-1003", deploy=False)
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


def test_an_appeal_without_an_answer_is_followed_up_by_the_work_queue(scenario):
    """The payer has 30 days (P30D) to decide; this test shortens them to 0.2 seconds in its copy."""
    scenario.deploy(KEY, change=lambda files: {
        **files, "billing_exception.bpmn": files["billing_exception.bpmn"].replace(b">P30D<", b">PT0.2S<")})
    started = denial(scenario, "NORTH", "CLM-1005", "MEDICARE", "CO-151", 640, "PA-1005", deploy=False)
    scenario.work(started["id"], "nadia", "work_denial", resolution="appeal", work_note="Medically necessary.")
    time.sleep(0.3)
    chasing = scenario.drain(started["id"])
    assert chasing["currentActivities"] == ["follow_up_appeal"]
    assert chasing["variables"]["status"] == "appeal_submitted"
    follow_up = scenario.task(started["id"], "nadia")
    assert follow_up["candidateGroups"] == ["north_clinical_appeals"]
    scenario.sees_no_task(started["id"], "nick")
    assert waits(scenario, started["id"]) == [("appeal_decided", "appeal_decided_during_followup", "boundary")]

    # the payer says it is still reviewing: wait again
    again = scenario.work(started["id"], "nadia", "follow_up_appeal", appeal_outcome="pending",
                          appeal_decision_note="Called 2024-05-02, ref 88-1: in medical review.")
    assert again["currentActivities"] == ["await_appeal_decision"]
    time.sleep(0.3)
    assert scenario.drain(started["id"])["currentActivities"] == ["follow_up_appeal"]

    # the payer's decision arrives while the queue chases it: the follow-up closes by itself
    answer = appeal_decided(scenario, "CLM-1005", "upheld", "Overturned on medical review.")
    assert answer.status_code == 200 and answer.get_json()["elementIds"] == ["appeal_decided_during_followup"]
    final = scenario.instance(started["id"])
    assert (final["state"], final["endEvent"], final["variables"]["outcome"]) == (
        "completed", "exception_closed", "appeal_upheld")
    assert [t["elementId"] for t in scenario.client.get(
        f"/api/v1/tasks?instanceId={started['id']}&state=cancelled").get_json()] == ["follow_up_appeal"]
    assert len(scenario.effects("claims", "submit_appeal")) == 1


def test_a_follow_up_that_learns_of_a_denial_sends_it_to_write_off_review(scenario):
    scenario.deploy(KEY, change=lambda files: {
        **files, "billing_exception.bpmn": files["billing_exception.bpmn"].replace(b">P30D<", b">PT0.2S<")})
    started = denial(scenario, "SOUTH", "CLM-2004", "MEDICAID", "CO-50", 300, "PA-2004", deploy=False)
    assert started["variables"]["routing"]["work_queue"] == "south_government_payers"
    scenario.work(started["id"], "sofia", "work_denial", resolution="appeal", work_note="See attached records.")
    time.sleep(0.3)
    assert scenario.drain(started["id"])["currentActivities"] == ["follow_up_appeal"]
    review = scenario.work(started["id"], "sofia", "follow_up_appeal", appeal_outcome="denied",
                           appeal_decision_note="Portal shows the denial upheld on 2024-05-03.")
    assert review["currentActivities"] == ["review_writeoff"] and review["variables"]["status"] == "in_review"
    # the reviewer sends it back for a second-level appeal, which the payer upholds
    scenario.work(started["id"], "sid", "review_writeoff", writeoff_decision="send_back",
                  writeoff_comment="Request reconsideration with the cardiology notes.")
    waiting = scenario.work(started["id"], "sofia", "work_denial", resolution="appeal",
                            work_note="Second-level appeal with cardiology notes.")
    assert waiting["currentActivities"] == ["await_appeal_decision"]
    assert waiting["variables"]["appeal_outcome"] is None  # cleared for the new appeal
    assert appeal_decided(scenario, "CLM-2004", "upheld", "Reconsideration favorable.").status_code == 200
    final = scenario.instance(started["id"])
    assert (final["endEvent"], final["variables"]["outcome"]) == ("exception_closed", "appeal_upheld")
    assert [a["inputs"]["reason"] for a in scenario.effects("claims", "submit_appeal")] == [
        "See attached records.", "Second-level appeal with cardiology notes."]
    assert scenario.effects("billing", "post_adjustment") == []


def test_a_denial_without_its_data_is_refused_at_once_naming_what_is_missing(scenario):
    scenario.deploy(KEY)
    bad = claim_denied(scenario, "NORTH", "CLM-1004", payer="MEDICARE", denial_code="CO-50",
                       denied_amount="a lot", patient_account="PA-1004")
    assert bad.status_code == 422
    problem = bad.get_json()
    assert problem["elementId"] == "record_receipt" and "denied_amount must be a number" in problem["detail"]
    assert scenario.client.get("/api/v1/process-instances").get_json() == []
    assert scenario.client.get("/api/v1/messages?name=claim_denied").get_json() == []  # nothing kept

    no_key = send(scenario, "835-none", "claim_denied", site="NORTH", variables={
        "payer": "MEDICARE", "denial_code": "CO-50", "denied_amount": 10, "patient_account": "PA-1004"})
    assert no_key.status_code == 422 and "needs businessKey" in no_key.get_json()["detail"]
    other_claim = send(scenario, "835-CLM-1004", "claim_denied", businessKey="CLM-1004", site="NORTH", variables={
        "claim_id": "CLM-9999", "payer": "MEDICARE", "denial_code": "CO-50", "denied_amount": 10,
        "patient_account": "PA-1004"})
    assert other_claim.status_code == 422 and "claim_id, when sent, must be the businessKey" in \
        other_claim.get_json()["detail"]
    no_site = send(scenario, "835-CLM-1004", "claim_denied", businessKey="CLM-1004", variables={
        "payer": "MEDICARE", "denial_code": "CO-50", "denied_amount": 10, "patient_account": "PA-1004"})
    assert no_site.status_code == 422 and "site" in no_site.get_json()["errors"]

    # the process starts only with its message
    plain = scenario.client.post("/api/v1/process-instances", json={
        "processKey": KEY, "site": "NORTH", "businessKey": "CLM-1004",
        "variables": {"payer": "MEDICARE", "denial_code": "CO-50", "denied_amount": 10, "patient_account": "PA-1004"}})
    assert plain.status_code == 422 and "POST /api/v1/messages" in plain.get_json()["detail"]

    # corrected, the same denial (same key: nothing was kept under it) starts the instance
    fixed = denial(scenario, "NORTH", "CLM-1004", "MEDICARE", "CO-50", 10, "PA-1004", deploy=False)
    assert fixed["currentActivities"] == ["work_denial"]
