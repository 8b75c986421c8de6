"""Alembic environment: migrations run over the sync driver (psycopg2 / sqlite3)."""

from alembic import context
from sqlalchemy import Connection

from db.session import make_sync_engine
from db.tables import Base
from settings import get_settings

target_metadata = Base.metadata


def run_migrations_offline() -> None:
    from db.session import sync_url

    context.configure(
        url=sync_url(get_settings().DATABASE_URL).render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_sync_engine(get_settings(), pool_size=1)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
