"""``lodestone verify`` finds what does not add up, and is clean when everything does."""

import json

import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.config import Settings
from tests.helpers import event, extract, lot_input, make_chain, post_ok
from tests.servers import run_lodestone


def record_some_history(client: TestClient) -> None:
    make_chain(client)
    extract(client, "ORE", "100", {"Nd": "10", "Pr": "2"})
    post_ok(client, "/v1/events", event("transfer", "MINE", inputs=[lot_input("ORE", "60")],
                                        outputs=[{"code": "ORE-60", "facility": "REF"}]))  # fmt: skip
    refined = post_ok(client, "/v1/events", event(
        "processing", "REF", stage="refining", inputs=[lot_input("ORE-60", "60")],
        outputs=[{"code": f"OX-{i}", "material": "oxide", "quantity": "5", "unit": "kg"} for i in range(3)],
    ))  # fmt: skip
    post_ok(client, f"/v1/events/{refined['id']}/void", {})


def tamper(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(statement))
    engine.dispose()


def test_clean_history_verifies(client: TestClient, settings: Settings) -> None:
    record_some_history(client)
    result = run_lodestone(settings.database_url, "verify")
    assert result.returncode == 0, result.stdout
    assert "verified 3 events and 5 lots: ok" in result.stdout


def test_a_changed_remaining_quantity_is_named(client: TestClient, settings: Settings) -> None:
    record_some_history(client)
    lot = client.get("/v1/lots", params={"code": "ORE"}).json()["items"][0]
    tamper(settings.database_url, "UPDATE lot SET remaining = 41 WHERE code = 'ORE'")
    result = run_lodestone(settings.database_url, "verify")
    assert result.returncode == 1
    assert f"lot {lot['id']}: remaining 41, but quantity minus consumption is 40" in result.stdout


def test_a_rewritten_origin_is_named(client: TestClient, settings: Settings) -> None:
    record_some_history(client)
    lot = client.get("/v1/lots", params={"code": "ORE-60"}).json()["items"][0]
    forged = json.dumps(
        {"Nd": [["CA", "none", "none", "none", "none", "6"]], "Pr": [["AU", "none", "none", "none", "none", "6/5"]]}
    )
    tamper(settings.database_url, f"UPDATE lot SET origin = '{forged}' WHERE code = 'ORE-60'")
    result = run_lodestone(settings.database_url, "verify")
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == f"lot {lot['id']}: stored origin differs from the one recomputed"
