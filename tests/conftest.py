"""Test fixtures: real databases built by Alembic, and the real ASGI app over HTTP.

Every test that takes ``settings`` or ``client`` runs on a SQLite file, and on
PostgreSQL too when ``LODESTONE_TEST_POSTGRES_URL`` names a database whose role
may create databases. ``LODESTONE_TEST_REQUIRE_POSTGRES=1`` (set by ``.ci/run``)
turns a missing or unreachable PostgreSQL into a failure instead of fewer tests.
"""

import io
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from service.api.observability import JsonFormatter
from service.app import create_app
from service.config import Settings
from service.db import create_db_engine
from service.demo import load_demo
from service.migrations import upgrade
from service.signing import ensure_key_file

ADMIN_KEY = "test-admin-key"
POSTGRES_URL = os.environ.get("LODESTONE_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("LODESTONE_TEST_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL or REQUIRE_POSTGRES else ["sqlite"]
PG_TEST_DATABASE = f"lodestone_test_{os.getpid()}"  # concurrent runs never share a database


def _pg_admin() -> sa.Engine:
    if not POSTGRES_URL:
        pytest.fail("LODESTONE_TEST_REQUIRE_POSTGRES=1 but LODESTONE_TEST_POSTGRES_URL is not set")
    return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


def pg_url(database: str) -> str:
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def create_pg_database(name: str) -> str:
    admin = _pg_admin()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_url(name)


def drop_pg_database(name: str) -> None:
    admin = _pg_admin()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _migrate(url: str) -> None:
    engine = create_db_engine(Settings(database_url=url))
    upgrade(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file built by ``alembic upgrade head``; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "lodestone.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One PostgreSQL database built by ``alembic upgrade head`` for the session; emptied before each test."""
    url = create_pg_database(PG_TEST_DATABASE)
    _migrate(url)
    yield url
    drop_pg_database(PG_TEST_DATABASE)


def empty_tables(url: str) -> None:
    """Back to a freshly migrated database: no rows but the audit chain's head, reset."""
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables if t.name != "audit_head")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(sa.text("UPDATE audit_head SET seq = 0, hash = :genesis"), {"genesis": "0" * 64})
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each backend: a private SQLite file, or the session's PostgreSQL emptied."""
    if request.param == "sqlite":
        path = tmp_path / "lodestone.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    empty_tables(url)
    yield url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The test's database, the admin key, and a signing key of its own (where SQLite's default would be)."""
    return settings_for(database_url, tmp_path)


def settings_for(database_url: str, folder: Path) -> Settings:
    signing_key = folder / "signing-key.pem"
    ensure_key_file(signing_key)
    return Settings(database_url=database_url, admin_key=ADMIN_KEY, signing_key=signing_key)


def serve_in_process(settings: Settings) -> Iterator[TestClient]:
    """The real app on the settings' database, called over HTTP in process with the admin key."""
    app = create_app(settings)
    with TestClient(
        app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, raise_server_exceptions=False
    ) as test_client:
        yield test_client
    app.state.engine.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from serve_in_process(settings)


@pytest.fixture(scope="session")
def postgres_second_database() -> Iterator[str]:
    """A second PostgreSQL database, for tests that carry data from one service to another."""
    name = f"{PG_TEST_DATABASE}_second"
    url = create_pg_database(name)
    _migrate(url)
    yield url
    drop_pg_database(name)


@pytest.fixture
def second_settings(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Another empty database of the same backend as ``settings``, with its own signing key."""
    folder = tmp_path / "second"
    folder.mkdir()
    if database_url.startswith("sqlite"):
        path = folder / "lodestone.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_second_database")
        empty_tables(url)
    return settings_for(url, folder)


@pytest.fixture
def second_client(second_settings: Settings) -> Iterator[TestClient]:
    yield from serve_in_process(second_settings)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the app logs (``lodestone`` loggers) during the test, as JSON lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("lodestone")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


@pytest.fixture
def demo(client: TestClient, settings: Settings) -> TestClient:
    """The client, on a database holding the demo supply chain (``lodestone demo``'s)."""
    engine = create_db_engine(settings)
    assert load_demo(engine)
    engine.dispose()
    return client
