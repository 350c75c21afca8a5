"""Audit rows are held until the transaction's next flush, query or commit, then written together: they
must still be seen by that transaction's queries, kept in call order, and gone with a rollback."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from runner.models import AuditEvent, ProcessInstance, db
from runner.services import audit
from runner.services.transaction import transactional


def actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_rows_are_seen_by_a_query_in_their_own_transaction_in_call_order(app):
    with app.app_context():
        audit.record("first.thing", "t", instance_id="i1")
        audit.record("second.thing", "t", instance_id="i1", password="hunter2")
        assert actions() == ["first.thing", "second.thing"]  # before any commit
        audit.record("third.thing", "t", instance_id="i1")
        db.session.commit()
        assert [e.action for e in audit.history("i1")] == ["first.thing", "second.thing", "third.thing"]
        assert audit.history("i1")[1].details == {"password": audit.MASK}


def test_rows_of_a_rolled_back_transaction_are_never_written(app):
    @transactional
    def fails():
        audit.record("doomed.thing", "t")
        raise RuntimeError("the service failed")

    with app.app_context():
        with pytest.raises(RuntimeError):
            fails()
        audit.record("kept.thing", "t")
        db.session.commit()
        assert actions() == ["kept.thing"]


def test_rows_written_by_a_flush_that_fails_go_with_its_rollback(app):
    with app.app_context():
        audit.record("instance.added", "t", instance_id="x")
        db.session.add(ProcessInstance(id="x" * 32, definition_id=None, process_key="p", site="NORTH",
                                       state="running", workflow_state="{}", started_by="t"))
        with pytest.raises(Exception):
            db.session.flush()  # the audit row is written first, then the instance is refused (no definition)
        db.session.rollback()
        assert actions() == []
