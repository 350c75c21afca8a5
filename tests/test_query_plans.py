"""Which index SQLite's planner takes for the task lists and the metrics' open work. It has no statistics
to go by (nothing runs ANALYZE), so it chooses the same for ten rows as for 100,000: an index added for
one query can take another's over, as migration 0013's first index did the Group tasks page's query
(27 -> 85 ms at 100,000 open tasks, bench/task_list.py)."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from runner.models import HumanTask, ProcessInstance, db
from runner.services import accounts, metrics, tasks, worklists
from tests.accounts_fixtures import test_users  # noqa: F401
from tests.conftest import selected_database
from tests.helpers import crafted_versions

pytestmark = pytest.mark.skipif(selected_database() != "sqlite", reason="SQLite's planner (LANES_TEST_DB=sqlite)")


def human_task_plans(app, call, actors=("alice", "admin")) -> list[str]:
    """The query plan of each SELECT from human_tasks that `call(actor)` runs, in the order run, for each
    of `actors`: by default alice (staff at two sites) and admin (every site)."""
    seen = []

    def record(_conn, _cursor, statement, parameters, *_):
        if statement.lstrip().startswith(("SELECT", "WITH")) and "FROM human_tasks" in statement:
            seen.append((statement, parameters))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            for actor in actors:
                call(accounts.principal(actor))
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        cursor = db.session.connection().connection.cursor()
        return [" | ".join(row[-1] for row in cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters))
                for statement, parameters in seen]


@pytest.fixture
def open_task(app):
    """An open task at NORTH and one at SOUTH (an admin's lists read the sites that have tasks first)."""
    with app.app_context():
        definition = crafted_versions(("claims", 1))["claims", 1]
        for site in ("NORTH", "SOUTH"):
            db.session.add(ProcessInstance(id=site, definition_id=definition.id, process_key="claims", site=site,
                                           state="running", workflow_state="", started_by="test", variables={}))
            db.session.flush()
            db.session.add(HumanTask(instance_id=site, definition_id=definition.id, spiff_task_id=site,
                                     element_id="review", name="Review", process_key="claims", site=site))
        db.session.commit()


def test_the_group_and_my_task_lists_walk_their_own_indexes(app, test_users, open_task):
    alice_group, admin_sites, admin_group = human_task_plans(
        app, lambda actor: worklists.work_list(worklists.GROUP, actor))
    assert "USING INDEX ix_human_tasks_worklist (state=? AND site=?)" in alice_group
    assert admin_group.count("USING INDEX ix_human_tasks_worklist (state=? AND site=?)") == 2  # a page a site
    # the sites with open tasks: one seek each, the next site after the last, not a walk of every task
    assert "ix_human_tasks_worklist (state=? AND site>?)" in admin_sites
    alice_list, admin_sites, admin_list = human_task_plans(
        app, lambda actor: tasks.list_tasks(tasks.TaskFilter(), actor))
    assert alice_list.count("USING COVERING INDEX ix_human_tasks_worklist (state=? AND site=?)") == 2
    assert admin_list.count("USING COVERING INDEX ix_human_tasks_worklist (state=? AND site=?)") == 2
    alice_mine, admin_mine = human_task_plans(app, lambda actor: worklists.work_list(worklists.MY, actor))
    assert "USING INDEX ix_human_tasks_assigned (assignee=? AND state=? AND site=?)" in alice_mine
    assert "USING INDEX ix_human_tasks_assigned (assignee=? AND state=?)" in admin_mine


def test_the_open_work_per_step_is_read_from_its_index_alone(app, test_users, open_task):
    query = metrics.parse_query({})
    for open_steps in human_task_plans(app, lambda actor: metrics.queue_aging(query, actor)):
        assert "USING COVERING INDEX ix_human_tasks_open_steps (state=?)" in open_steps
        assert "TEMP B-TREE" not in open_steps  # grouped in the index's order


def test_the_lists_of_open_tasks_read_only_the_open_tasks_offers(app, test_users, open_task):
    """The ids offered to alice's groups and to her by name, and those assigned to her, come from ranges of
    open tasks (migration 0017), not from every task ever offered to those groups or completed by her."""
    for call in (lambda actor: worklists.work_list(worklists.GROUP, actor),
                 lambda actor: tasks.list_tasks(tasks.TaskFilter(), actor), worklists.counts):
        plans = " | ".join(human_task_plans(app, call, actors=("alice",)))
        assert "ix_task_candidates_offers (kind=? AND value=? AND task_open=?)" in plans
        assert "ix_human_tasks_completed_by" not in plans
