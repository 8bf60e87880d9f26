"""kill -9 in the middle of ingest: after a restart every event is whole or absent, and verify is clean."""

import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import sqlalchemy as sa

from tests.helpers import event, extract, lot_input, make_chain
from tests.servers import Server, run_lodestone, running_server

STREAMS = 4
ORE_KG = 100_000


def setup_chain(client: httpx.Client) -> None:
    make_chain(client)
    extract(client, "ORE", str(ORE_KG), {"Nd": "1000", "Dy": "10"})


def concentrate(stream: int, n: int) -> dict[str, object]:
    """Two outputs and one input: an event that is only whole with all three rows."""
    return event(
        "processing", "MINE", stage="mining", inputs=[lot_input("ORE", "1")],
        outputs=[{"code": f"C-{stream}-{n}-{part}", "material": "concentrate", "quantity": "0.5", "unit": "kg"}
                 for part in ("A", "B")],
    )  # fmt: skip


class Ingest:
    """Streams of events posted back to back until the server dies under them."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.acknowledged: list[str] = []
        self.cut_off = 0
        self.lock = threading.Lock()

    def stream(self, index: int) -> None:
        with self.server.client() as client:
            for n in range(10_000):
                try:
                    response = client.post("/v1/events", json=concentrate(index, n))
                except httpx.TransportError:
                    with self.lock:
                        self.cut_off += 1
                    return
                assert response.status_code == 201, response.text
                with self.lock:
                    self.acknowledged.append(response.json()["id"])


def test_kill_9_during_ingest(database_url: str, tmp_path: Path) -> None:
    with running_server(database_url, tmp_path, workers=2) as server:
        with server.client() as client:
            setup_chain(client)
        ingest = Ingest(server)
        threads = [threading.Thread(target=ingest.stream, args=(i,)) for i in range(STREAMS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while len(ingest.acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()
        for thread in threads:
            thread.join(timeout=60)
    assert len(ingest.acknowledged) >= 60
    assert ingest.cut_off == STREAMS, "every stream should have had a request cut off by the kill"

    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        shapes = connection.execute(sa.text(
            "SELECT e.id, (SELECT count(*) FROM lot l WHERE l.event_pk = e.pk), "
            "(SELECT count(*) FROM event_input i WHERE i.event_pk = e.pk) FROM event e WHERE e.type = 'processing'"
        )).all()  # fmt: skip
        remaining = connection.execute(sa.text("SELECT remaining FROM lot WHERE code = 'ORE'")).scalar_one()
    engine.dispose()
    recorded = {event_id for event_id, _, _ in shapes}
    assert all((lots, inputs) == (2, 1) for _, lots, inputs in shapes), "an event was left half-written"
    assert set(ingest.acknowledged) <= recorded, "an acknowledged event was lost"
    assert len(recorded) - len(ingest.acknowledged) <= STREAMS
    assert Decimal(remaining) == ORE_KG - len(recorded)

    with running_server(database_url, tmp_path, workers=1) as server, server.client() as client:
        assert client.get(f"/v1/events/{ingest.acknowledged[-1]}").status_code == 200
        assert client.post("/v1/events", json=concentrate(99, 0)).status_code == 201
    verified = run_lodestone(database_url, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    print(f"crash: {len(ingest.acknowledged)} acknowledged, {len(recorded)} recorded, "
          f"{ingest.cut_off} requests cut off by kill -9; {verified.stdout.strip()}")  # fmt: skip
