"""Small builders for API tests: a minimal supply chain in a few calls (in-process or over HTTP)."""

from typing import Any

import httpx


def post_ok(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def make_chain(client: httpx.Client) -> None:
    """Two organizations, a mine (AU), a refinery (CN), an assembly plant (US) and a SKU."""
    post_ok(client, "/v1/organizations", {"code": "MINER", "name": "Miner", "country": "AU"})
    post_ok(client, "/v1/organizations", {"code": "MAKER", "name": "Maker", "country": "US"})
    post_ok(
        client,
        "/v1/facilities",
        {"code": "MINE", "name": "Mine", "organization": "MINER", "country": "AU", "stages": ["mining"]},
    )
    post_ok(
        client,
        "/v1/facilities",
        {"code": "REF", "name": "Refinery", "organization": "MINER", "country": "CN", "stages": ["refining"]},
    )
    post_ok(
        client,
        "/v1/facilities",
        {"code": "PLANT", "name": "Plant", "organization": "MAKER", "country": "US", "stages": ["manufacturing"]},
    )
    post_ok(client, "/v1/skus", {"sku": "WIDGET", "name": "Widget", "organization": "MAKER"})


def event(kind: str, facility: str, day: str = "2025-06-01", **fields: Any) -> dict[str, Any]:
    return {"type": kind, "facility": facility, "occurred_at": f"{day}T00:00:00Z", **fields}


def extract(
    client: httpx.Client, code: str, quantity: str = "100", composition: dict[str, str] | None = None
) -> dict[str, Any]:
    body = event(
        "extraction",
        "MINE",
        outputs=[
            {
                "code": code,
                "material": "ore",
                "quantity": quantity,
                "unit": "kg",
                "composition": composition or {"Nd": "10"},
            }
        ],
    )
    lot: dict[str, Any] = post_ok(client, "/v1/events", body)["outputs"][0]
    return lot


def lot_input(code: str, quantity: str, organization: str = "MINER") -> dict[str, str]:
    return {"lot_code": code, "organization": organization, "quantity": quantity}


def all_lots(client: httpx.Client) -> list[dict[str, Any]]:
    """Every lot the client's key sees, page after page."""
    lots: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = client.get("/v1/lots", params={"limit": 500, **({"cursor": cursor} if cursor else {})}).json()
        lots += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return lots
