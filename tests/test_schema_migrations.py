"""The Alembic migrations build the schema the models declare, on SQLite and PostgreSQL; migration 0013
gives every human task its instance's version."""
from __future__ import annotations

import warnings
from datetime import datetime

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select

from adapters import sandbox
from runner.models import Deployment, HumanTask, ProcessDefinition, ProcessInstance, db, upgrade_database
from runner.models.migrate import alembic_config


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


def test_migration_0013_gives_each_task_its_instances_version(app, database_url):
    with app.app_context():
        deployment = Deployment(name="m", content_hash="2" * 64, created_by="test")
        db.session.add(deployment)
        db.session.flush()
        versions = [ProcessDefinition(process_key="claims", version=v, name="claims", deployment_id=deployment.id)
                    for v in (1, 2)]
        db.session.add_all(versions)
        db.session.flush()
        for name, version in (("old", versions[0]), ("new", versions[1])):
            db.session.add(ProcessInstance(id=name, definition_id=version.id, process_key="claims", site="NORTH",
                                           state="running", workflow_state="", started_by="test",
                                           started_at=datetime(2024, 5, 1), variables={}))
        db.session.flush()
        for n, (instance, state) in enumerate((("old", "completed"), ("old", "open"), ("new", "open"))):
            db.session.add(HumanTask(instance_id=instance, spiff_task_id=f"t{n}", element_id="review", name="Review",
                                     process_key="claims", site="NORTH", state=state))
        db.session.commit()
        ids = {"old": versions[0].id, "new": versions[1].id}
        db.session.remove()
        db.engine.dispose()
    command.downgrade(alembic_config(database_url), "0012")
    upgrade_database(database_url)
    with app.app_context():
        found = sorted(db.session.execute(select(HumanTask.spiff_task_id, HumanTask.definition_id)).all())
    assert found == [("t0", ids["old"]), ("t1", ids["old"]), ("t2", ids["new"])]
