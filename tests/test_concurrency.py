"""Writers really race: a lot is never consumed twice, whatever the interleaving."""

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from fastapi.testclient import TestClient

from tests.helpers import event, extract, lot_input, make_chain


def test_racing_consumers_never_over_consume(client: TestClient) -> None:
    make_chain(client)
    lot = extract(client, "ORE", "10")
    bodies = [
        event("transfer", "MINE", inputs=[lot_input("ORE", "1")], outputs=[{"code": f"PART-{i}", "facility": "REF"}])
        for i in range(24)
    ]
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda body: client.post("/v1/events", json=body).status_code, bodies))
    assert sorted(statuses) == [201] * 10 + [409] * 14
    assert client.get(f"/v1/lots/{lot['id']}").json()["remaining"] == "0"
    parts = client.get("/v1/lots", params={"facility": "REF"}).json()["items"]
    assert len(parts) == 10
    assert sum(Decimal(p["quantity"]) for p in parts) == Decimal(10)
