"""The REST resources of API.md, used the way an integrator would."""

import json
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import event, extract, lot_input, make_chain, post_ok


def ship_and_make_product(
    client: TestClient, ore_code: str, product_code: str, day: str = "2025-06-02"
) -> dict[str, Any]:
    """Ore shipped from the mine to the plant, made into 10 widgets there."""
    post_ok(
        client,
        "/v1/events",
        event(
            "transfer",
            "MINE",
            day,
            inputs=[lot_input(ore_code, "100")],
            outputs=[{"code": f"{ore_code}-AT-PLANT", "facility": "PLANT"}],
        ),
    )
    made = post_ok(
        client,
        "/v1/events",
        event(
            "processing",
            "PLANT",
            day,
            stage="manufacturing",
            inputs=[lot_input(f"{ore_code}-AT-PLANT", "100", "MAKER")],
            outputs=[{"code": product_code, "material": "product", "quantity": "10", "unit": "pcs", "sku": "WIDGET"}],
        ),
    )
    product: dict[str, Any] = made["outputs"][0]
    return product


def test_organizations_facilities_and_skus_round_trip(client: TestClient) -> None:
    make_chain(client)
    assert client.get("/v1/organizations/MINER").json()["country"] == "AU"
    facility = client.get("/v1/facilities/REF").json()
    assert facility == {**facility, "organization": "MINER", "country": "CN", "stages": ["refining"]}
    assert client.get("/v1/skus/WIDGET").json()["organization"] == "MAKER"
    warehouse = post_ok(
        client,
        "/v1/facilities",
        {"code": "WH", "name": "Warehouse", "organization": "MAKER", "country": "US", "stages": []},
    )
    assert warehouse["stages"] == []
    gtin = post_ok(client, "/v1/skus", {"sku": "G-1", "name": "G", "organization": "MAKER", "gtin": "4006381333931"})
    assert gtin["gtin"] == "4006381333931"


def test_facility_filters(client: TestClient) -> None:
    make_chain(client)

    def codes(**params: str) -> list[str]:
        return [f["code"] for f in client.get("/v1/facilities", params=params).json()["items"]]

    assert codes(organization="MINER") == ["MINE", "REF"]
    assert codes(country="CN") == ["REF"]
    assert codes(stage="manufacturing") == ["PLANT"]
    assert codes(organization="MINER", stage="manufacturing") == []


def test_pagination_walks_every_item_once(client: TestClient) -> None:
    for i in range(7):
        post_ok(client, "/v1/organizations", {"code": f"ORG-{i}", "name": f"Org {i}", "country": "DE"})
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/organizations", params=params).json()
        seen += [item["code"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"ORG-{i}" for i in range(7)]
    assert pages == 3


def test_lot_list_filters_and_lot_cursor(client: TestClient) -> None:
    make_chain(client)
    for i in range(4):
        extract(client, f"ORE-{i}")
    first = client.get("/v1/lots", params={"limit": 2}).json()
    second = client.get("/v1/lots", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [lot["code"] for lot in first["items"] + second["items"]] == ["ORE-0", "ORE-1", "ORE-2", "ORE-3"]
    assert second["next_cursor"] is None
    assert [lot["code"] for lot in client.get("/v1/lots", params={"code": "ORE-2"}).json()["items"]] == ["ORE-2"]
    assert len(client.get("/v1/lots", params={"facility": "MINE", "material": "ore"}).json()["items"]) == 4
    assert client.get("/v1/lots", params={"material": "oxide"}).json()["items"] == []
    # an organization cursor is not a lot cursor
    org_cursor = client.get("/v1/organizations", params={"limit": 1}).json()["next_cursor"]
    assert client.get("/v1/lots", params={"cursor": org_cursor}).status_code == 422


def test_lot_with_elements_and_exact_decimals(client: TestClient) -> None:
    make_chain(client)
    lot = extract(client, "ORE-X", "1000.5", {"Nd": "0.000000000001", "Dy": "2.5"})
    assert lot["quantity"] == "1000.5"
    assert lot["remaining"] == "1000.5"
    assert lot["composition"] == {"Nd": "0.000000000001", "Dy": "2.5"}
    detail = client.get(f"/v1/lots/{lot['id']}", params={"elements": "true"}).json()
    assert detail["origin"]["total_kg"] == "2.500000000001"
    assert detail["origin"]["elements"]["Dy"]["kg"] == "2.5"
    assert detail["origin"]["elements"]["Nd"]["routes"][0]["percent"] == "100"
    assert "elements" not in client.get(f"/v1/lots/{lot['id']}").json()["origin"]


def test_json_numbers_are_read_exactly(client: TestClient) -> None:
    make_chain(client)
    payload = (
        '{"type": "extraction", "facility": "MINE", "occurred_at": "2025-06-01T00:00:00Z", "outputs": '
        '[{"code": "NUM", "material": "ore", "quantity": 0.30000000000000004, "unit": "kg", '
        '"composition": {"Nd": 0.1}}]}'
    )
    response = client.post("/v1/events", content=payload, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text  # 17 decimal places: more than the service keeps
    assert response.json()["errors"][0]["field"] == "outputs.0.quantity"
    payload = payload.replace("0.30000000000000004", "0.3")
    lot = client.post("/v1/events", content=payload, headers={"Content-Type": "application/json"}).json()["outputs"][0]
    assert (lot["quantity"], lot["composition"]) == ("0.3", {"Nd": "0.1"})


def test_event_read_back_and_void_restores_inputs(client: TestClient) -> None:
    make_chain(client)
    extract(client, "ORE")
    shipped = post_ok(
        client,
        "/v1/events",
        event("transfer", "MINE", inputs=[lot_input("ORE", "40")], outputs=[{"code": "ORE-40", "facility": "REF"}]),
    )
    assert shipped["inputs"][0]["code"] == "ORE"
    assert shipped["inputs"][0]["quantity"] == "40"
    assert client.get(f"/v1/events/{shipped['id']}").json() == shipped
    ore = client.get("/v1/lots", params={"code": "ORE"}).json()["items"][0]
    assert ore["remaining"] == "60"
    voided = post_ok(client, f"/v1/events/{shipped['id']}/void", {})
    assert voided["status"] == "voided"
    assert voided["outputs"][0]["status"] == "voided"
    assert voided["outputs"][0]["remaining"] == "0"
    assert client.get(f"/v1/lots/{ore['id']}").json()["remaining"] == "100"
    # the code stays taken
    again = client.post(
        "/v1/events",
        json=event(
            "transfer", "MINE", inputs=[lot_input("ORE", "40")], outputs=[{"code": "ORE-40", "facility": "REF"}]
        ),
    )
    assert again.status_code == 409


def test_transfer_keeps_sku_and_is_not_counted_twice(client: TestClient) -> None:
    make_chain(client)
    post_ok(
        client,
        "/v1/facilities",
        {"code": "DC", "name": "Distribution", "organization": "MAKER", "country": "US", "stages": []},
    )
    extract(client, "ORE")
    product = ship_and_make_product(client, "ORE", "W-1")
    moved = post_ok(
        client,
        "/v1/events",
        event(
            "transfer",
            "PLANT",
            "2025-06-03",
            inputs=[{"lot": product["id"], "quantity": "10"}],
            outputs=[{"code": "W-1-DC", "facility": "DC", "sku": "WIDGET"}],
        ),
    )
    assert moved["outputs"][0]["sku"] == "WIDGET"
    assert moved["outputs"][0]["unit"] == "pcs"
    answer = client.get("/v1/skus/WIDGET/origin").json()
    assert [lot["code"] for lot in answer["lots"]] == ["W-1"]
    assert answer["total_kg"] == "10"


def test_sku_answer_shape_and_production_window(client: TestClient) -> None:
    make_chain(client)
    extract(client, "ORE-A")
    extract(client, "ORE-B")
    ship_and_make_product(client, "ORE-A", "W-JUNE", "2025-06-10")
    ship_and_make_product(client, "ORE-B", "W-JULY", "2025-07-10")
    answer = client.get("/v1/skus/WIDGET/origin", params={"countries": "AU", "stages": "mining"}).json()
    assert answer["subject"] == {"kind": "sku", "sku": "WIDGET"}
    assert answer["countries"] == ["AU"]
    assert answer["stages"] == ["mining"]
    assert answer["threshold_percent"] == "0"
    assert answer["answer"] == "yes"
    assert set(answer["stages_breakdown"]) == {"mining", "refining", "metal_making", "magnet_making", "manufacturing"}
    assert answer["stages_breakdown"]["manufacturing"] == {"US": "100"}
    assert answer["routes"][0]["kg"] == "20"
    assert {lot["code"] for lot in answer["lots"]} == {"W-JUNE", "W-JULY"}
    assert "WIDGET" in answer["explanation"]
    window = {"produced_from": "2025-07-01T00:00:00Z", "produced_to": "2025-08-01T00:00:00+00:00"}
    july = client.get("/v1/skus/WIDGET/origin", params=window).json()
    assert [lot["code"] for lot in july["lots"]] == ["W-JULY"]
    assert july["total_kg"] == "10"
    empty = client.get("/v1/skus/WIDGET/origin", params={"produced_to": "2025-01-01T00:00:00Z"}).json()
    assert (empty["answer"], empty["lots"]) == ("unknown", [])


def test_lot_assessment_subject_and_defaults(client: TestClient) -> None:
    make_chain(client)
    lot = extract(client, "ORE")
    answer = client.get(f"/v1/lots/{lot['id']}/origin").json()
    assert answer["subject"] == {"kind": "lot", "id": lot["id"], "code": "ORE", "organization": "MINER"}
    assert answer["countries"] == ["CN"]
    assert answer["stages"] == ["mining", "refining", "metal_making", "magnet_making"]
    assert answer["answer"] == "no"
    assert "lots" not in answer
    refined = post_ok(
        client,
        "/v1/events",
        event("transfer", "MINE", inputs=[lot_input("ORE", "100")], outputs=[{"code": "ORE-REF", "facility": "REF"}]),
    )
    oxide = post_ok(
        client,
        "/v1/events",
        event(
            "processing",
            "REF",
            stage="refining",
            inputs=[{"lot": refined["outputs"][0]["id"], "quantity": "100"}],
            outputs=[
                {"code": "OX", "material": "oxide", "quantity": "12", "unit": "kg", "composition": {"Nd": "9.99"}}
            ],
        ),
    )["outputs"][0]
    cn = client.get(f"/v1/lots/{oxide['id']}/origin", params={"threshold_percent": "99.5"}).json()
    assert (cn["answer"], cn["share_percent"]) == ("yes", "100")
    assert Decimal(cn["total_kg"]) == Decimal("9.99")


def test_trace_upstream_and_downstream(client: TestClient) -> None:
    make_chain(client)
    ore = extract(client, "ORE")
    product = ship_and_make_product(client, "ORE", "W-1")
    up = client.get(f"/v1/lots/{product['id']}/trace", params={"direction": "upstream"}).json()
    lots = {node["code"] for node in up["nodes"] if node["kind"] == "lot"}
    assert lots == {"W-1", "ORE-AT-PLANT", "ORE"}
    assert sum(node["kind"] == "event" for node in up["nodes"]) == 3
    assert len(up["edges"]) == 5
    assert up["truncated"] is False
    shallow = client.get(f"/v1/lots/{product['id']}/trace", params={"direction": "upstream", "max_depth": 1}).json()
    assert {node["code"] for node in shallow["nodes"] if node["kind"] == "lot"} == {"W-1", "ORE-AT-PLANT"}
    assert shallow["truncated"] is True
    down = client.get(f"/v1/lots/{ore['id']}/trace", params={"direction": "downstream"}).json()
    assert {node["code"] for node in down["nodes"] if node["kind"] == "lot"} == {"ORE", "ORE-AT-PLANT", "W-1"}
    consumed = [edge for edge in down["edges"] if edge["source"] == ore["id"]]
    assert consumed[0]["quantity"] == "100"


def test_health_endpoints_need_no_key(client: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = client.get(path, headers={"Authorization": ""})
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


def test_largest_quantities_stay_exact(client: TestClient) -> None:
    make_chain(client)
    biggest = "999999999999999.999999999999"
    extract(client, "BIG", biggest, {"Nd": "0.000000000001"})
    post_ok(
        client,
        "/v1/events",
        event(
            "transfer",
            "MINE",
            inputs=[lot_input("BIG", "0.000000000001")],
            outputs=[{"code": "EPS", "facility": "REF"}],
        ),
    )
    big = client.get("/v1/lots", params={"code": "BIG"}).json()["items"][0]
    assert big["quantity"] == biggest
    assert big["remaining"] == "999999999999999.999999999998"
    eps = client.get("/v1/lots", params={"code": "EPS"}).json()["items"][0]
    # 1e-12 of 1e-12 kg is below what is written out, but it is kept exactly: the lot still answers for AU.
    assert eps["origin"]["total_kg"] == "0"
    answer = client.get(f"/v1/lots/{eps['id']}/origin", params={"countries": "AU"}).json()
    assert (answer["answer"], answer["share_percent"]) == ("yes", "100")


def test_sku_lists_the_worst_lots_first_up_to_lots_limit(client: TestClient) -> None:
    make_chain(client)
    post_ok(client, "/v1/facilities", {"code": "PLANT-CN", "name": "Plant", "organization": "MAKER", "country": "CN",
                                       "stages": ["manufacturing"]})  # fmt: skip
    for i in range(3):
        extract(client, f"ORE-{i}")
        ship_and_make_product(client, f"ORE-{i}", f"W-US-{i}")
    answer = client.get("/v1/skus/WIDGET/origin", params={"countries": "CN", "lots_limit": "2"}).json()
    assert (answer["answer"], answer["lots_count"], len(answer["lots"])) == ("no", 3, 2)
    receipt = event("receipt", "PLANT", outputs=[
        {"code": "W-UNDECLARED", "material": "product", "quantity": "1", "unit": "pcs", "composition": {"Nd": "1"},
         "sku": "WIDGET"}
    ])  # fmt: skip
    post_ok(client, "/v1/events", receipt)
    answer = client.get("/v1/skus/WIDGET/origin", params={"countries": "CN", "lots_limit": "1"}).json()
    assert answer["answer"] == "unknown"
    assert answer["lots_count"] == 4
    assert [lot["code"] for lot in answer["lots"]] == ["W-UNDECLARED"]
    assert client.get("/v1/skus/WIDGET/origin", params={"lots_limit": "0"}).json()["lots"] == []
    assert client.get("/v1/skus/WIDGET/origin", params={"lots_limit": "1001"}).status_code == 422
    assert "lots_count" not in client.get(f"/v1/lots/{answer['lots'][0]['id']}/origin").json()


def test_a_remembered_sku_answer_changes_as_soon_as_its_lots_do(client: TestClient) -> None:
    make_chain(client)
    post_ok(client, "/v1/facilities", {"code": "PLANT-CN", "name": "Plant", "organization": "MAKER", "country": "CN",
                                       "stages": ["manufacturing"]})  # fmt: skip
    extract(client, "ORE-1")
    ship_and_make_product(client, "ORE-1", "W-1")
    question = {"countries": "CN", "stages": "manufacturing"}

    def ask() -> tuple[str, int]:
        answer = client.get("/v1/skus/WIDGET/origin", params=question).json()
        return answer["answer"], answer["lots_count"]

    assert ask() == ask() == ("no", 1)
    receipt = event("receipt", "PLANT-CN", outputs=[
        {"code": "W-CN", "material": "product", "quantity": "1", "unit": "pcs", "composition": {"Nd": "1"},
         "declared_origin": [{"route": {"mining": "AU", "refining": "AU"}, "percent": "100"}], "sku": "WIDGET"}
    ])  # fmt: skip
    recorded = post_ok(client, "/v1/events", receipt)
    assert ask() == ("unknown", 2)
    assert client.post(f"/v1/events/{recorded['id']}/void").status_code == 200
    assert ask() == ("no", 1)
    second = json.loads(json.dumps(receipt).replace("W-CN", "W-CN-2"))
    batch = client.post("/v1/events/batch", json={"events": [second]})
    assert batch.status_code == 201, batch.text
    assert ask() == ("unknown", 2)
    # The same threshold written two ways is asked and answered as written.
    plain = client.get("/v1/skus/WIDGET/origin", params=question | {"threshold_percent": "50"}).json()
    assert plain["answer"] == "unknown"
    again = client.get("/v1/skus/WIDGET/origin", params=question | {"threshold_percent": "50.0"}).json()
    assert again["threshold_percent"] == "50"
