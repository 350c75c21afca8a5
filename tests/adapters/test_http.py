"""HTTP implementations against a real local HTTP server."""
import logging

import pytest

from adapters import (BusinessError, ClaimsHttp, ContractError, ErpHttp, TransientError)

TOKEN = "s3cret-token-value"
APPEAL = {"claim_id": "CLM-1", "reason": "medical necessity"}


def claims(remote, **kw):
    return ClaimsHttp(remote.url, TOKEN, **kw)


def assert_no_token(*things):
    for thing in things:
        assert TOKEN not in str(thing)
        assert TOKEN not in repr(thing)


def test_ok_posts_json_with_bearer_and_idempotency_key(remote):
    remote.answer(200, {"appeal_id": "AP-1", "status": "submitted", "extra": "dropped"})
    out = claims(remote).call("submit_appeal", {**APPEAL, "undeclared": 1}, "job-17")
    assert out == {"appeal_id": "AP-1", "status": "submitted"}
    [request] = remote.received
    assert request["path"] == "/claims/submit_appeal"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Idempotency-Key"] == "job-17"
    assert request["json"] == APPEAL


def test_base_url_trailing_slash_and_path(remote):
    remote.answer(200, {"journal_id": "JE-1"})
    ErpHttp(remote.url + "/", TOKEN).call("post_journal_entry", {"entries": [], "memo": "m", "site": "N"}, "k")
    assert remote.received[0]["path"] == "/erp/post_journal_entry"


def test_slow_answer_is_transient(remote):
    remote.answer(200, {"appeal_id": "AP-1", "status": "submitted"}, delay=0.5)
    with pytest.raises(TransientError, match="no answer within 0.1 s") as caught:
        claims(remote, timeout=0.1).call("submit_appeal", APPEAL, "k")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert_no_token(caught.value)


def test_retry_after_as_an_http_date_is_read_as_seconds_from_now(remote):
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=120), usegmt=True)
    remote.answer(503, {"message": "maintenance"}, headers={"Retry-After": later})
    with pytest.raises(TransientError) as caught:
        claims(remote).call("submit_appeal", APPEAL, "key-date")
    assert 110 < caught.value.retry_after <= 120


def test_503_is_transient_with_retry_after(remote):
    remote.answer(503, {"message": f"maintenance, token {TOKEN} ok"}, headers={"Retry-After": "30"})
    with pytest.raises(TransientError, match="HTTP 503: maintenance") as caught:
        claims(remote).call("submit_appeal", APPEAL, "k")
    assert caught.value.retry_after == 30.0
    assert_no_token(caught.value)


def test_connection_refused_is_transient():
    adapter = ClaimsHttp("http://127.0.0.1:9", TOKEN, timeout=2)
    with pytest.raises(TransientError, match="connection failed") as caught:
        adapter.call("submit_appeal", APPEAL, "k")
    assert_no_token(caught.value)


def test_422_with_code_is_business_error(remote):
    remote.answer(422, {"code": "APPEAL_DENIED", "message": "past the filing limit"})
    with pytest.raises(BusinessError) as caught:
        claims(remote).call("submit_appeal", APPEAL, "k")
    assert caught.value.code == "APPEAL_DENIED"
    assert caught.value.message == "past the filing limit"


def test_409_with_code_is_business_error(remote):
    remote.answer(409, {"code": "ALREADY_APPEALED"})
    with pytest.raises(BusinessError) as caught:
        claims(remote).call("submit_appeal", APPEAL, "k")
    assert caught.value.code == "ALREADY_APPEALED"


@pytest.mark.parametrize("status,body", [(400, {"message": "bad claim_id"}), (401, {}), (404, {}),
                                         (422, {"message": "no code"})])
def test_other_4xx_are_contract_errors(remote, status, body):
    remote.answer(status, body)
    with pytest.raises(ContractError, match=f"HTTP {status}") as caught:
        claims(remote).call("submit_appeal", APPEAL, "k")
    assert_no_token(caught.value)


def test_2xx_breaking_the_output_contract(remote):
    remote.answer(200, {"appeal_id": 17, "status": "submitted"})
    with pytest.raises(ContractError, match="'appeal_id' must be string"):
        claims(remote).call("submit_appeal", APPEAL, "k")
    remote.answer(200, ["not", "an", "object"])
    with pytest.raises(ContractError, match="JSON object"):
        claims(remote).call("submit_appeal", APPEAL, "k")


def test_bad_inputs_never_reach_the_server(remote):
    with pytest.raises(ContractError, match="'reason' is required"):
        claims(remote).call("submit_appeal", {"claim_id": "C"}, "k")
    assert remote.received == []


def test_token_is_masked_in_repr_str_and_logs(remote, caplog):
    adapter = ClaimsHttp(f"http://user:pw@127.0.0.1:{remote.url.rsplit(':', 1)[1]}", TOKEN)
    assert_no_token(adapter)
    assert "***" in repr(adapter) and "pw" not in repr(adapter)
    caplog.set_level(logging.DEBUG)
    remote.answer(503, {"message": TOKEN})
    with pytest.raises(TransientError):
        claims(remote).call("submit_appeal", APPEAL, "k")
    assert TOKEN not in caplog.text
