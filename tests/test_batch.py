"""POST /v1/events/batch: in order, all or nothing, later events consuming earlier lots."""

import gc
import threading
from typing import Any

from fastapi.testclient import TestClient

from service.events.record import collector_paused
from tests.helpers import event, extract, lot_input, make_chain


def chain_in_one_batch() -> list[dict[str, Any]]:
    return [
        event("extraction", "MINE", outputs=[
            {"code": "ORE", "material": "ore", "quantity": "100", "unit": "kg", "composition": {"Nd": "10"}}
        ]),
        event("transfer", "MINE", inputs=[lot_input("ORE", "100")], outputs=[{"code": "ORE-REF", "facility": "REF"}]),
        event("processing", "REF", stage="refining", inputs=[lot_input("ORE-REF", "100")],
              outputs=[{"code": "OX", "material": "oxide", "quantity": "12", "unit": "kg",
                        "composition": {"Nd": "9.9"}}]),
    ]  # fmt: skip


def recorded_state(client: TestClient) -> tuple[list[str], int]:
    lots = [lot["code"] for lot in client.get("/v1/lots", params={"limit": 500}).json()["items"]]
    return lots, client.get("/v1/audit/verify").json()["entries"]


def test_a_chain_in_one_batch(client: TestClient) -> None:
    make_chain(client)
    _, entries_before = recorded_state(client)
    response = client.post("/v1/events/batch", json={"events": chain_in_one_batch()})
    assert response.status_code == 201, response.text
    recorded = response.json()["events"]
    assert [e["type"] for e in recorded] == ["extraction", "transfer", "processing"]
    oxide = recorded[2]["outputs"][0]
    assert oxide["origin"]["routes"][0]["route"] == {
        "mining": "AU", "refining": "CN", "metal_making": "none", "magnet_making": "none", "manufacturing": "none"
    }  # fmt: skip
    lots, entries = recorded_state(client)
    assert lots == ["ORE", "ORE-REF", "OX"]
    assert entries == entries_before + 3
    trail = client.get("/v1/audit", params={"action": "event.recorded"}).json()["items"]
    assert [e["subject"] for e in trail] == [e["id"] for e in recorded]


def test_one_refusal_records_nothing_and_names_its_index(client: TestClient) -> None:
    make_chain(client)
    before = recorded_state(client)
    events = chain_in_one_batch()
    events.append(
        event("transfer", "REF", inputs=[lot_input("OX", "13")], outputs=[{"code": "OX-2", "facility": "MINE"}])
    )
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 409
    assert response.json()["detail"].startswith("events.3: ")
    assert recorded_state(client) == before


def test_a_validation_error_names_the_event_and_field(client: TestClient) -> None:
    make_chain(client)
    events = chain_in_one_batch()
    events[1]["outputs"][0]["composition"] = {"Nd": "1"}
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "events.1.outputs.0.composition"
    events = chain_in_one_batch()
    events[2]["outputs"][0]["quantity"] = "-1"
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.json()["errors"][0]["field"] == "events.2.outputs.0.quantity"
    assert recorded_state(client)[0] == []


def test_batch_limits_and_idempotency(client: TestClient) -> None:
    make_chain(client)
    assert client.post("/v1/events/batch", json={"events": []}).status_code == 422
    too_many = [chain_in_one_batch()[0]] * 1001
    assert client.post("/v1/events/batch", json={"events": too_many}).status_code == 422
    body = {"events": chain_in_one_batch()}
    first = client.post("/v1/events/batch", json=body, headers={"Idempotency-Key": "batch-1"})
    again = client.post("/v1/events/batch", json=body, headers={"Idempotency-Key": "batch-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(recorded_state(client)[0]) == 3


def split_in_one_batch() -> list[dict[str, Any]]:
    """Ore made, then consumed in two parts by two later events of the same batch."""
    return [
        event("extraction", "MINE", outputs=[
            {"code": "ORE", "material": "ore", "quantity": "100", "unit": "kg", "composition": {"Nd": "10"}}
        ]),
        event("transfer", "MINE", inputs=[lot_input("ORE", "60")], outputs=[{"code": "ORE-A", "facility": "REF"}]),
        event("transfer", "MINE", inputs=[lot_input("ORE", "40")], outputs=[{"code": "ORE-B", "facility": "REF"}]),
    ]  # fmt: skip


def test_later_events_consume_a_lot_made_earlier_in_the_batch(client: TestClient) -> None:
    make_chain(client)
    response = client.post("/v1/events/batch", json={"events": split_in_one_batch()})
    assert response.status_code == 201, response.text
    made, first, second = response.json()["events"]
    ore = made["outputs"][0]
    # Each event answers as recorded: the ore was whole when it was made.
    assert ore["remaining"] == "100"
    assert [(i["lot"], i["quantity"]) for i in first["inputs"]] == [(ore["id"], "60")]
    assert [(i["lot"], i["quantity"]) for i in second["inputs"]] == [(ore["id"], "40")]
    assert client.get(f"/v1/lots/{ore['id']}").json()["remaining"] == "0"
    for recorded in (made, first, second):
        assert client.get(f"/v1/events/{recorded['id']}").json() == recorded | {"outputs": [
            client.get(f"/v1/lots/{lot['id']}").json() for lot in recorded["outputs"]
        ]}  # fmt: skip
    parts = [client.get(f"/v1/lots/{e['outputs'][0]['id']}").json() for e in (first, second)]
    assert [(p["code"], p["quantity"], p["facility"]) for p in parts] == [
        ("ORE-A", "60", "REF"),
        ("ORE-B", "40", "REF"),
    ]
    assert [p["composition"] for p in parts] == [{"Nd": "6"}, {"Nd": "4"}]


def test_a_lot_made_in_the_batch_cannot_be_over_consumed_by_it(client: TestClient) -> None:
    make_chain(client)
    events = split_in_one_batch()
    events[2]["inputs"][0]["quantity"] = "41"
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 409
    assert response.json()["detail"] == "events.2: Lot ORE has 40 kg left; 41 kg cannot be consumed."
    assert recorded_state(client)[0] == []


def test_a_code_made_earlier_in_the_batch_is_taken(client: TestClient) -> None:
    make_chain(client)
    events = split_in_one_batch()
    events[2]["outputs"][0]["code"] = "ORE-A"
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 409
    assert response.json()["detail"] == "events.2: The lot code ORE-A is already used in the receiving organization."
    # The same code in another organization is free.
    events = split_in_one_batch()
    events[2]["outputs"][0] |= {"code": "ORE-A", "facility": "PLANT"}
    assert client.post("/v1/events/batch", json={"events": events}).status_code == 201


def test_a_recorded_lot_consumed_by_several_events_of_a_batch(client: TestClient) -> None:
    make_chain(client)
    ore = extract(client, "ORE", "100")
    events = [
        event("transfer", "MINE", inputs=[{"lot": ore["id"], "quantity": "30"}],
              outputs=[{"code": f"PART-{i}", "facility": "REF"}])
        for i in range(3)
    ]  # fmt: skip
    response = client.post("/v1/events/batch", json={"events": events})
    assert response.status_code == 201, response.text
    assert client.get(f"/v1/lots/{ore['id']}").json()["remaining"] == "10"
    events[0]["outputs"][0]["code"] = "PART-3"
    response = client.post("/v1/events/batch", json={"events": [events[0], events[0] | {"outputs": [
        {"code": "PART-4", "facility": "REF"}
    ]}]})  # fmt: skip
    assert response.status_code == 409
    assert response.json()["detail"] == "events.0: Lot ORE has 10 kg left; 30 kg cannot be consumed."
    assert client.get(f"/v1/lots/{ore['id']}").json()["remaining"] == "10"


def test_the_cycle_collector_runs_again_after_a_batch_recorded_or_refused(client: TestClient) -> None:
    make_chain(client)
    assert gc.isenabled()
    assert client.post("/v1/events/batch", json={"events": chain_in_one_batch()}).status_code == 201
    assert gc.isenabled()
    assert client.post("/v1/events/batch", json={"events": chain_in_one_batch()}).status_code == 409
    assert gc.isenabled()


def test_the_collector_resumes_when_the_last_of_overlapping_batches_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with collector_paused():
            second_in.set()
            first_out.wait(10)
            seen["after the first ended"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"after the first ended": False}
    assert gc.isenabled()


def test_a_collector_turned_off_before_a_batch_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
