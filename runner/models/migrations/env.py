"""Alembic environment: migrations run against the URL set by runner.models.migrate."""
from alembic import context
from sqlalchemy import create_engine, pool

from runner.models.base import Base
import runner.models  # noqa: F401  (registers every table on Base.metadata)
from adapters.sandbox import metadata as sandbox_metadata

config = context.config
target_metadata = [Base.metadata, sandbox_metadata]


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
