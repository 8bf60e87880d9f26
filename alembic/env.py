"""Alembic environment: the URL comes from Lodestone's settings, or from the caller's connection."""

from sqlmodel import SQLModel

import service.models  # noqa: F401  (registers the tables)
from alembic import context
from service.config import get_settings
from service.db import create_db_engine

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_db_engine(get_settings())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Lodestone migrates online only: run `lodestone migrate`.")
run_migrations_online()
