"""Element questions and the element breakdown of every answer (RULES.md), through the HTTP API."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import event, extract, lot_input, make_chain, post_ok


def refine(client: TestClient, ore: str, code: str, composition: dict[str, str]) -> dict[str, Any]:
    """The whole ore lot shipped to China (REF) and refined there into one oxide lot."""
    shipped = event("transfer", "MINE", "2025-06-02", inputs=[lot_input(ore, "100")],
                    outputs=[{"code": f"{ore}-CN", "facility": "REF"}])  # fmt: skip
    post_ok(client, "/v1/events", shipped)
    body = event(
        "processing",
        "REF",
        "2025-06-02",
        stage="refining",
        inputs=[lot_input(f"{ore}-CN", "100")],
        outputs=[{"code": code, "material": "oxide", "quantity": "10", "unit": "kg", "composition": composition}],
    )
    lot: dict[str, Any] = post_ok(client, "/v1/events", body)["outputs"][0]
    return lot


def breakdown(answer: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {e: (b["kg"], b["share_percent"], b["unknown_percent"]) for e, b in answer["elements_breakdown"].items()}


def test_an_element_question_counts_only_the_elements_asked(client: TestClient) -> None:
    make_chain(client)
    extract(client, "ORE", "100", {"Nd": "6", "Dy": "4"})
    oxide = refine(client, "ORE", "OX", {"Nd": "6", "Dy": "4"})

    plain = client.get(f"/v1/lots/{oxide['id']}/origin").json()
    assert (plain["answer"], plain["share_percent"], plain["elements"]) == ("yes", "100", None)
    assert breakdown(plain) == {"Nd": ("6", "100", "0"), "Dy": ("4", "100", "0")}

    dysprosium = client.get(f"/v1/lots/{oxide['id']}/origin", params={"elements": "Dy"}).json()
    assert (dysprosium["answer"], dysprosium["share_percent"], dysprosium["total_kg"]) == ("yes", "40", "10")
    assert dysprosium["elements"] == ["Dy"]
    assert "counting only Dy" in dysprosium["explanation"]
    # The breakdown answers for every rare earth, whatever the question's elements.
    assert breakdown(dysprosium) == breakdown(plain)

    samarium = client.get(f"/v1/lots/{oxide['id']}/origin", params={"elements": "Sm"}).json()
    assert (samarium["answer"], samarium["share_percent"], samarium["unknown_percent"]) == ("no", "0", "0")


def test_rare_earths_nobody_named_are_unknown_to_an_element_question(client: TestClient) -> None:
    make_chain(client)
    extract(client, "ORE", "100", {"Nd": "3", "REE": "1"})
    oxide = refine(client, "ORE", "OX", {"Nd": "3", "REE": "1"})

    asked = client.get(f"/v1/lots/{oxide['id']}/origin", params={"elements": "Dy,Tb"}).json()
    # Nd is not asked about; REE on a Chinese route could be Dy or Tb: unknown, out of every rare earth.
    assert (asked["answer"], asked["share_percent"], asked["unknown_percent"]) == ("unknown", "0", "25")
    assert breakdown(asked) == {"Nd": ("3", "100", "0"), "REE": ("1", "100", "0")}
    assert client.get(f"/v1/lots/{oxide['id']}/origin", params={"elements": "Nd"}).json()["share_percent"] == "75"


def test_a_sku_answers_for_magnets_made_under_its_name_and_breaks_them_down(client: TestClient) -> None:
    make_chain(client)
    post_ok(
        client,
        "/v1/facilities",
        {"code": "MAG", "name": "Magnets", "organization": "MAKER", "country": "JP", "stages": ["magnet_making"]},
    )
    extract(client, "ORE", "100", {"Nd": "6", "Dy": "4"})
    refine(client, "ORE", "OX", {"Nd": "6", "Dy": "4"})
    post_ok(client, "/v1/events", event("transfer", "REF", "2025-06-03", inputs=[lot_input("OX", "10")],
                                        outputs=[{"code": "OX-JP", "facility": "MAG"}]))  # fmt: skip
    magnets = event(
        "processing",
        "MAG",
        "2025-06-04",
        stage="magnet_making",
        inputs=[lot_input("OX-JP", "10", "MAKER")],
        outputs=[{"code": "M1", "material": "magnet", "quantity": "100", "unit": "pcs",
                  "composition": {"Nd": "6", "Dy": "4"}, "sku": "WIDGET"}],
    )  # fmt: skip
    post_ok(client, "/v1/events", magnets)

    answer = client.get("/v1/skus/WIDGET/origin", params={"elements": "Dy"}).json()
    assert (answer["answer"], answer["share_percent"], answer["lots_count"]) == ("yes", "40", 1)
    assert [lot["code"] for lot in answer["lots"]] == ["M1"]
    assert breakdown(answer) == {"Nd": ("6", "100", "0"), "Dy": ("4", "100", "0")}
    shipped = event("transfer", "MAG", "2025-06-05", inputs=[lot_input("M1", "100", "MAKER")],
                    outputs=[{"code": "M1-US", "facility": "PLANT"}])  # fmt: skip
    moved = post_ok(client, "/v1/events", shipped)
    assert moved["outputs"][0]["sku"] == "WIDGET"
    # A transfer moves the same units: the SKU still answers for one lot.
    assert client.get("/v1/skus/WIDGET/origin").json()["lots_count"] == 1


def test_a_sku_without_lots_has_an_empty_breakdown(client: TestClient) -> None:
    make_chain(client)
    answer = client.get("/v1/skus/WIDGET/origin", params={"elements": "Dy"}).json()
    assert (answer["answer"], answer["elements_breakdown"], answer["elements"]) == ("unknown", {}, ["Dy"])


@pytest.mark.parametrize(
    ("elements", "why"),
    [("REE", "REE is not an element"), ("Dy,Dy", "twice"), ("Xx", "not a rare-earth element"), ("", "not a rare"),
     ("Dy,", "not a rare"), ("dy", "not a rare")],
)  # fmt: skip
def test_an_element_list_that_is_not_one_is_refused(client: TestClient, elements: str, why: str) -> None:
    make_chain(client)
    lot = extract(client, "ORE", "100", {"Nd": "6"})
    for path in (f"/v1/lots/{lot['id']}/origin", "/v1/skus/WIDGET/origin"):
        response = client.get(path, params={"elements": elements})
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        [error] = response.json()["errors"]
        assert error["field"] == "elements"
        assert why in error["message"]
