"""Concurrency through a real server with two workers, on each backend: no lot is ever consumed twice."""

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx

from service.epcis import GS1_CONTEXT
from tests.helpers import event, extract, lot_input, make_chain
from tests.servers import Server, run_lodestone, running_server

RACERS = 64
LOT_KG = 20


def setup_chain(client: httpx.Client) -> str:
    make_chain(client)
    return str(extract(client, "ORE", str(LOT_KG), {"Nd": "2"})["id"])


def race(server: Server, bodies: Sequence[tuple[str, Mapping[str, object]]]) -> list[int]:
    with server.client(limits=httpx.Limits(max_connections=RACERS)) as client, ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(lambda item: client.post(item[0], json=item[1]).status_code, bodies))


def test_64_racing_consumers_through_two_workers(database_url: str, tmp_path: Path) -> None:
    with running_server(database_url, tmp_path, workers=2) as server:
        with server.client() as client:
            lot_id = setup_chain(client)
            written_before = client.get("/v1/audit/verify").json()["entries"]
        bodies = [
            ("/v1/events", event("transfer", "MINE", inputs=[lot_input("ORE", "1")],
                                 outputs=[{"code": f"PART-{i}", "facility": "REF"}]))
            for i in range(RACERS)
        ]  # fmt: skip
        statuses = race(server, bodies)
        assert statuses.count(201) == LOT_KG, server.log.read_text()[-3000:]
        assert statuses.count(409) == RACERS - LOT_KG, sorted(statuses)
        with server.client() as client:
            assert client.get(f"/v1/lots/{lot_id}").json()["remaining"] == "0"
            parts = client.get("/v1/lots", params={"facility": "REF", "limit": 500}).json()["items"]
            # the audit chain did not fork: one entry per successful write, in one line
            chain = client.get("/v1/audit/verify").json()
        assert len(parts) == LOT_KG
        assert chain["ok"] is True
        assert chain["entries"] == written_before + LOT_KG
        assert sum(Decimal(p["quantity"]) for p in parts) == LOT_KG
    verified = run_lodestone(database_url, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    print(
        f"race: {RACERS} raced, {statuses.count(201)} x 201, {statuses.count(409)} x 409, remaining 0; "
        f"{verified.stdout.strip()}"
    )


def test_racing_creators_of_one_code_get_one_201(database_url: str, tmp_path: Path) -> None:
    with running_server(database_url, tmp_path, workers=2) as server:
        bodies = [("/v1/organizations", {"code": "SAME", "name": f"Racer {i}", "country": "DE"}) for i in range(RACERS)]
        statuses = race(server, bodies)
        assert statuses.count(201) == 1, statuses
        assert statuses.count(409) == RACERS - 1


def test_racing_captures_of_one_epcis_document_record_it_once(database_url: str, tmp_path: Path) -> None:
    """The same document sent 16 times at once: recorded once; the others find it held (202) or lose the race (409)."""
    racers = 16
    place = {"id": "urn:lodestone:facility/MINE"}
    document = {
        "@context": [GS1_CONTEXT, {"ls": "urn:lodestone:epcis:1:"}],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2025-06-01T00:00:00Z",
        "epcisBody": {"eventList": [{
            "type": "ObjectEvent", "eventTime": "2025-06-01T00:00:00Z", "eventTimeZoneOffset": "+00:00",
            "action": "ADD", "bizStep": "commissioning", "bizLocation": place,
            "quantityList": [{"epcClass": "urn:lodestone:lot/MINER/EP-ORE", "quantity": 10, "uom": "KGM"}],
            "ilmd": {"ls:lots": [{"ls:material": "ore", "ls:composition": {"ls:Nd": "1"}}]},
        }]},
    }  # fmt: skip
    with running_server(database_url, tmp_path, workers=2) as server:
        with server.client() as client:
            make_chain(client)
            written_before = client.get("/v1/audit/verify").json()["entries"]
        statuses = race(server, [("/v1/epcis/capture", document)] * racers)
        assert set(statuses) <= {202, 409}, (sorted(statuses), server.log.read_text()[-3000:])
        with server.client() as client:
            lots = client.get("/v1/lots", params={"code": "EP-ORE"}).json()["items"]
            jobs = client.get("/v1/epcis/capture", params={"limit": 500}).json()["items"]
            chain = client.get("/v1/audit/verify").json()
            again = client.post("/v1/epcis/capture", json=document)
        assert len(lots) == 1
        assert [e["created"] for job in jobs for e in job["events"]].count(True) == 1
        assert len(jobs) == statuses.count(202)
        assert chain["ok"] is True
        assert chain["entries"] == written_before + 2 + statuses.count(202) - 1  # one event, one entry per job
        assert again.status_code == 202
        assert again.json()["events"][0]["created"] is False
    print(f"capture race: {statuses.count(202)} x 202, {statuses.count(409)} x 409, one lot recorded")
