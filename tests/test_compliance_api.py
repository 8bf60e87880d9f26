"""Rules' answers through the HTTP API: the demo's motor on the dates that matter, and every refusal of the query."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import event, extract, lot_input, make_chain, post_ok


def results(client: TestClient, sku: str, on: str, **query: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/v1/skus/{sku}/compliance", params={"on": on} | query)
    assert response.status_code == 200, response.text
    assert response.json()["on"] == on
    return {result["rule"]: result for result in response.json()["results"]}


def test_the_demo_motor_answers_the_rules_as_a_buyer_needs(demo: TestClient) -> None:
    before = results(demo, "EV-MOTOR-200", "2026-12-31")
    assert list(before) == ["dfars-7052", "mofcom-18", "mofcom-57", "mofcom-61"]  # every rule on the date, by id
    assert (before["dfars-7052"]["version"], before["dfars-7052"]["answer"]) == ("2019", "no")
    assert (before["mofcom-18"]["answer"], before["mofcom-18"]["share_percent"]) == ("yes", "2.436961")
    assert "(Dy)" in before["mofcom-18"]["explanation"]

    barred = results(demo, "EV-MOTOR-200", "2027-01-01", rules="dfars-7052")
    assert (barred["dfars-7052"]["version"], barred["dfars-7052"]["answer"]) == ("2027", "yes")
    assert barred["dfars-7052"]["share_percent"] == "2.436961"

    value = results(demo, "EV-MOTOR-200", "2027-01-10", rules="mofcom-61")["mofcom-61"]
    assert (value["version"], value["in_force"], value["basis"], value["answer"]) == ("in-force", True, "value", "yes")
    assert value["share_percent"] == "7.2"  # 28.8 kg of Dy x 450 USD / 180,000 USD of magnets
    assert [(lot["code"], lot["material"]) for lot in value["lots"]] == [("TX-MAG-HT-2501", "magnet")]
    suspended = results(demo, "EV-MOTOR-200", "2027-01-09", rules="mofcom-61")["mofcom-61"]
    assert (suspended["version"], suspended["in_force"], suspended["answer"]) == ("suspended", False, "yes")


def test_a_lot_without_a_value_answers_unknown_and_says_why(demo: TestClient) -> None:
    pump = results(demo, "PUMP-X9", "2027-01-10", rules="mofcom-61")["mofcom-61"]
    assert (pump["answer"], pump["share_percent"], pump["unknown_percent"]) == ("unknown", None, None)
    [reason] = pump["reasons"]
    assert (reason["code"], reason["element"]) == ("missing_value", None)
    assert reason["lot"] == pump["lots"][0]["id"]


def test_a_sku_without_production_lots_answers_unknown(client: TestClient) -> None:
    make_chain(client)
    result = results(client, "WIDGET", "2027-01-01", rules="dfars-7052")["dfars-7052"]
    assert (result["answer"], result["lots"], result["lots_count"]) == ("unknown", [], 0)
    assert [r["code"] for r in result["reasons"]] == ["no_production_lots"]


def test_a_lot_answers_too(client: TestClient) -> None:
    make_chain(client)
    lot = extract(client, "ORE", "100", {"Dy": "1"})
    response = client.get(
        f"/v1/lots/{lot['id']}/compliance", params={"on": "2027-01-01", "rules": "dfars-7052,mofcom-61"}
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["subject"] == {"kind": "lot", "id": lot["id"], "code": "ORE", "organization": "MINER"}
    dfars, no61 = answer["results"]
    assert (dfars["answer"], [j["code"] for j in dfars["lots"]]) == ("no", ["ORE"])
    # An ore cannot hold a magnet: No. 61 judges nothing and answers no.
    assert (no61["answer"], no61["lots"], no61["reasons"]) == ("no", [], [])


@pytest.mark.parametrize(
    ("query", "field"),
    [({"rules": "no-such-rule"}, "rules"), ({"rules": "dfars-7052,dfars-7052"}, "rules"),
     ({"rules": "dfars-7052", "on": "2019-01-01"}, "on"), ({"on": "2027-13-01"}, "on"), ({"on": "1743465600"}, "on"),
     ({"on": "2027-1-1"}, "on"), ({"lots_limit": "1001"}, "lots_limit"), ({"lots_limit": "-1"}, "lots_limit")],
)  # fmt: skip
def test_a_question_that_is_not_one_is_refused(client: TestClient, query: dict[str, str], field: str) -> None:
    make_chain(client)
    lot = extract(client, "ORE")
    for path in ("/v1/skus/WIDGET/compliance", f"/v1/lots/{lot['id']}/compliance"):
        response = client.get(path, params=query)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field]


def test_unknown_subjects_are_404(client: TestClient) -> None:
    for path in ("/v1/skus/NOPE/compliance", "/v1/lots/0b7d3e0c-5d55-4a8e-9a3a-1b2f1f0c9e77/compliance"):
        response = client.get(path, params={"on": "2027-01-01"})
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"


def test_a_remembered_answer_is_forgotten_when_prices_rules_or_lots_change(demo: TestClient) -> None:
    assert results(demo, "EV-MOTOR-200", "2027-01-10", rules="mofcom-61")["mofcom-61"]["share_percent"] == "7.2"
    price = {"element": "Dy", "currency": "USD", "price_per_kg": "900", "valid_from": "2027-01-05"}
    assert demo.post("/v1/prices", json=price).status_code == 201
    assert results(demo, "EV-MOTOR-200", "2027-01-10", rules="mofcom-61")["mofcom-61"]["share_percent"] == "14.4"

    assert "ACME-DY" not in results(demo, "EV-MOTOR-200", "2027-01-10")
    version = {"version": "v1", "effective_from": "2026-01-01", "effective_to": None, "in_force": True,
               "countries": ["CN"], "stages": ["refining"], "elements": ["Dy"], "basis": "mass",
               "threshold_percent": "50", "threshold_inclusive": False, "subject_materials": None}  # fmt: skip
    rule = {"id": "ACME-DY", "title": "ACME: no mostly Chinese-separated dysprosium", "versions": [version]}
    assert demo.post("/v1/rules", json=rule).status_code == 201, demo.post("/v1/rules", json=rule).text
    assert results(demo, "EV-MOTOR-200", "2027-01-10")["ACME-DY"]["answer"] == "no"

    lots_before = results(demo, "EV-MOTOR-200", "2027-01-10", rules="dfars-7052")["dfars-7052"]["lots_count"]
    more = {"type": "receipt", "facility": "ACME-TX", "occurred_at": "2025-07-01T00:00:00Z",
            "outputs": [{"code": "TX-EVM-2502", "material": "product", "quantity": "1", "unit": "pcs",
                         "composition": {"Nd": "1"}, "sku": "EV-MOTOR-200"}]}  # fmt: skip
    assert demo.post("/v1/events", json=more).status_code == 201
    lots_after = results(demo, "EV-MOTOR-200", "2027-01-10", rules="dfars-7052")["dfars-7052"]["lots_count"]
    assert lots_after == lots_before + 1


def test_a_sku_judges_the_magnets_in_each_product_and_says_which_have_none(client: TestClient) -> None:
    make_chain(client)
    magnet_plant = {
        "code": "MAG",
        "name": "Magnets",
        "organization": "MAKER",
        "country": "JP",
        "stages": ["magnet_making"],
    }
    post_ok(client, "/v1/facilities", magnet_plant)
    extract(client, "ORE", "100", {"Nd": "8", "Dy": "2"})
    steps = [
        event("transfer", "MINE", inputs=[lot_input("ORE", "100")], outputs=[{"code": "ORE-CN", "facility": "REF"}]),
        event("processing", "REF", stage="refining", inputs=[lot_input("ORE-CN", "100")],
              outputs=[{"code": "OX", "material": "oxide", "quantity": "10", "unit": "kg",
                        "composition": {"Nd": "8", "Dy": "2"}}]),
        event("transfer", "REF", inputs=[lot_input("OX", "10")], outputs=[{"code": "OX-JP", "facility": "MAG"}]),
        event("processing", "MAG", stage="magnet_making", inputs=[lot_input("OX-JP", "10", "MAKER")],
              outputs=[{"code": f"M{i}", "material": "magnet", "quantity": "50", "unit": "pcs",
                        "composition": {"Nd": "4", "Dy": "1"}} for i in (1, 2)]),
        *[event("transfer", "MAG", inputs=[lot_input(f"M{i}", "50", "MAKER")],
                outputs=[{"code": f"M{i}-US", "facility": "PLANT"}]) for i in (1, 2)],
        *[event("processing", "PLANT", stage="manufacturing", inputs=[lot_input(f"M{i}-US", "50", "MAKER")],
                outputs=[{"code": f"R{i}", "material": "component", "quantity": "10", "unit": "pcs"}])
          for i in (1, 2)],
        *[event("processing", "PLANT", stage="manufacturing", inputs=[lot_input(f"R{i}", "10", "MAKER")],
                outputs=[{"code": f"P{i}", "material": "product", "quantity": "10", "unit": "pcs", "sku": "WIDGET"}])
          for i in (1, 2)],
        event("receipt", "PLANT", outputs=[{"code": "P3", "material": "product", "quantity": "1", "unit": "pcs",
                                            "composition": {"Nd": "1"}, "sku": "WIDGET"}]),
    ]  # fmt: skip
    for step in steps:
        post_ok(client, "/v1/events", step)
    version = {"version": "v1", "effective_from": "2026-01-01", "effective_to": None, "in_force": True,
               "countries": ["CN"], "stages": ["refining"], "elements": None, "basis": "mass",
               "threshold_percent": "0", "threshold_inclusive": False, "subject_materials": ["magnet"]}  # fmt: skip
    post_ok(client, "/v1/rules", {"id": "MAGNETS-CN", "title": "Magnets refined in China", "versions": [version]})

    result = results(client, "WIDGET", "2027-01-01", rules="MAGNETS-CN")["MAGNETS-CN"]
    assert result["answer"] == "yes"
    assert [(lot["code"], lot["answer"]) for lot in result["lots"]] == [("M1-US", "yes"), ("M2-US", "yes")]
    assert result["lots_count"] == 2
    [reason] = result["reasons"]
    assert reason["code"] == "no_subject_lots"
    assert reason["lot"] == client.get("/v1/lots", params={"code": "P3"}).json()["items"][0]["id"]
