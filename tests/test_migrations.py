"""The schema comes from Alembic only: one head, up and down and up again, no drift, on each backend."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from service.app import create_app
from service.config import Settings
from service.db import create_db_engine
from service.migrations import alembic_config, downgrade, head_revision, upgrade
from tests.conftest import BACKENDS, create_pg_database, drop_pg_database

TABLES = {"organization", "facility", "facility_stage", "sku", "event", "event_input", "lot"}


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    name = f"lodestone_test_migrations_{os.getpid()}"
    yield create_pg_database(name)
    drop_pg_database(name)


def test_single_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


# SQLAlchemy cannot reflect SQLite's indexes on an expression (the codes' lower(code) indexes), so
# autogenerate says it skips them there; PostgreSQL reflects and compares them.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_upgrade_downgrade_upgrade_without_drift(empty_url: str) -> None:
    engine = create_db_engine(Settings(database_url=empty_url))
    upgrade(engine)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    engine.dispose()


def test_every_step_down_and_up(empty_url: str) -> None:
    engine = create_db_engine(Settings(database_url=empty_url))
    revisions = [r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    for revision in reversed(revisions):
        upgrade(engine, revision)
    for revision in revisions[1:]:
        downgrade(engine, revision)
    engine.dispose()


def test_negative_remaining_is_refused_by_the_database(empty_url: str) -> None:
    engine = create_db_engine(Settings(database_url=empty_url))
    upgrade(engine)
    checks = sa.inspect(engine).get_check_constraints("lot")
    assert [c["name"] for c in checks] == ["ck_lot_remaining_not_negative"]
    engine.dispose()


def test_readyz_is_503_until_migrated(empty_url: str) -> None:
    app = create_app(Settings(database_url=empty_url, admin_key="k"))
    with TestClient(app) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "lodestone migrate" in response.json()["detail"]
        upgrade(app.state.engine)
        assert client.get("/readyz").status_code == 200
    app.state.engine.dispose()


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:nothing@127.0.0.1:1/none?connect_timeout=2"
    app = create_app(Settings(database_url=url, admin_key="k"))
    with TestClient(app) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["detail"] == "The database cannot be reached."
        assert client.get("/healthz").status_code == 200


def test_sku_revisions_are_added_to_and_dropped_from_a_database_with_lots(empty_url: str) -> None:
    engine = create_db_engine(Settings(database_url=empty_url))
    upgrade(engine, "0003")
    now = "2025-06-01 00:00:00"
    rows = [
        "INSERT INTO organization (pk, code, name, country, created_at) VALUES (1, 'O', 'O', 'AU', :now)",
        "INSERT INTO facility (pk, code, name, organization_pk, country, created_at) "
        "VALUES (1, 'F', 'F', 1, 'AU', :now)",
        "INSERT INTO sku (pk, sku, name, organization_pk, created_at) "
        "VALUES (1, 'A', 'A', 1, :now), (2, 'B', 'B', 1, :now)",
        "INSERT INTO event (pk, id, type, facility_pk, occurred_at, recorded_at, status) "
        "VALUES (1, 'e', 'receipt', 1, :now, :now, 'recorded')",
        "INSERT INTO lot (pk, id, code, organization_pk, facility_pk, event_pk, position, material, quantity, unit, "
        "remaining, composition, origin, element_resolved, is_production, sku_pk, status, occurred_at, recorded_at) "
        "VALUES (1, 'l', 'L', 1, 1, 1, 0, 'product', 1, 'pcs', 1, '{}', '{}', true, true, 1, 'active', :now, :now)",
    ]
    with engine.begin() as connection:
        for row in rows:
            connection.execute(sa.text(row), {"now": now})
    upgrade(engine)
    with engine.connect() as connection:
        revisions = connection.execute(sa.text("SELECT revision FROM sku")).scalars().all()
    assert len(set(revisions)) == 2
    assert all(len(r) == 32 for r in revisions)
    downgrade(engine, "0003")
    assert "revision" not in {c["name"] for c in sa.inspect(engine).get_columns("sku")}
    engine.dispose()


def test_magnet_making_lots_become_production_lots_of_their_sku(empty_url: str) -> None:
    engine = create_db_engine(Settings(database_url=empty_url))
    upgrade(engine, "0006")
    now = "2025-06-01 00:00:00"
    rows = [
        "INSERT INTO organization (pk, code, name, country, created_at) VALUES (1, 'O', 'O', 'JP', :now)",
        "INSERT INTO facility (pk, code, name, organization_pk, country, created_at) "
        "VALUES (1, 'F', 'F', 1, 'JP', :now)",
        "INSERT INTO sku (pk, sku, name, organization_pk, created_at, revision) VALUES (1, 'M', 'M', 1, :now, 'r1')",
        "INSERT INTO event (pk, id, type, facility_pk, stage, occurred_at, recorded_at, status) "
        "VALUES (1, 'e1', 'processing', 1, 'magnet_making', :now, :now, 'recorded'), "
        "(2, 'e2', 'processing', 1, 'refining', :now, :now, 'recorded')",
        "INSERT INTO lot (pk, id, code, organization_pk, facility_pk, event_pk, position, material, quantity, unit, "
        "remaining, composition, origin, element_resolved, is_production, sku_pk, status, occurred_at, recorded_at) "
        "VALUES (1, 'l1', 'MAG', 1, 1, 1, 0, 'magnet', 1, 'pcs', 1, '{}', '{}', true, false, 1, 'active', :now, :now), "
        "(2, 'l2', 'OX', 1, 1, 2, 0, 'oxide', 1, 'kg', 1, '{}', '{}', true, false, NULL, 'active', :now, :now)",
    ]
    with engine.begin() as connection:
        for row in rows:
            connection.execute(sa.text(row), {"now": now})

    def flags() -> tuple[list[bool], str]:
        with engine.connect() as connection:
            lots = connection.execute(sa.text("SELECT is_production FROM lot ORDER BY pk")).scalars().all()
            return [bool(flag) for flag in lots], connection.execute(sa.text("SELECT revision FROM sku")).scalar_one()

    upgrade(engine)
    production, revision = flags()
    assert production == [True, False]
    assert revision != "r1"  # the SKU's remembered answers are forgotten
    downgrade(engine, "0006")
    production, after = flags()
    assert production == [False, False]
    assert after != revision
    engine.dispose()


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_serving_app_never_loads_alembic(tmp_path: Path) -> None:
    """Workers read the head and the database's revision without it: it is memory every worker would hold."""
    database = f"sqlite:///{tmp_path / 'lodestone.db'}"
    upgrade(create_db_engine(Settings(database_url=database)))
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service.app import create_app\n"
        "from service.config import Settings\n"
        f"app = create_app(Settings(database_url={database!r}, admin_key='k'))\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/readyz').status_code == 200\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
