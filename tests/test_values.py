"""A lot's value: given on any output, inherited pro rata by a transfer from the input's exact value."""

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.config import Settings
from service.verify import verify
from tests.helpers import event, lot_input, make_chain, post_ok


def setup_chain(client: TestClient) -> None:
    """make_chain's organizations and plant, and a warehouse and a shop of the maker to transfer to."""
    make_chain(client)
    for code in ("DEPOT", "SHOP"):
        post_ok(client, "/v1/facilities", {"code": code, "name": code, "organization": "MAKER", "country": "US",
                                           "stages": []})  # fmt: skip


def receive(client: TestClient, code: str, quantity: str, value: dict[str, str] | None) -> dict[str, Any]:
    output: dict[str, Any] = {"code": code, "material": "magnet", "quantity": quantity, "unit": "pcs",
                              "composition": {"Nd": "0.3", "Dy": "0.01"}}  # fmt: skip
    if value is not None:
        output["value"] = value
    lot: dict[str, Any] = post_ok(client, "/v1/events", event("receipt", "PLANT", outputs=[output]))["outputs"][0]
    return lot


def transfer(client: TestClient, source: str, quantity: str, code: str, at: str, to: str, **output: Any) -> Any:
    body = event("transfer", at, inputs=[lot_input(source, quantity, "MAKER")],
                 outputs=[{"code": code, "facility": to, **output}])  # fmt: skip
    return post_ok(client, "/v1/events", body)["outputs"][0]


def stored_value(settings: Settings, lot_id: str) -> tuple[str | None, str | None]:
    engine = sa.create_engine(settings.database_url)
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT value_amount, value_currency FROM lot WHERE id = :id"), {"id": lot_id}
        ).one()
    engine.dispose()
    return row[0], row[1]


def verify_report(settings: Settings) -> list[str]:
    engine = sa.create_engine(settings.database_url)
    with Session(engine) as session:
        mismatches = [str(m) for m in verify(session).mismatches]
    engine.dispose()
    return mismatches


def test_a_value_is_stored_exactly_and_shown_wherever_the_lot_is(client: TestClient, settings: Settings) -> None:
    setup_chain(client)
    lot = receive(client, "MAG", "10", {"amount": "2500.00", "currency": "USD"})
    assert lot["value"] == {"amount": "2500", "currency": "USD"}
    assert stored_value(settings, lot["id"]) == ("2500", "USD")
    assert client.get(f"/v1/lots/{lot['id']}").json()["value"] == {"amount": "2500", "currency": "USD"}
    listed = client.get("/v1/lots", params={"code": "MAG"}).json()["items"]
    assert [item["value"] for item in listed] == [{"amount": "2500", "currency": "USD"}]
    event_id = lot["event"]
    assert client.get(f"/v1/events/{event_id}").json()["outputs"][0]["value"] == lot["value"]
    fine = receive(client, "MAG-FINE", "1", {"amount": "0.000000000001", "currency": "JPY"})
    assert fine["value"] == {"amount": "0.000000000001", "currency": "JPY"}


def test_outputs_without_a_value_have_null_and_only_transfers_inherit(client: TestClient) -> None:
    setup_chain(client)
    assert receive(client, "BARE", "10", None)["value"] is None
    receive(client, "VALUED", "10", {"amount": "1000", "currency": "EUR"})
    made = post_ok(client, "/v1/events", event(
        "processing", "PLANT", stage="manufacturing", inputs=[lot_input("VALUED", "10", "MAKER")],
        outputs=[{"code": "PRODUCT", "material": "product", "quantity": "5", "unit": "pcs"}],
    ))["outputs"][0]  # fmt: skip
    assert made["value"] is None
    assert transfer(client, "BARE", "4", "BARE-4", "PLANT", "DEPOT")["value"] is None
    assert client.get(f"/v1/lots/{made['id']}").json()["value"] is None


def test_transfers_inherit_thirds_from_the_exact_value(client: TestClient, settings: Settings) -> None:
    setup_chain(client)
    receive(client, "THIRDS", "3", {"amount": "100000", "currency": "USD"})
    third = transfer(client, "THIRDS", "1", "THIRD-A", "PLANT", "DEPOT")
    assert third["value"] == {"amount": "33333.333333333333", "currency": "USD"}
    two_thirds = transfer(client, "THIRDS", "2", "THIRDS-B", "PLANT", "DEPOT")
    assert two_thirds["value"] == {"amount": "66666.666666666667", "currency": "USD"}
    assert stored_value(settings, two_thirds["id"]) == ("200000/3", "USD")
    # Half of the written 66666.666666666667 would round to ...334; half of the exact 200000/3 is ...333.
    half = transfer(client, "THIRDS-B", "1", "THIRD-B1", "DEPOT", "SHOP")
    assert half["value"] == {"amount": "33333.333333333333", "currency": "USD"}
    assert client.get(f"/v1/lots/{half['id']}").json()["value"] == half["value"]
    assert verify_report(settings) == []


def test_a_quarter_is_rounded_half_even_at_twelve_decimals(client: TestClient) -> None:
    setup_chain(client)
    receive(client, "QUARTERS", "4", {"amount": "1000.000000000002", "currency": "USD"})
    assert transfer(client, "QUARTERS", "1", "QUARTER", "PLANT", "DEPOT")["value"] == {
        "amount": "250",
        "currency": "USD",
    }


def test_a_transfer_given_a_value_keeps_it(client: TestClient) -> None:
    setup_chain(client)
    receive(client, "GIVEN", "3", {"amount": "300", "currency": "USD"})
    moved = transfer(client, "GIVEN", "1", "GIVEN-1", "PLANT", "DEPOT", value={"amount": "90", "currency": "EUR"})
    assert moved["value"] == {"amount": "90", "currency": "EUR"}


def test_verify_names_a_rewritten_value(client: TestClient, settings: Settings) -> None:
    setup_chain(client)
    receive(client, "WORTH", "3", {"amount": "300", "currency": "USD"})
    moved = transfer(client, "WORTH", "1", "WORTH-1", "PLANT", "DEPOT")
    engine = sa.create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE lot SET value_amount = '101' WHERE id = :id"), {"id": moved["id"]})
    engine.dispose()
    assert verify_report(settings) == [f"lot {moved['id']}: stored value differs from the one given or inherited"]


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"amount": "0", "currency": "USD"}, "outputs.0.value.amount"),
        ({"amount": "-5", "currency": "USD"}, "outputs.0.value.amount"),
        ({"amount": "1e3", "currency": "USD"}, "outputs.0.value.amount"),
        ({"amount": "1.0000000000001", "currency": "USD"}, "outputs.0.value.amount"),
        ({"amount": "10", "currency": "usd"}, "outputs.0.value.currency"),
        ({"amount": "10", "currency": "XYZ"}, "outputs.0.value.currency"),
        ({"amount": "10", "currency": "DEM"}, "outputs.0.value.currency"),
        ({"amount": "10"}, "outputs.0.value.currency"),
        ({"amount": "10", "currency": "USD", "note": "x"}, "outputs.0.value.note"),
    ],
)
def test_a_bad_value_is_422_naming_the_field_and_records_nothing(
    client: TestClient, value: dict[str, str], field: str
) -> None:
    setup_chain(client)
    output = {"code": "BAD", "material": "magnet", "quantity": "1", "unit": "pcs", "composition": {"Nd": "0.3"},
              "value": value}  # fmt: skip
    response = client.post("/v1/events", json=event("receipt", "PLANT", outputs=[output]))
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["errors"]]
    assert client.get("/v1/lots").json()["items"] == []


def test_a_bad_value_on_a_transfer_records_nothing(client: TestClient) -> None:
    setup_chain(client)
    receive(client, "SOURCE", "3", {"amount": "300", "currency": "USD"})
    output = {"code": "MOVED", "facility": "DEPOT", "value": {"amount": "5", "currency": "ABC"}}
    body = event("transfer", "PLANT", inputs=[lot_input("SOURCE", "1", "MAKER")], outputs=[output])
    response = client.post("/v1/events", json=body)
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["outputs.0.value.currency"]
    assert [lot["remaining"] for lot in client.get("/v1/lots").json()["items"]] == ["3"]


def test_a_batch_writes_values_and_inherits_within_it(client: TestClient) -> None:
    setup_chain(client)
    output = {"code": "B-MAG", "material": "magnet", "quantity": "3", "unit": "pcs", "composition": {"Nd": "0.3"},
              "value": {"amount": "10", "currency": "GBP"}}  # fmt: skip
    received = event("receipt", "PLANT", outputs=[output])
    moved = event("transfer", "PLANT", inputs=[lot_input("B-MAG", "1", "MAKER")],
                  outputs=[{"code": "B-MAG-1", "facility": "DEPOT"}])  # fmt: skip
    answer = post_ok(client, "/v1/events/batch", {"events": [received, moved]})
    assert answer["events"][1]["outputs"][0]["value"] == {"amount": "3.333333333333", "currency": "GBP"}
    lots = {lot["code"]: lot["value"] for lot in client.get("/v1/lots").json()["items"]}
    assert lots == {
        "B-MAG": {"amount": "10", "currency": "GBP"},
        "B-MAG-1": {"amount": "3.333333333333", "currency": "GBP"},
    }
