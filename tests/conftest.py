"""Test fixtures: a real SQLite file migrated by Alembic, and the real ASGI app over HTTP."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.db import create_db_engine
from service.migrations import upgrade

ADMIN_KEY = "test-admin-key"
SPEC_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "spec"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database built by ``alembic upgrade head``; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "lodestone.db"
    engine = create_db_engine(Settings(database_url=f"sqlite:///{path}"))
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def settings(tmp_path: Path, migrated_template: Path) -> Settings:
    path = tmp_path / "lodestone.db"
    shutil.copyfile(migrated_template, path)
    return Settings(database_url=f"sqlite:///{path}", admin_key=ADMIN_KEY)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(
        app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, raise_server_exceptions=False
    ) as test_client:
        yield test_client
    app.state.engine.dispose()
