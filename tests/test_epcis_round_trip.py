"""Round trip: every worked example replayed, exported as EPCIS, captured into a fresh database, answers unchanged.

The second service has the same organizations, facilities, SKUs, prices and rules, and no events but
those it captured. Every lot (by organization and code) must carry the same origin, status and remaining
quantity, and every SKU the same answer and the same rules' answer, lot ids aside.
"""

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.contract import CONTRACT_DIR
from service.epcis import CONTEXT, jsonio
from tests.helpers import all_lots

VECTORS = sorted((CONTRACT_DIR / "vectors").glob("*.json"))
NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
CATALOG = (("organizations", "/v1/organizations"), ("facilities", "/v1/facilities"), ("skus", "/v1/skus"))


def replay_catalog(client: TestClient, vector: dict[str, Any]) -> None:
    """Everything but events: organizations, facilities, SKUs, prices and rules."""
    for kind, route in CATALOG:
        for body in vector[kind]:
            assert client.post(route, json=body).status_code == 201
    for step in vector["steps"]:
        if "price" in step:
            client.post("/v1/prices", json=step["price"])
        elif "rule" in step:
            client.post("/v1/rules", json=step["rule"])


def replay_events(client: TestClient, vector: dict[str, Any]) -> None:
    event_ids: dict[int, str] = {}
    for index, step in enumerate(vector["steps"]):
        if "event" in step:
            response = client.post("/v1/events", json=step["event"])
            if response.status_code == 201:
                event_ids[index] = response.json()["id"]
        elif "void_step" in step and step["void_step"] in event_ids:
            client.post(f"/v1/events/{event_ids[step['void_step']]}/void")


def exported_events(client: TestClient) -> list[dict[str, Any]]:
    """Every event the service holds, page after page, as its EPCIS query answers them."""
    events: list[dict[str, Any]] = []
    url: str | None = "/v1/epcis/events?perPage=7"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        assert '"quantity":"' not in response.text  # quantities are JSON numbers
        events += jsonio.loads(response.content)["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        found = NEXT.search(response.headers.get("link", ""))
        url = found.group(1) if found else None
    return events


def without_ids(value: Any, names: dict[str, str]) -> Any:
    """An answer with each lot id replaced by organization/code, and the moment it was asked dropped."""
    if isinstance(value, dict):
        return {key: without_ids(item, names) for key, item in value.items() if key != "as_of"}
    if isinstance(value, list):
        return [without_ids(item, names) for item in value]
    return names.get(value, value) if isinstance(value, str) else value


def answers(client: TestClient, skus: list[str]) -> dict[str, Any]:
    lots = all_lots(client)
    names = {lot["id"]: f"{lot['organization']}/{lot['code']}" for lot in lots}
    found: dict[str, Any] = {
        f"{lot['organization']}/{lot['code']}": without_ids(
            {k: lot[k] for k in ("origin", "status", "remaining", "quantity", "unit", "material", "sku", "value")},
            names,
        )
        for lot in lots
    }
    for sku in skus:
        for what in ("origin", "compliance"):
            response = client.get(f"/v1/skus/{sku}/{what}")
            found[f"{sku} {what}"] = (response.status_code, without_ids(response.json(), names))
    return found


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_an_export_captured_elsewhere_answers_the_same(
    client: TestClient, second_client: TestClient, path: Path
) -> None:
    vector = json.loads(path.read_text())
    replay_catalog(client, vector)
    replay_events(client, vector)
    events = exported_events(client)
    # Replayed in the order things were recorded: a void comes when it happened, not beside its event.
    events.sort(key=lambda event: event["recordTime"])
    document = {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-01T00:00:00Z",
        "epcisBody": {"eventList": events},
    }
    replay_catalog(second_client, vector)
    captured = second_client.post(
        "/v1/epcis/capture", content=jsonio.dumps(document), headers={"Content-Type": "application/ld+json"}
    )
    assert captured.status_code == 202, captured.text
    skus = [body["sku"] for body in vector["skus"]]
    assert answers(second_client, skus) == answers(client, skus)

    # Exported again, the second service gives back what it captured, unchanged.
    again = exported_events(second_client)
    again.sort(key=lambda event: event["recordTime"])
    assert [e["eventID"] for e in again] == [e["eventID"] for e in events]
