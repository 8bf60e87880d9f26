"""`lodestone copy --to URL`: a SQLite database with real activity moved into PostgreSQL answers exactly as before.

The source is the demo supply chain plus writes through the real app (an API key, an idempotent event, a
void, a custom rule, a price, an attestation, an EPCIS capture, a maker and a supplier); the copy is made
by the real command into a fresh PostgreSQL database, which then serves the same bytes.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import SQLModel

from service.config import Settings
from service.database_copy import copy_database
from service.db import create_db_engine
from service.demo import load_demo
from service.migrations import database_revision, downgrade, upgrade
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, create_pg_database, serve_in_process, settings_for
from tests.conftest import drop_pg_database as drop_database
from tests.helpers import post_ok
from tests.test_rules import custom

LODESTONE = str(Path(sys.executable).parent / "lodestone")
EPCIS_EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "epcis-receipt.jsonld"
RETRIED_EVENT: dict[str, Any] = {
    "type": "extraction",
    "facility": "MTW",
    "occurred_at": "2025-09-01T08:00:00Z",
    "outputs": [{"code": "MTW-CONC-2509", "material": "concentrate", "quantity": "1234.567890123456",
                 "unit": "kg", "composition": {"Nd": "111.000000000001", "Pr": "0.333333333333"}}],
}  # fmt: skip


def requires_postgres() -> None:
    if not POSTGRES_URL and not REQUIRE_POSTGRES:
        pytest.skip("copies into PostgreSQL: set LODESTONE_TEST_POSTGRES_URL to a role that may create databases")


@dataclass(frozen=True)
class Source:
    url: str
    folder: Path
    recorder_key: str  # an ACME recorder key made on the source through the API
    retried: httpx.Response  # the first answer to RETRIED_EVENT, sent with Idempotency-Key "copy-retry"


@contextmanager
def serving(url: str, folder: Path) -> Iterator[TestClient]:
    """The real app on ``url``, with the admin key and the source's signing key."""
    yield from serve_in_process(settings_for(url, folder))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """The demo in a SQLite file, then a little of everything written through the app."""
    folder = tmp_path_factory.mktemp("source")
    url = f"sqlite:///{folder / 'lodestone.db'}"
    engine = create_db_engine(Settings(database_url=url))
    upgrade(engine)
    assert load_demo(engine)
    engine.dispose()
    with serving(url, folder) as client:
        recorder = post_ok(client, "/v1/api-keys", {"organization": "ACME", "role": "recorder", "name": "portal"})
        retried = client.post("/v1/events", json=RETRIED_EVENT, headers={"Idempotency-Key": "copy-retry"})
        assert retried.status_code == 201, retried.text
        mistake = post_ok(client, "/v1/events", RETRIED_EVENT | {"reference": "typo",
                          "outputs": [RETRIED_EVENT["outputs"][0] | {"code": "MTW-CONC-TYPO"}]})  # fmt: skip
        post_ok(client, f"/v1/events/{mistake['id']}/void", {})
        post_ok(client, "/v1/rules", custom("ACME-NO-CN-REFINING"))
        post_ok(client, "/v1/prices", {"element": "Tb", "currency": "USD", "price_per_kg": "1400.125",
                                       "valid_from": "2026-06-01", "source": "copy test"})  # fmt: skip
        post_ok(client, "/v1/attestations", {"subject": {"kind": "sku", "sku": "EV-MOTOR-200"}})
        captured = client.post(
            "/v1/epcis/capture", content=EPCIS_EXAMPLE.read_bytes(), headers={"Content-Type": "application/ld+json"}
        )
        assert captured.status_code == 202, captured.text
        post_ok(client, "/v1/skus/PUMP-X9/makers", {"organization": "SHINETSU"})
        post_ok(client, "/v1/organizations/ACME/suppliers", {"organization": "JLMAG"})
    return Source(url=url, folder=folder, recorder_key=recorder["key"], retried=retried)


@pytest.fixture
def target() -> Iterator[str]:
    """A fresh PostgreSQL database, not even migrated: the copy migrates it."""
    requires_postgres()
    name = f"lodestone_test_copy_{os.getpid()}"
    yield create_pg_database(name)
    drop_database(name)


def lodestone(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LODESTONE_")}
    return subprocess.run(
        [LODESTONE, *args],
        env=environment | {"LODESTONE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copy(source: Source, target: str) -> subprocess.CompletedProcess[str]:
    copied = lodestone(source.url, "copy", "--to", target)
    assert copied.returncode == 0, copied.stderr
    return copied


def every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows as the column types give them back (Decimal, dict, aware datetime), by primary key."""
    engine = create_db_engine(Settings(database_url=url))
    with engine.connect() as connection:
        rows = {
            table.name: [tuple(row) for row in connection.execute(sa.select(table).order_by(*table.primary_key))]
            for table in SQLModel.metadata.sorted_tables
        }
    engine.dispose()
    return rows


def test_the_copy_holds_every_row_verifies_and_answers_byte_for_byte(source: Source, target: str) -> None:
    copied = copy(source, target)
    rows = every_row(source.url)
    assert rows == every_row(target)
    assert all(rows[name] for name in ("api_key", "idempotency_record", "rule", "attestation", "epcis_event"))
    summary = dict(line.split() for line in copied.stdout.splitlines()[:-1])
    assert summary == {name: f"{len(table_rows):,}" for name, table_rows in rows.items()}
    verified = lodestone(target, "verify")
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.strip().endswith(": ok")
    with serving(source.url, source.folder) as on_source, serving(target, source.folder) as on_target:
        chain = on_target.get("/v1/audit/verify").json()
        assert chain == on_source.get("/v1/audit/verify").json()
        assert chain["ok"] is True
        assert chain["entries"] == len(rows["audit_entry"]) > 10
        skus = [item["sku"] for item in on_source.get("/v1/skus", params={"limit": 500}).json()["items"]]
        assert len(skus) == 5
        # Asked as of one moment, the answers are the same bytes; asked as of now, the same but for that echo.
        moment = {"as_of": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
        for sku in skus:
            for path, query in ((f"/v1/skus/{sku}/origin", {}), (f"/v1/skus/{sku}/compliance", {"on": "2027-01-01"})):
                answer = on_source.get(path, params=query | moment)
                assert answer.status_code == 200, answer.text
                assert on_target.get(path, params=query | moment).content == answer.content, path
                now = on_source.get(path, params=query).json()
                assert on_target.get(path, params=query).json() | {"as_of": now["as_of"]} == now


def test_keys_retries_and_new_writes_work_on_the_target(source: Source, target: str) -> None:
    copy(source, target)
    with serving(target, source.folder) as client:
        recorder = {"Authorization": f"Bearer {source.recorder_key}"}
        assert client.get("/v1/lots", headers=recorder).status_code == 200
        assert client.get("/v1/lots", headers={"Authorization": "Bearer lsk_not-a-key"}).status_code == 401
        events = len(every_row(target)["event"])
        again = client.post("/v1/events", json=RETRIED_EVENT, headers={"Idempotency-Key": "copy-retry"})
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.content == source.retried.content
        assert len(every_row(target)["event"]) == events
        # A new row in each table with a sequence: the sequences were set past the copied keys.
        post_ok(client, "/v1/organizations", {"code": "NEWCO", "name": "New Co", "country": "DE"})
        post_ok(client, "/v1/facilities", {"code": "NEW-MINE", "name": "New mine", "organization": "NEWCO",
                                           "country": "DE", "stages": ["mining"]})  # fmt: skip
        post_ok(client, "/v1/skus", {"sku": "NEW-SKU", "name": "New SKU", "organization": "ACME"})
        new_event = RETRIED_EVENT | {"outputs": [RETRIED_EVENT["outputs"][0] | {"code": "MTW-CONC-2510"}]}
        response = client.post("/v1/events", json=new_event, headers={"Idempotency-Key": "after-the-copy"})
        assert response.status_code == 201, response.text
        post_ok(client, "/v1/api-keys", {"organization": "NEWCO", "role": "viewer", "name": "new"})
        post_ok(client, "/v1/rules", custom("AFTER-THE-COPY"))
        post_ok(client, "/v1/prices", {"element": "Dy", "currency": "EUR", "price_per_kg": "400",
                                       "valid_from": "2026-07-01"})  # fmt: skip
        post_ok(client, "/v1/attestations", {"subject": {"kind": "sku", "sku": "PUMP-X9"}})
        captured = client.post(
            "/v1/epcis/capture",
            content=EPCIS_EXAMPLE.read_bytes().replace(b"998877", b"998878"),
            headers={"Content-Type": "application/ld+json"},
        )
        assert captured.status_code == 202, captured.text
        assert client.get("/v1/audit/verify").json()["ok"] is True
    assert lodestone(target, "verify").returncode == 0


def test_the_copy_streams_in_chunks_from_any_database_to_any(source: Source, target: str, tmp_path: Path) -> None:
    """PostgreSQL as the source too (one snapshot, server-side cursor), in chunks smaller than every table."""
    copy(source, target)
    back = f"sqlite:///{tmp_path / 'back.db'}"
    report = copy_database(target, back, chunk_rows=3)
    rows = every_row(source.url)
    assert report.rows == {name: len(table_rows) for name, table_rows in rows.items()}
    assert every_row(back) == rows


def test_a_target_holding_rows_is_refused_and_left_unchanged(source: Source, target: str) -> None:
    copy(source, target)
    before = every_row(target)
    refused = lodestone(source.url, "copy", "--to", target)
    assert refused.returncode == 2
    assert "already holds rows" in refused.stderr
    assert "organization 8" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert refused.stdout == ""
    assert every_row(target) == before


def test_one_row_anywhere_is_enough_to_refuse(source: Source, target: str) -> None:
    engine = create_db_engine(Settings(database_url=target))
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_head SET seq = 1"))
    engine.dispose()
    refused = lodestone(source.url, "copy", "--to", target)
    assert refused.returncode == 2
    assert "already holds rows (audit_head 1)" in refused.stderr
    assert every_row(target)["organization"] == []


def test_a_source_behind_the_schema_is_refused_and_the_target_left_unmigrated(source: Source, target: str) -> None:
    behind = f"sqlite:///{source.folder / 'behind.db'}"
    engine = create_db_engine(Settings(database_url=behind))
    upgrade(engine)
    downgrade(engine, "-1")
    engine.dispose()
    refused = lodestone(behind, "copy", "--to", target)
    assert refused.returncode == 2
    assert "run `lodestone migrate` on the source first" in refused.stderr
    engine = create_db_engine(Settings(database_url=target))
    with engine.connect() as connection:
        assert database_revision(connection) is None
        assert sa.inspect(connection).get_table_names() == []
    engine.dispose()


def test_a_target_at_a_migration_this_version_does_not_know_is_refused(source: Source, target: str) -> None:
    engine = create_db_engine(Settings(database_url=target))
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    refused = lodestone(source.url, "copy", "--to", target)
    assert refused.returncode == 2
    assert "cannot migrate the target from 9999_from_the_future" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "the target is not a database URL"),
        ("mysql://root:hunter2@db/lodestone", "Lodestone runs on SQLite and PostgreSQL"),
        ("postgresql+psycopg://u:hunter2@127.0.0.1:1/lodestone", "cannot connect to the target database"),
        ("postgresql+nodriver://u:hunter2@db/lodestone", "cannot open the target database"),
    ],
)
def test_a_bad_url_is_a_clear_error(source: Source, url: str, says: str) -> None:
    refused = lodestone(source.url, "copy", "--to", url)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ")
    assert says in refused.stderr
    assert "Traceback" not in refused.stderr
    assert "hunter2" not in refused.stderr


def test_a_missing_source_or_the_same_database_is_refused(source: Source, tmp_path: Path) -> None:
    missing = lodestone(f"sqlite:///{tmp_path / 'none.db'}", "copy", "--to", f"sqlite:///{tmp_path / 'to.db'}")
    assert (missing.returncode, "does not exist" in missing.stderr) == (2, True)
    assert not (tmp_path / "none.db").exists()
    same = lodestone(source.url, "copy", "--to", source.url)
    assert (same.returncode, same.stderr.strip()) == (2, "error: the source and the target are the same database")
