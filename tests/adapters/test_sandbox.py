"""Sandbox adapters on a real SQLite file."""
import threading

import pytest

from adapters import (BillingSandbox, BusinessError, ClaimsSandbox, ContractError, ErpSandbox, NotifySandbox,
                      TransientError, effects)
from adapters.sandbox import replays

JOURNAL = {"entries": [{"account": "1000", "debit": 10.0, "credit": 0.0},
                       {"account": "2000", "debit": 0.0, "credit": 10.0}],
           "memo": "refund", "site": "NORTH"}


def test_effect_recorded_with_inputs_and_outputs(engine):
    erp = ErpSandbox(engine)
    out = erp.call("post_journal_entry", {**JOURNAL, "ignored": 1}, "job-1")
    assert out["journal_id"].startswith("JE-")
    [row] = effects(engine, "erp")
    assert row["operation"] == "post_journal_entry"
    assert row["idempotency_key"] == "job-1"
    assert row["inputs"] == JOURNAL
    assert row["outputs"] == out
    assert row["created_at"] is not None
    assert replays(engine, "erp") == []


def test_same_key_twice_is_one_effect_with_same_outputs(engine):
    erp = ErpSandbox(engine)
    first = erp.call("post_journal_entry", JOURNAL, "job-1")
    again = ErpSandbox(engine).call("post_journal_entry", JOURNAL, "job-1")  # e.g. another worker
    other = erp.call("post_journal_entry", JOURNAL, "job-2")
    assert again == first
    assert other != first
    assert [r["idempotency_key"] for r in effects(engine, "erp", "post_journal_entry")] == ["job-1", "job-2"]
    [replay] = replays(engine, "erp")
    assert (replay["operation"], replay["idempotency_key"], replay["replay"]) == ("post_journal_entry", "job-1", 1)
    assert replay["outputs"] == first and replay["inputs"] == JOURNAL


def test_every_repeated_call_is_a_numbered_replay_answered_with_the_first_result(engine):
    notify = NotifySandbox(engine)
    email = {"to": "a@x.org", "subject": "s", "body": "b"}
    first = notify.call("send_email", email, "k1")
    changed = notify.call("send_email", {**email, "body": "changed"}, "k1")  # same key, other inputs
    notify.call("send_email", email, "k1")
    notify.call("send_email", email, "k2")
    notify.call("send_queue_message", {"queue": "ap", "payload": {}}, "k1")  # same key, other operation
    assert changed == first
    assert [e["idempotency_key"] for e in effects(engine, "notify", "send_email")] == ["k1", "k2"]
    assert effects(engine, "notify", "send_email")[0]["inputs"] == email, "a replay never rewrites the effect"
    assert len(effects(engine, "notify")) == 3, "replays are not effects"
    rows = replays(engine, "notify", "send_email")
    assert [(r["idempotency_key"], r["replay"]) for r in rows] == [("k1", 1), ("k1", 2)]
    assert rows[0]["inputs"]["body"] == "changed" and all(r["outputs"] == first for r in rows)
    assert replays(engine, "notify", "send_queue_message") == []
    assert replays(engine, "notify", key="k2") == []
    assert len(replays(engine, "notify", key="k1")) == 2
    assert replays(engine, "erp") == []


def test_concurrent_calls_with_one_key_make_one_effect(engine):
    notify = NotifySandbox(engine)
    results, errors = [], []

    def send():
        try:
            results.append(notify.call("send_email", {"to": "a@x.org", "subject": "s", "body": "b"}, "k"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({r["message_id"] for r in results}) == 1
    assert len(effects(engine, "notify")) == 1
    assert sorted(r["replay"] for r in replays(engine, "notify", "send_email", "k")) == list(range(1, 8)), \
        "the seven calls that did not make the effect are replays, even when they raced the first"


def test_a_call_that_loses_the_race_to_store_its_effect_is_a_replay(engine):
    from adapters.sandbox import SandboxStore
    winner, loser = SandboxStore(engine, "notify"), SandboxStore(engine, "notify")  # both looked up: nothing yet
    assert winner.record("send_email", "k", {"n": 1}, {"message_id": "MSG-A"}) == {"message_id": "MSG-A"}
    assert loser.record("send_email", "k", {"n": 2}, {"message_id": "MSG-B"}) == {"message_id": "MSG-A"}
    assert [e["outputs"] for e in effects(engine, "notify")] == [{"message_id": "MSG-A"}]
    [replay] = replays(engine, "notify")
    assert (replay["inputs"], replay["outputs"], replay["replay"]) == ({"n": 2}, {"message_id": "MSG-A"}, 1)


def test_effects_filter_and_unknown_system(engine):
    notify = NotifySandbox(engine)
    notify.call("send_email", {"to": "a@x.org", "subject": "s", "body": "b"}, "k1")
    notify.call("send_queue_message", {"queue": "ap", "payload": {"n": 1}}, "k2")
    assert [r["operation"] for r in effects(engine, "notify", "send_queue_message")] == ["send_queue_message"]
    assert effects(engine, "notify", "send_queue_message")[0]["inputs"]["payload"] == {"n": 1}
    with pytest.raises(KeyError, match="no sandbox table"):
        effects(engine, "payroll")


def test_bad_inputs_are_contract_errors_without_effect(engine):
    erp = ErpSandbox(engine)
    with pytest.raises(ContractError, match="'memo' is required"):
        erp.call("post_journal_entry", {"entries": [], "site": "N"}, "k")
    with pytest.raises(ContractError, match="idempotency key"):
        erp.call("post_ar_payment", {"account": "A", "amount": 1, "reference": "r", "site": "N"}, "")
    with pytest.raises(ContractError, match="unknown operation"):
        erp.call("delete_ledger", {}, "k")
    assert effects(engine, "erp") == []


# --- business rules -------------------------------------------------------------

def test_appeal_of_deny_claim_is_denied(engine):
    claims = ClaimsSandbox(engine)
    with pytest.raises(BusinessError) as caught:
        claims.call("submit_appeal", {"claim_id": "DENY-42", "reason": "medical necessity"}, "k1")
    assert caught.value.code == "APPEAL_DENIED"
    assert effects(engine, "claims") == []
    ok = claims.call("submit_appeal", {"claim_id": "CLM-1", "reason": "r", "documents": ["a.pdf"]}, "k2")
    assert ok["status"] == "submitted" and ok["appeal_id"].startswith("AP-")


def test_claim_status(engine):
    claims = ClaimsSandbox(engine)
    denied = claims.call("get_claim_status", {"claim_id": "DENY-7"}, "k1")
    assert denied["status"] == "denied" and denied["denial_reason"]
    paid = claims.call("get_claim_status", {"claim_id": "CLM-7"}, "k2")
    assert paid == {"claim_id": "CLM-7", "status": "paid", "denial_reason": None}


def test_cost_centers(engine):
    erp = ErpSandbox(engine)
    cc = erp.call("lookup_cost_center", {"cost_center": "CC-100", "site": "NORTH"}, "k1")
    assert cc == {"cost_center": "CC-100", "name": "North Campus Operations", "budget_remaining": 50000.0,
                  "owner_group": "north_procurement"}
    assert erp.call("lookup_cost_center", {"cost_center": "CC-200", "site": "N"}, "k2")["budget_remaining"] == 1000.0
    assert erp.call("lookup_cost_center", {"cost_center": "CC-300", "site": "N"}, "k3")["budget_remaining"] == 250000.0
    with pytest.raises(BusinessError) as caught:
        erp.call("lookup_cost_center", {"cost_center": "CC-999", "site": "N"}, "k4")
    assert caught.value.code == "UNKNOWN_COST_CENTER"
    po = erp.call("create_purchase_order", {"requisition_id": "REQ-1", "lines": [{"sku": "x", "qty": 2}],
                                            "cost_center": "CC-100", "site": "N"}, "k5")
    assert po["po_number"].startswith("PO-")


def test_patient_accounts_and_refunds(engine):
    billing = BillingSandbox(engine)
    assert billing.call("get_patient_account", {"patient_account": "PA-9999"}, "k1") == \
        {"patient_account": "PA-9999", "credit_balance": 1800.0, "status": "open"}
    assert billing.call("get_patient_account", {"patient_account": "PA-1002"}, "k2")["credit_balance"] == 75.0
    assert billing.call("get_patient_account", {"patient_account": "PA-CLOSED-1"}, "k3")["status"] == "closed"
    for amount in (0, -5.0):
        with pytest.raises(BusinessError) as caught:
            billing.call("issue_refund", {"patient_account": "PA-1", "amount": amount, "method": "check"}, f"r{amount}")
        assert caught.value.code == "INVALID_AMOUNT"
    refund = billing.call("issue_refund", {"patient_account": "PA-1", "amount": 120.5, "method": "check"}, "r1")
    assert refund["status"] == "issued" and refund["refund_id"].startswith("RF-")
    assert billing.call("post_adjustment", {"patient_account": "PA-1", "amount": -20, "reason_code": "CO-45"},
                        "a1")["adjustment_id"].startswith("ADJ-")
    assert [r["operation"] for r in effects(engine, "billing", "issue_refund")] == ["issue_refund"]


# --- injected failures ----------------------------------------------------------

def test_fail_next_raises_transient_then_succeeds_once(engine):
    billing = BillingSandbox(engine)
    billing.fail_next("issue_refund", times=2)
    inputs = {"patient_account": "PA-1", "amount": 10.0, "method": "eft"}
    for _ in range(2):
        with pytest.raises(TransientError):
            billing.call("issue_refund", inputs, "job-9")
        assert effects(engine, "billing") == []
    first = billing.call("issue_refund", inputs, "job-9")
    assert replays(engine, "billing") == [], "failed calls left no effect, so the first success is no replay"
    assert billing.call("issue_refund", inputs, "job-9") == first
    assert len(effects(engine, "billing")) == 1
    assert len(replays(engine, "billing", "issue_refund", "job-9")) == 1


def test_fail_next_other_kinds_and_only_that_operation(engine):
    claims = ClaimsSandbox(engine)
    claims.fail_next("get_claim_status", kind="business", code="PAYER_OFFLINE")
    claims.call("submit_appeal", {"claim_id": "C1", "reason": "r"}, "k0")  # unaffected
    with pytest.raises(BusinessError) as caught:
        claims.call("get_claim_status", {"claim_id": "C1"}, "k1")
    assert caught.value.code == "PAYER_OFFLINE"
    claims.fail_next("get_claim_status", kind="contract")
    with pytest.raises(ContractError):
        claims.call("get_claim_status", {"claim_id": "C1"}, "k1")
    assert claims.call("get_claim_status", {"claim_id": "C1"}, "k1")["status"] == "paid"
    with pytest.raises(ValueError):
        claims.fail_next("get_claim_status", kind="flaky")
    with pytest.raises(ContractError):
        claims.fail_next("no_such_operation")
