"""The audit trail: every successful write, in order, hash-chained; a changed row is found."""

import hashlib
import itertools
import json

import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.config import Settings
from tests.helpers import event, extract, lot_input, make_chain, post_ok


def entries(client: TestClient, **params: str) -> list[dict[str, object]]:
    page = client.get("/v1/audit", params={"limit": 500, **params})
    assert page.status_code == 200, page.text
    items: list[dict[str, object]] = page.json()["items"]
    return items


def test_every_write_is_recorded_in_order(client: TestClient) -> None:
    make_chain(client)
    ore = extract(client, "ORE")
    shipped = post_ok(client, "/v1/events", event("transfer", "MINE", inputs=[lot_input("ORE", "10")],
                                                  outputs=[{"code": "ORE-10", "facility": "REF"}]))  # fmt: skip
    post_ok(client, f"/v1/events/{shipped['id']}/void", {})
    key = post_ok(client, "/v1/api-keys", {"organization": "MAKER", "role": "viewer", "name": "portal"})
    assert client.delete(f"/v1/api-keys/{key['id']}").status_code == 200
    # refused writes leave no trace
    assert client.post("/v1/organizations", json={"code": "MINER", "name": "x", "country": "AU"}).status_code == 409
    assert client.get("/v1/skus").status_code == 200

    trail = entries(client)
    assert [e["action"] for e in trail] == [
        *["organization.created"] * 2, *["facility.created"] * 3, "sku.created",
        "event.recorded", "event.recorded", "event.voided", "key.created", "key.revoked",
    ]  # fmt: skip
    assert [e["seq"] for e in trail] == list(range(1, 12))
    assert trail[6]["subject"] == client.get(f"/v1/lots/{ore['id']}").json()["event"]
    assert trail[8]["subject"] == shipped["id"]
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(trail))
    assert trail[0]["prev_hash"] == "0" * 64
    verification = client.get("/v1/audit/verify").json()
    assert verification == {"ok": True, "entries": 11, "head": trail[-1]["hash"], "first_bad": None}


def test_entry_names_key_request_and_body(client: TestClient) -> None:
    post_ok(client, "/v1/organizations", {"code": "ORG", "name": "Org", "country": "DE"})
    recorder = post_ok(client, "/v1/api-keys", {"organization": "ORG", "role": "recorder", "name": "erp"})
    body = json.dumps({"sku": "S-1", "name": "Widget", "organization": "ORG"}).encode()
    response = client.post(
        "/v1/skus",
        content=body,
        headers={
            "Authorization": f"Bearer {recorder['key']}",
            "Content-Type": "application/json",
            "X-Request-ID": "erp-42",
        },
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "erp-42"
    [entry] = entries(client, action="sku.created")
    assert entry["key_id"] == recorder["id"]
    assert entry["organization"] == "ORG"
    assert entry["subject"] == "S-1"
    assert entry["request_id"] != "erp-42"  # the server's own id, unique per request (issue 12)
    assert entry["body_hash"] == hashlib.sha256(body).hexdigest()
    assert entries(client, organization="ORG") == [entry]
    assert entries(client, subject="S-1") == [entry]
    assert entries(client, since=str(entry["at"]).replace("+00:00", "Z"), action="sku.created") == [entry]
    assert entries(client, until="2000-01-01T00:00:00Z") == []


def test_a_changed_row_is_named_by_verify(client: TestClient, settings: Settings) -> None:
    make_chain(client)
    assert client.get("/v1/audit/verify").json()["ok"] is True
    engine = sa.create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_entry SET subject = 'FORGED' WHERE seq = 4"))
    engine.dispose()
    verification = client.get("/v1/audit/verify").json()
    assert verification["ok"] is False
    assert verification["first_bad"] == 4
    assert verification["entries"] == 4


def test_a_removed_row_is_named_by_verify(client: TestClient, settings: Settings) -> None:
    make_chain(client)
    engine = sa.create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM audit_entry WHERE seq = 2"))
    engine.dispose()
    verification = client.get("/v1/audit/verify").json()
    assert (verification["ok"], verification["first_bad"]) == (False, 3)


def test_audit_pagination_and_bad_window(client: TestClient) -> None:
    make_chain(client)
    first = client.get("/v1/audit", params={"limit": 4}).json()
    second = client.get("/v1/audit", params={"limit": 4, "cursor": first["next_cursor"]}).json()
    assert [e["seq"] for e in first["items"] + second["items"]] == list(range(1, 7))
    response = client.get("/v1/audit", params={"since": "2025-01-02T00:00:00Z", "until": "2025-01-01T00:00:00Z"})
    assert response.status_code == 422
