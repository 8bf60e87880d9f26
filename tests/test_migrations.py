"""The schema comes from Alembic only: one head, up and down and up again, no drift from the models."""

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from service.config import Settings
from service.db import create_db_engine
from service.migrations import alembic_config, downgrade, upgrade

TABLES = {"organization", "facility", "facility_stage", "sku", "event", "event_input", "lot"}


def test_single_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_upgrade_downgrade_upgrade_without_drift(tmp_path: Path) -> None:
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path}/m.db"))
    upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_negative_remaining_is_refused_by_the_database(tmp_path: Path) -> None:
    engine = create_db_engine(Settings(database_url=f"sqlite:///{tmp_path}/c.db"))
    upgrade(engine)
    checks = sa.inspect(engine).get_check_constraints("lot")
    assert [c["name"] for c in checks] == ["ck_lot_remaining_not_negative"]
    engine.dispose()
