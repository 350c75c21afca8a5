"""The task list (GET /api/v1/tasks, tasks.list_tasks): who sees which task, in which order, page by page.

A staff member's list reads each of their sites' open tasks in worklist order and keeps those whose id
is theirs (offered to them or their groups, assigned to or completed by them); an admin's reads each
site's (all of theirs) the same way, keeping every id; a list of tasks in any state, one instance's,
and one over more than MAX_SITE_PAGES sites check the rows themselves in one pass. Whatever the path, the list must hold exactly the tasks
is_mine() lets them see, in (undated last, due_at, created_at, id) order, and pages must cut that
one order.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import load_only

from runner.models import HumanTask, TaskCandidate, db
from runner.services import tasks, worklists
from runner.services.accounts import Principal
from runner.services.tasks import TaskFilter
from tests.accounts_fixtures import bearer, client, test_users  # noqa: F401  (client: admin by default)
from tests.helpers import upload
from tests.security.bpmn import user_task_process

ALICE = bearer("alice")  # NORTH and WEST: north_finance, north_billing, billing_office
BOB = bearer("bob")      # NORTH: north_finance, refund_controllers
WHEN = datetime(2031, 3, 1, 9, 30)


def start(client, key: str, site: str, count: int = 1) -> list[str]:
    """Start `count` instances of `key` at `site`; the ids of the tasks they open."""
    ids = []
    for i in range(count):
        response = client.post("/api/v1/process-instances", json={
            "processKey": key, "site": site, "businessKey": f"{key}-{site}-{i}"})
        assert response.status_code == 201, response.get_json()
        ids += [t["id"] for t in response.get_json()["openTasks"]]
    return ids


def test_tasks_due_and_created_at_the_same_instant_are_listed_once_each_page_by_page(app, client):
    """Parallel children are due and created in the same instant: the id breaks the tie, so paging with
    limit/offset neither repeats nor skips one, whether one site is read, several are merged, or all."""
    assert upload(client, {"tie.bpmn": user_task_process("tie", candidateGroups="north_finance")}).status_code == 201
    north, west = start(client, "tie", "NORTH", 9), start(client, "tie", "WEST", 9)
    with app.app_context():
        db.session.execute(update(HumanTask).values(due_at=WHEN, created_at=WHEN - timedelta(days=1)))
        db.session.commit()

    def paged(headers: dict, size: int) -> list[str]:
        seen = []
        for offset in range(0, 24, size):
            response = client.get(f"/api/v1/tasks?limit={size}&offset={offset}", headers=headers)
            assert response.status_code == 200, response.get_json()
            seen += [t["id"] for t in response.get_json()]
        return seen

    for headers, expected in ((ALICE, north + west), (BOB, north), ({}, north + west)):
        for size in (2, 4, 5):
            seen = paged(headers, size)
            assert sorted(seen) == sorted(expected), (headers, size)  # each exactly once
            assert seen == sorted(expected)                           # ties in id order


def visible_order(task: HumanTask) -> tuple:
    return (task.due_at is None, task.due_at or datetime.min, task.created_at, task.id)


def matches(task: HumanTask, f: TaskFilter) -> bool:
    return ((not f.state or task.state == f.state) and (not f.site or task.site == f.site)
            and (not f.assignee or task.assignee == f.assignee)
            and (not f.process_key or task.process_key == f.process_key)
            and (not f.instance_id or task.instance_id == f.instance_id)
            and (not f.candidate_group or f.candidate_group in task.candidate_groups)
            and (not f.candidate_user or f.candidate_user in task.candidate_users))


PRINCIPALS = {
    "admin": Principal("root", roles=frozenset({"admin"})),
    "alice": Principal("alice", frozenset({"staff"}), frozenset({"NORTH", "WEST"}),
                       frozenset({"north_finance", "north_billing"})),
    "bob": Principal("bob", frozenset({"staff"}), frozenset({"NORTH"}), frozenset({"north_finance"})),
    "carol": Principal("carol", frozenset({"staff"}), frozenset({"NORTH", "SOUTH", "WEST"})),  # no groups
    "sam": Principal("sam", frozenset({"staff"}), frozenset({"SOUTH"}), frozenset({"south_billing"})),
    "nobody": Principal("nobody", frozenset({"staff"}), frozenset(), frozenset({"north_finance"})),  # no site
}


@pytest.fixture
def mixed_tasks(app, client):
    """Tasks at three sites offered to groups, to carol by name or assigned to her, some claimed by
    someone else, one completed by alice and one by carol; due dates with ties and undated ones."""
    processes = {"grp": dict(candidateGroups="north_finance,south_billing"),
                 "usr": dict(candidateUsers="carol,dave"),
                 "asg": dict(assignee="carol"),
                 "bill": dict(candidateGroups="north_billing")}
    for key, attributes in processes.items():
        assert upload(client, {f"{key}.bpmn": user_task_process(key, **attributes)}).status_code == 201
    ids = [task_id for key in processes for site in ("NORTH", "SOUTH", "WEST")
           for task_id in start(client, key, site, 2)]
    system = PRINCIPALS["admin"]
    with app.app_context():
        rows = {t.id: t for t in db.session.scalars(select(HumanTask))}
        for n, task_id in enumerate(ids):  # due dates: every third undated, the others on four days (ties)
            rows[task_id].due_at = None if n % 3 == 0 else WHEN + timedelta(days=n % 4)
            rows[task_id].created_at = WHEN - timedelta(hours=n % 5)
        db.session.commit()
        by_key = lambda key, site: [t.id for t in rows.values() if t.process_key == key and t.site == site]
        tasks.claim_task(by_key("grp", "NORTH")[0], system, assignee="bob")      # offered to alice's group, bob's now
        tasks.claim_task(by_key("bill", "WEST")[0], system, assignee="dave")     # offered to alice's group, dave's
        tasks.claim_task(by_key("grp", "SOUTH")[0], system, assignee="carol")    # carol's by assignment alone
        tasks.complete_task(by_key("bill", "NORTH")[0], {}, PRINCIPALS["alice"])
        tasks.complete_task(by_key("asg", "NORTH")[0], {}, PRINCIPALS["carol"])
    return ids


FILTERS = [TaskFilter(), TaskFilter(state=None), TaskFilter(state="completed"), TaskFilter(site="NORTH"),
           TaskFilter(site="SOUTH", state=None), TaskFilter(site="EAST"), TaskFilter(candidate_group="north_finance"),
           TaskFilter(candidate_user="carol"), TaskFilter(assignee="carol", state=None), TaskFilter(process_key="usr"),
           TaskFilter(assignee="bob"), TaskFilter(limit=3, offset=2), TaskFilter(limit=4, offset=10)]


@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_each_list_holds_exactly_the_tasks_is_mine_lets_them_see_in_one_order(app, mixed_tasks, who):
    actor = PRINCIPALS[who]
    with app.app_context():
        everything = sorted(db.session.scalars(select(HumanTask)), key=visible_order)
        instances = sorted({t.instance_id for t in everything})
        for f in FILTERS + [TaskFilter(instance_id=i, state=None) for i in instances[::5]]:
            expected = [t.id for t in everything if matches(t, f) and tasks.is_mine(t, actor)]
            assert [t.id for t in tasks.list_tasks(f, actor)] == expected[f.offset:f.offset + f.limit], (who, f)
        mine = [t for t in everything if t.state == "open" and tasks.is_mine(t, actor)]
        paged = [t.id for offset in range(0, len(mine) + 3, 3)
                 for t in tasks.list_tasks(TaskFilter(limit=3, offset=offset), actor)]
        assert paged == [t.id for t in mine]
        assert len(mine) > 3 or who in ("nobody", "sam", "bob")  # alice's, carol's and the admin's take pages


def test_an_admins_group_list_merges_every_sites_unclaimed_tasks_in_one_order(app, mixed_tasks):
    admin = PRINCIPALS["admin"]
    with app.app_context():
        unclaimed = [t.id for t in sorted(db.session.scalars(select(HumanTask)), key=visible_order)
                     if t.state == "open" and t.assignee is None]
        assert len({db.session.get(HumanTask, i).site for i in unclaimed}) == 3
        assert [i.task.id for i in worklists.work_list(worklists.GROUP, admin)] == unclaimed
        paged = [i.task.id for offset in range(0, len(unclaimed) + 4, 4)
                 for i in worklists.work_list(worklists.GROUP, admin, limit=4, offset=offset)]
        assert paged == unclaimed
        west = [i.task.id for i in worklists.work_list(worklists.GROUP, admin, site="WEST")]
        assert west == [i for i in unclaimed if db.session.get(HumanTask, i).site == "WEST"]
        assert worklists.work_list(worklists.GROUP, admin, site="EAST") == []
        assert tasks.sites_with_tasks("open") == ["NORTH", "SOUTH", "WEST"]
        assert tasks.sites_with_tasks("completed") == ["NORTH"]
        assert tasks.sites_with_tasks("cancelled") == []


@pytest.mark.parametrize("who", ["admin", "alice", "carol"])
def test_past_max_site_pages_the_lists_are_read_in_one_pass_and_hold_the_same(app, mixed_tasks, who, monkeypatch):
    actor = PRINCIPALS[who]
    with app.app_context():
        def lists():
            return ([[t.id for t in tasks.list_tasks(f, actor)] for f in FILTERS],
                    [i.task.id for i in worklists.work_list(worklists.GROUP, actor)])
        site_by_site = lists()
        monkeypatch.setattr(tasks, "MAX_SITE_PAGES", 1)
        assert lists() == site_by_site


def test_the_rules_the_lists_follow(app, mixed_tasks):
    """Spelled out for two of them: alice sees her groups' tasks at her sites even when claimed by
    someone else, and what she completed; carol, in no group, sees what names her or is assigned to her."""
    with app.app_context():
        def listed(actor: str, **filters) -> set[tuple[str, str, str | None]]:
            return {(t.process_key, t.site, t.assignee)
                    for t in tasks.list_tasks(TaskFilter(**filters), PRINCIPALS[actor])}

        assert listed("alice") == {("grp", "NORTH", "bob"), ("grp", "NORTH", None), ("grp", "WEST", None),
                                   ("bill", "NORTH", None), ("bill", "WEST", "dave"), ("bill", "WEST", None)}
        assert listed("alice", state="completed") == {("bill", "NORTH", None)}
        assert listed("carol") == {("usr", "NORTH", None), ("usr", "SOUTH", None), ("usr", "WEST", None),
                                   ("asg", "NORTH", "carol"), ("asg", "SOUTH", "carol"), ("asg", "WEST", "carol"),
                                   ("grp", "SOUTH", "carol")}
        assert listed("carol", state="completed") == {("asg", "NORTH", "carol")}
        assert listed("nobody", state=None) == set()


def _end_expired(task):  # after a commit every attribute is expired: set unread, the state keeps no old value
    db.session.commit()
    task.state = "cancelled"


def _end_unloaded(task):  # read without its state at all
    task_id = task.id
    db.session.commit()
    db.session.expunge_all()
    task = db.session.scalars(select(HumanTask).where(HumanTask.id == task_id).options(load_only(HumanTask.id))).one()
    task.state = "completed"


def _end_with_new_candidates(task):  # its candidates replaced in the flush that ends it
    task.candidates = [TaskCandidate(kind="group", value="north_billing")]
    task.state = "cancelled"


def _created_ended(task):  # a task that is written ended, never open
    db.session.add(HumanTask(instance_id=task.instance_id, spiff_task_id="ended-at-once", element_id="review",
                             name="Review", process_key=task.process_key, site=task.site, state="completed",
                             candidates=[TaskCandidate(kind="group", value="north_billing")]))


@pytest.mark.parametrize("end", [_end_expired, _end_unloaded, _end_with_new_candidates, _created_ended],
                         ids=["expired", "unloaded", "new-candidates", "created-ended"])
def test_however_a_task_is_ended_its_offers_say_so(app, mixed_tasks, end):
    """The flush that writes a task's state closes its offers, whatever was loaded before (conftest checks
    every candidate row after each test too)."""
    with app.app_context():
        offered = select(HumanTask).where(HumanTask.state == "open", HumanTask.candidates.any())
        task = db.session.scalars(offered).first()
        end(task)
        db.session.commit()
        ended = db.session.scalars(select(HumanTask).where(HumanTask.state != "open")).all()
        assert {c.task_open for t in ended for c in t.candidates} == {False}
        assert len(ended) == 3  # the two mixed_tasks completes, and this one
