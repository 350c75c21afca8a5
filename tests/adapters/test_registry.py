import pytest

from adapters import (BusinessError, ClaimsHttp, ClaimsSandbox, ErpSandbox, Registry, build_registry, contracts,
                      effects)


def test_resolve_topics_and_call(engine):
    registry = Registry([ErpSandbox(engine), ClaimsSandbox(engine)])
    adapter, op = registry.resolve("claims.submit_appeal")
    assert isinstance(adapter, ClaimsSandbox) and op.name == "submit_appeal"
    assert "claims.get_claim_status" in registry.topics() and "erp.post_ar_payment" in registry.topics()
    assert registry.topics() == sorted(registry.topics())
    assert [f.name for f in registry.operation("erp.lookup_cost_center").outputs] == \
        ["cost_center", "name", "budget_remaining", "owner_group"]
    out = registry.call("erp.post_ar_payment", {"account": "AR-1", "amount": 5, "reference": "r", "site": "N"}, "k")
    assert effects(engine, "erp")[0]["outputs"] == out
    with pytest.raises(BusinessError):
        registry.call("claims.submit_appeal", {"claim_id": "DENY-1", "reason": "r"}, "k")


@pytest.mark.parametrize("topic,message", [("payroll.run", "unknown system 'payroll'"),
                                           ("erp.delete_ledger", "no operation 'delete_ledger'"),
                                           ("erp", "not of the form"), ("", "not of the form")])
def test_unknown_topic_is_a_clear_key_error(engine, topic, message):
    registry = Registry([ErpSandbox(engine)])
    with pytest.raises(KeyError) as caught:
        registry.resolve(topic)
    assert message in str(caught.value)
    assert topic not in registry


def test_register_twice_is_refused(engine):
    registry = Registry([ErpSandbox(engine)])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(ErpSandbox(engine))


def test_contracts_need_no_engine():
    lookup = contracts()
    assert "notify.send_queue_message" in lookup
    assert lookup.operation("claims.submit_appeal").input("documents").required is False
    assert set(lookup.systems()) == {"erp", "billing", "claims", "notify"}
    with pytest.raises(KeyError):
        lookup.operation("claims.nope")


def test_build_registry_sandbox_by_default(engine):
    registry = build_registry(engine, env={})
    assert all(type(registry.adapter(s)).__name__.endswith("Sandbox") for s in registry.systems())
    assert registry.topics() == contracts().topics()


def test_build_registry_uses_http_when_url_set(engine, remote):
    env = {"LANES_ADAPTER_CLAIMS_URL": remote.url, "LANES_ADAPTER_CLAIMS_TOKEN": "tok-1",
           "LANES_ADAPTER_CLAIMS_TIMEOUT": "3"}
    registry = build_registry(engine, env=env)
    adapter, _ = registry.resolve("claims.get_claim_status")
    assert isinstance(adapter, ClaimsHttp) and adapter.timeout == 3.0
    assert isinstance(registry.adapter("erp"), ErpSandbox)
    remote.answer(200, {"claim_id": "C1", "status": "paid", "denial_reason": None})
    assert registry.call("claims.get_claim_status", {"claim_id": "C1"}, "k")["status"] == "paid"
    assert remote.received[0]["headers"]["Authorization"] == "Bearer tok-1"
    assert effects(engine, "claims") == []


def test_build_registry_configuration_errors(engine):
    with pytest.raises(ValueError, match="LANES_ADAPTER_ERP_TOKEN"):
        build_registry(engine, env={"LANES_ADAPTER_ERP_URL": "http://x"})
    with pytest.raises(ValueError, match="no engine"):
        build_registry(None, env={})
