"""Issue 4: the services behind the web pages (work lists, process views, terminate), on SQLite and PostgreSQL."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from adapters import build_registry
from runner.models import db
from runner.services import (Conflict, Forbidden, accounts, admin_actions, audit, deployments, incidents, instances, jobs,
                             process_views, system_principal, tasks, worklists)
from runner.worker import Worker
from tests.helpers import PROCESSES, folder_files

ADMIN = system_principal("test-admin")
PAYOUT = Path(__file__).parent / "fixtures" / "jobs" / "refund_payout.bpmn"


def _start(key, business_key, **variables):
    instance, _ = instances.start_instance(key, "NORTH", variables, actor=ADMIN, business_key=business_key)
    return instance.id


def test_terminate_cancels_tasks_and_is_audited_once(app):
    with app.app_context():
        deployments.deploy(folder_files(PROCESSES / "patient_refund"), name="refund", actor=ADMIN)
        instance_id = _start("patient_refund", "PA-T1", amount=300, reason="overpayment", patient_account="PA-T1")
        Worker(app, name="t", registry=build_registry(db.engine, env={})).drain()
        assert tasks.open_tasks(instance_id)
        staff = accounts.create_user("sue", actor=ADMIN, sites=["NORTH"], groups=["north_billing"])
        with pytest.raises(Forbidden):
            admin_actions.terminate_instance(instance_id, accounts.principal(staff.username), reason="no")

        admin_actions.terminate_instance(instance_id, ADMIN, reason="duplicate request")
        instance = instances.get_instance(instance_id, ADMIN)
        assert (instance.state, instance.activities) == ("terminated", [])
        assert instance.ended_at is not None
        assert tasks.open_tasks(instance_id) == []
        [row] = [e for e in audit.history(instance_id) if e.action == "instance.terminated"]
        assert row.actor == "test-admin" and row.details["reason"] == "duplicate request"
        assert row.details["activities"] == ["first_approval"] and len(row.details["cancelled_tasks"]) == 1
        with pytest.raises(Conflict):
            admin_actions.terminate_instance(instance_id, ADMIN)


def test_terminate_resolves_incidents_and_removes_jobs(app):
    with app.app_context():
        deployments.deploy({PAYOUT.name: PAYOUT.read_bytes()}, name="payout", actor=ADMIN)
        instance_id = _start("refund_payout", "PAY-T1", patient_account="PA-9", amount=10)
        registry = build_registry(db.engine, env={})
        registry.adapter("billing").fail_next("issue_refund", times=100)
        worker = Worker(app, name="t", registry=registry)
        deadline = time.monotonic() + 10
        while not incidents.list_incidents(ADMIN):
            assert time.monotonic() < deadline, "no incident opened"
            worker.drain()
            time.sleep(0.1)
        assert jobs.list_jobs(instance_id=instance_id)

        admin_actions.terminate_instance(instance_id, ADMIN, reason="paid by hand")
        assert jobs.list_jobs(instance_id=instance_id) == []
        assert incidents.list_incidents(ADMIN) == []
        [incident] = incidents.list_incidents(ADMIN, state="resolved")
        assert (incident.resolved_by, incident.job_id) == ("test-admin", None)
        assert instances.get_instance(instance_id, ADMIN).state == "terminated"
        worker.drain()   # nothing left to run
        assert instances.get_instance(instance_id, ADMIN).state == "terminated"


def test_sla_state_in_utc_days():
    now = datetime(2026, 5, 4, 10, 0)
    assert worklists.sla_state(None, now) is None
    assert worklists.sla_state(now - timedelta(minutes=1), now) == "overdue"
    assert worklists.sla_state(now.replace(hour=23, minute=59), now) == "due-today"
    assert worklists.sla_state(now + timedelta(days=1), now) == "on-track"


def test_work_lists_versions_and_diagrams(app):
    with app.app_context():
        files = folder_files(PROCESSES / "patient_refund")
        deployments.deploy(files, name="refund", actor=ADMIN)
        north = _start("patient_refund", "PA-W1", amount=300, reason="overpayment", patient_account="PA-W1")
        small = _start("patient_refund", "PA-W2", amount=100, reason="overpayment", patient_account="PA-W2")
        instances.start_instance("patient_refund", "SOUTH", {"amount": 100, "reason": "overpayment",
                                 "patient_account": "PA-W3"}, actor=ADMIN, business_key="PA-W3")
        Worker(app, name="t", registry=build_registry(db.engine, env={})).drain()
        accounts.create_user("nia", actor=ADMIN, sites=["NORTH"], groups=["north_billing", "south_billing"])
        nia = accounts.principal("nia")

        group = worklists.work_list(worklists.GROUP, nia)
        assert sorted(i.task.business_key for i in group) == ["PA-W1", "PA-W2"]   # NORTH only
        assert {i.sla for i in group} == {"on-track"}
        assert worklists.work_list(worklists.GROUP, nia, sla="overdue") == []
        assert worklists.list_facets(nia) == {"processes": ["patient_refund"], "sites": ["NORTH"]}
        tasks.claim_task(group[0].task.id, nia)
        assert [i.task.id for i in worklists.work_list(worklists.MY, nia)] == [group[0].task.id]
        assert worklists.counts(nia) == {"mine": 1, "group": 1}
        tasks.unclaim_task(group[0].task.id, nia)
        assert worklists.counts(nia) == {"mine": 0, "group": 2}
        cap, worklists.COUNT_CAP = worklists.COUNT_CAP, 1  # past the cap the navigation says "1+", not "2"
        try:
            assert worklists.counts(nia) == {"mine": 0, "group": "1+"}
        finally:
            worklists.COUNT_CAP = cap
        tasks.claim_task(group[0].task.id, nia)
        assert len(worklists.work_list(worklists.GROUP, ADMIN)) == 2   # admin: every unclaimed task

        changed = dict(files)
        bpmn = next(name for name in files if name.endswith(".bpmn"))
        changed[bpmn] = files[bpmn].replace(b'name="Approve refund"', b'name="Approve a refund"')
        deployments.deploy(changed, name="refund renamed", actor=ADMIN)
        [v2, v1] = process_views.process_versions("patient_refund")
        assert (v1.definition.version, v1.counts["running"], v2.counts["running"]) == (1, 3, 0)
        diffs = {d.filename: d for d in process_views.diff_versions(v1.definition, v2.definition)}
        assert {d.status for name, d in diffs.items() if name != bpmn} == {"same"}
        assert diffs[bpmn].status == "changed"
        assert any(line.startswith("+") and "Approve a refund" in line for line in diffs[bpmn].lines)
        assert any(line.startswith("-") and "Approve refund" in line for line in diffs[bpmn].lines)
        on_v1 = process_views.instances_of_version(ADMIN, "patient_refund", 1, site="NORTH")
        assert {i.id for i in on_v1} == {north, small}
        assert process_views.instances_of_version(ADMIN, "patient_refund", 2) == []
        with pytest.raises(Forbidden):
            process_views.instances_of_version(nia, "patient_refund", 1)

        diagram = process_views.instance_diagram(instances.get_instance(north, ADMIN))
        assert diagram.current == ["first_approval"]
        assert {"refund_requested", "decide_approval"} <= set(diagram.completed)
        assert diagram.filename == bpmn and "<bpmn:definitions" in diagram.xml
