"""The Alembic migrations build the schema the models declare, on SQLite and PostgreSQL; migration 0013
gives every human task the version it is open or ran under; 0014, 0015 and 0016 rework indexes; 0017 tells
the offers of open tasks from those of ended ones."""
from __future__ import annotations

import warnings
from datetime import datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text

from adapters import sandbox
from runner.models import AuditEvent, HumanTask, ProcessInstance, StageInterval, TaskCandidate, db, upgrade_database
from runner.models.migrate import alembic_config
from tests.conftest import selected_database
from tests.helpers import crafted_versions


def test_the_migrated_schema_is_the_one_the_models_declare(database_url):
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection, warnings.catch_warnings():
            # SQLite's expression index (ix_human_tasks_worklist) cannot be reflected, so is not compared
            warnings.filterwarnings("ignore", message=".*expression-based index.*")
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, [db.metadata, sandbox.metadata])
    finally:
        engine.dispose()
    assert differences == []


def test_migration_0013_gives_each_task_the_version_it_is_open_or_ran_under(app, database_url):
    moved_at, ended_at = datetime(2024, 5, 10), datetime(2024, 5, 11)
    with app.app_context():
        crafted = crafted_versions(("claims", 1), ("claims", 2))
        v1, v2 = crafted["claims", 1], crafted["claims", 2]
        for name, version, state in (("moved", v2, "running"), ("stayed", v1, "running"), ("ended", v1, "terminated")):
            db.session.add(ProcessInstance(id=name, definition_id=version.id, process_key="claims", site="NORTH",
                                           state=state, workflow_state="", started_by="test", variables={},
                                           started_at=datetime(2024, 5, 1),
                                           ended_at=ended_at if state == "terminated" else None))
        db.session.flush()
        db.session.add(AuditEvent(action="instance.migrated", actor="admin", instance_id="moved", at=moved_at,
                                  details={"from_version": 1, "to_version": 2}))
        for task_id, instance, state, completed in (
                ("done-before-the-move", "moved", "completed", datetime(2024, 5, 5)),
                ("cancelled-by-the-move", "moved", "cancelled", moved_at),
                ("open-after-the-move", "moved", "open", None),
                ("done-after-the-move", "moved", "completed", datetime(2024, 5, 12)),
                ("never-moved", "stayed", "completed", datetime(2024, 5, 5))):
            db.session.add(HumanTask(instance_id=instance, spiff_task_id=task_id, element_id="review", name="Review",
                                     process_key="claims", site="NORTH", state=state, completed_at=completed))
        for instance in ("stayed", "ended"):  # a termination before 0010's fix left "ended"'s stay open
            db.session.add(StageInterval(instance_id=instance, process_key="claims", definition_id=v1.id,
                                         site="NORTH", stage="in_review", entered_at=datetime(2024, 5, 2)))
        db.session.commit()
        ids = {1: v1.id, 2: v2.id}
        db.session.remove()
        db.engine.dispose()
    command.downgrade(alembic_config(database_url), "0012")
    upgrade_database(database_url)
    with app.app_context():
        versions = dict(db.session.execute(select(HumanTask.spiff_task_id, HumanTask.definition_id)).all())
        stays = dict(db.session.execute(select(StageInterval.instance_id, StageInterval.left_at)).all())
    assert versions == {"done-before-the-move": ids[1], "cancelled-by-the-move": ids[1],
                        "open-after-the-move": ids[2], "done-after-the-move": ids[2], "never-moved": ids[1]}
    assert stays == {"stayed": None, "ended": ended_at}


def test_migration_0014_puts_the_assignee_in_the_worklist_index_on_postgresql(database_url):
    if selected_database() != "postgresql":
        pytest.skip("PostgreSQL only (SQLite has no INCLUDE)")

    def definition() -> str:
        engine = create_engine(database_url)
        try:
            with engine.connect() as connection:
                return connection.execute(text("SELECT indexdef FROM pg_indexes "
                                               "WHERE indexname = 'ix_human_tasks_worklist'")).scalar_one()
        finally:
            engine.dispose()
    assert definition().endswith("INCLUDE (assignee)")
    command.downgrade(alembic_config(database_url), "0013")
    assert "INCLUDE" not in definition()
    upgrade_database(database_url)
    assert definition().endswith("INCLUDE (assignee)")


def _indexes(database_url) -> dict[str, set[str]]:
    engine = create_engine(database_url)
    try:
        found = inspect(engine)
        return {table: {index["name"] for index in found.get_indexes(table)}
                for table in ("process_instances", "audit_events")}
    finally:
        engine.dispose()


def test_migration_0015_drops_the_indexes_a_longer_index_leads_with_and_gives_them_back(database_url):
    dropped = {"process_instances": {"ix_process_instances_state"}, "audit_events": {"ix_audit_events_action"}}
    leading = {"process_instances": {"ix_process_instances_state_key_site", "ix_process_instances_ended"},
               "audit_events": {"ix_audit_events_action_at"}}
    now = _indexes(database_url)
    assert all(leading[table] <= now[table] and not dropped[table] & now[table] for table in dropped)
    command.downgrade(alembic_config(database_url), "0014")
    assert all(dropped[table] | leading[table] <= _indexes(database_url)[table] for table in dropped)
    upgrade_database(database_url)
    assert _indexes(database_url) == now


def test_migration_0016_drops_the_audit_time_index_and_gives_it_back(database_url):
    kept = {"ix_audit_events_instance_id", "ix_audit_events_action_at"}
    now = _indexes(database_url)
    assert kept <= now["audit_events"] and "ix_audit_events_at" not in now["audit_events"]
    command.downgrade(alembic_config(database_url), "0015")
    assert kept | {"ix_audit_events_at"} <= _indexes(database_url)["audit_events"]
    upgrade_database(database_url)
    assert _indexes(database_url) == now


def test_migration_0017_tells_the_offers_of_ended_tasks_apart_and_gives_the_old_index_back(app, database_url):
    with app.app_context():
        definition = crafted_versions(("claims", 1))["claims", 1]
        db.session.add(ProcessInstance(id="claim-1", definition_id=definition.id, process_key="claims", site="NORTH",
                                       state="running", workflow_state="", started_by="test", variables={}))
        db.session.flush()
        for task_id, state in (("open-task", "open"), ("done-task", "completed"), ("gone-task", "cancelled")):
            db.session.add(HumanTask(id=task_id, instance_id="claim-1", spiff_task_id=task_id, element_id="review",
                                     name="Review", process_key="claims", site="NORTH", state=state,
                                     candidates=[TaskCandidate(kind="group", value="north_billing"),
                                                 TaskCandidate(kind="user", value="alice")]))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    def offers_index() -> dict[str, list[str]]:  # task_candidates' indexes but the one of task_id
        engine = create_engine(database_url)
        try:
            return {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("task_candidates")
                    if index["column_names"] != ["task_id"]}
        finally:
            engine.dispose()
    assert offers_index() == {"ix_task_candidates_offers": ["kind", "value", "task_open", "task_id"]}
    command.downgrade(alembic_config(database_url), "0016")
    assert offers_index() == {"ix_task_candidates_kind_value": ["kind", "value", "task_id"]}
    upgrade_database(database_url)  # from 0016: the flags come from the tasks' states
    assert offers_index() == {"ix_task_candidates_offers": ["kind", "value", "task_open", "task_id"]}
    with app.app_context():
        flags = set(db.session.execute(select(TaskCandidate.task_id, TaskCandidate.kind, TaskCandidate.task_open)))
    assert flags == {(task_id, kind, task_id == "open-task")
                     for task_id in ("open-task", "done-task", "gone-task") for kind in ("group", "user")}
