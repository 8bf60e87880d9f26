"""SKU answers and pages of lots sent again as remembered bytes: what the routes give, and never a stale one."""

import asyncio
import io
import json
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session
from starlette.datastructures import State

from service.api.remembered import Pinned, SharedChecks, rows_found
from service.config import Settings
from service.db import create_db_engine
from service.demo import SKUS, load_demo
from service.events import record_event
from service.schemas import EventCreate
from tests.conftest import ADMIN_KEY, serve_in_process
from tests.helpers import event, make_chain, post_ok
from tests.servers import running_server

ROUTES = ["origin", "origin?countries=CN,RU&stages=mining,refining", "compliance?on=2027-01-01", "compliance"]


def _demo(settings: Settings) -> Settings:
    engine = create_db_engine(settings)
    assert load_demo(engine)
    engine.dispose()
    return settings.model_copy(update={"access_log": "all", "key_cache_seconds": 3600.0})


@pytest.fixture
def demo(settings: Settings) -> Iterator[TestClient]:
    yield from serve_in_process(_demo(settings))


def _keys(client: TestClient) -> dict[str, dict[str, str]]:
    """The operator, an auditor, and viewers of two organizations: they see different lots of the same SKU."""
    made = {
        name: post_ok(client, "/v1/api-keys", {"organization": org, "role": role, "name": name})["key"]
        for name, org, role in [
            ("auditor", "ACME", "auditor"),
            ("acme", "ACME", "viewer"),
            ("lynas", "LYNAS", "viewer"),
        ]
    }
    return {"operator": {}} | {name: {"Authorization": f"Bearer {key}"} for name, key in made.items()}


def _without_moment(answer: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in answer.items() if name != "as_of"}


def _remembered(log: io.StringIO) -> list[bool]:
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    return [line.get("remembered", False) for line in lines if line["logger"] == "lodestone.access"]


def test_a_remembered_answer_is_the_answer_the_route_gives(
    demo: TestClient, settings: Settings, log_lines: io.StringIO
) -> None:
    keys = _keys(demo)
    for headers in keys.values():
        assert demo.get("/v1/skus", headers=headers).status_code == 200  # each key now trusted for reads
    # The same app with no key trusted for reads: every answer there goes through the route.
    for routed in serve_in_process(settings.model_copy(update={"key_cache_seconds": 0.0})):
        for sku, _name, _gtin in SKUS:
            for route in ROUTES:
                for who, headers in keys.items():
                    path = f"/v1/skus/{sku}/{route}"
                    log_lines.truncate(0)
                    log_lines.seek(0)
                    first, again = demo.get(path, headers=headers), demo.get(path, headers=headers)
                    assert first.status_code == again.status_code == 200, (path, who, first.text)
                    # The auditor sees what the operator sees, asked just before: the same bytes.
                    assert _remembered(log_lines) == [who == "auditor", True], (path, who)
                    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
                    assert int(again.headers["content-length"]) == len(again.content)
                    assert _without_moment(again.json()) == _without_moment(first.json())
                    assert again.json()["as_of"] >= first.json()["as_of"]
                    if who != "operator":
                        reference = routed.get(path, headers=headers)
                        assert _without_moment(reference.json()) == _without_moment(again.json()), (path, who)


def test_callers_who_see_different_lots_never_share_bytes(demo: TestClient) -> None:
    keys = _keys(demo)
    path = "/v1/skus/EV-MOTOR-200/origin"
    answers: dict[str, dict[str, Any]] = {}
    for _ in range(2):
        for who in ("lynas", "acme", "auditor"):
            answer = demo.get(path, headers=keys[who]).json()
            answers.setdefault(who, _without_moment(answer))
            assert _without_moment(answer) == answers[who]
    hidden = {who: sum(lot["id"] is None for lot in answer["lots"]) for who, answer in answers.items()}
    assert hidden["auditor"] == 0
    assert hidden["lynas"] != hidden["acme"] or answers["lynas"]["lots"] != answers["acme"]["lots"]


def test_an_answer_asked_as_of_a_moment_is_remembered_as_asked(demo: TestClient, log_lines: io.StringIO) -> None:
    moment = demo.get("/v1/skus/EV-MOTOR-200/origin").json()["as_of"]  # the demo's SKUs are registered today
    path = f"/v1/skus/EV-MOTOR-200/origin?as_of={moment}"
    first, again = demo.get(path), demo.get(path)
    assert first.status_code == 200, first.text
    assert _remembered(log_lines)[-2:] == [False, True]
    assert first.content == again.content
    assert again.json()["as_of"] == moment


def test_a_new_lot_of_the_sku_is_in_the_next_answer(demo: TestClient, log_lines: io.StringIO) -> None:
    path = "/v1/skus/SERVO-50/origin"
    before = [demo.get(path).json() for _ in range(2)][-1]
    assert _remembered(log_lines)[-1] is True
    post_ok(demo, "/v1/facilities", {"code": "CN-PLANT", "name": "Plant", "organization": "ACME", "country": "CN",
                                     "stages": ["manufacturing"]})  # fmt: skip
    mined = post_ok(demo, "/v1/events", {
        "type": "extraction", "facility": "BAYAN", "occurred_at": "2026-01-01T00:00:00Z",
        "outputs": [{"code": "NEW-ORE", "material": "ore", "quantity": "100", "unit": "kg",
                     "composition": {"Nd": "10"}}],
    })  # fmt: skip
    shipped = post_ok(demo, "/v1/events", {
        "type": "transfer", "facility": "BAYAN", "occurred_at": "2026-01-02T00:00:00Z",
        "inputs": [{"lot": mined["outputs"][0]["id"], "quantity": "100"}],
        "outputs": [{"code": "NEW-ORE-CN", "facility": "CN-PLANT"}],
    })  # fmt: skip
    post_ok(demo, "/v1/events", {
        "type": "processing", "facility": "CN-PLANT", "stage": "manufacturing", "occurred_at": "2026-01-03T00:00:00Z",
        "inputs": [{"lot": shipped["outputs"][0]["id"], "quantity": "100"}],
        "outputs": [{"code": "SERVO-NEW", "material": "product", "quantity": "10", "unit": "pcs", "sku": "SERVO-50",
                     "composition": {"Nd": "10"}}],
    })  # fmt: skip
    log_lines.truncate(0)
    log_lines.seek(0)
    after = demo.get(path).json()
    assert _remembered(log_lines) == [False]
    assert after["total_kg"] != before["total_kg"]
    assert "SERVO-NEW" in {lot["code"] for lot in after["lots"]}


def test_a_new_price_reaches_the_remembered_rules_answer(demo: TestClient, log_lines: io.StringIO) -> None:
    path = "/v1/skus/EV-MOTOR-200/compliance?on=2027-01-01"
    for _ in range(2):
        assert demo.get(path).status_code == 200
    assert _remembered(log_lines)[-1] is True
    prices = demo.get("/v1/prices").json()["items"]
    assert prices, "the demo has prices"
    price = prices[0]
    body = {name: price[name] for name in ("element", "currency")} | {"valid_from": "2026-12-01"}
    body["price_per_kg"] = str(Decimal(price["price_per_kg"]) + 1)
    post_ok(demo, "/v1/prices", body)
    log_lines.truncate(0)
    log_lines.seek(0)
    assert demo.get(path).status_code == 200
    assert _remembered(log_lines) == [False]


def test_a_listed_lot_shows_what_is_left_and_its_status_as_they_change(client: TestClient) -> None:
    """Lots are remembered as read by what may still change of them: a page never shows an old remainder."""
    make_chain(client)

    def listed() -> dict[str, tuple[str, str]]:
        page = client.get("/v1/lots", params={"limit": 500})
        assert page.status_code == 200, page.text
        return {lot["code"]: (lot["remaining"], lot["status"]) for lot in page.json()["items"]}

    output = {"code": "ORE-1", "material": "ore", "quantity": "100", "unit": "kg", "composition": {"Nd": "10"}}
    ore = post_ok(client, "/v1/events", event("extraction", "MINE", outputs=[output]))
    assert listed()["ORE-1"] == ("100", "active")
    assert listed()["ORE-1"] == ("100", "active")  # the second page from the lot remembered
    shipped = post_ok(client, "/v1/events", event("transfer", "MINE", day="2025-06-02",
        inputs=[{"lot": ore["outputs"][0]["id"], "quantity": "40"}],
        outputs=[{"code": "ORE-1-US", "facility": "PLANT"}]))  # fmt: skip
    after = listed()
    assert after["ORE-1"][0] == "60"
    assert after["ORE-1-US"][0] == "40"
    assert client.post(f"/v1/events/{shipped['id']}/void").status_code == 200
    voided = listed()
    assert voided["ORE-1"][0] == "100"
    assert voided["ORE-1-US"][1] == "voided"


def _servo_lot(client: TestClient | httpx.Client, code: str) -> None:
    """A new lot of the SKU SERVO-50, made in China from new ore: its answer changes."""
    mined = post_ok(client, "/v1/events", {
        "type": "extraction", "facility": "BAYAN", "occurred_at": "2026-01-01T00:00:00Z",
        "outputs": [{"code": f"{code}-ORE", "material": "ore", "quantity": "100", "unit": "kg",
                     "composition": {"Nd": "10"}}],
    })  # fmt: skip
    shipped = post_ok(client, "/v1/events", {
        "type": "transfer", "facility": "BAYAN", "occurred_at": "2026-01-02T00:00:00Z",
        "inputs": [{"lot": mined["outputs"][0]["id"], "quantity": "100"}],
        "outputs": [{"code": f"{code}-ORE-US", "facility": "ACME-TX"}],
    })  # fmt: skip
    post_ok(client, "/v1/events", {
        "type": "processing", "facility": "ACME-TX", "stage": "manufacturing",
        "occurred_at": "2026-01-03T00:00:00Z", "inputs": [{"lot": shipped["outputs"][0]["id"], "quantity": "100"}],
        "outputs": [{"code": code, "material": "product", "quantity": "10", "unit": "pcs", "sku": "SERVO-50",
                     "composition": {"Nd": "10"}}],
    })  # fmt: skip


def test_a_page_of_lots_is_sent_again_until_anything_listed_changes(
    demo: TestClient, settings: Settings, log_lines: io.StringIO
) -> None:
    def asked(path: str = "/v1/lots?limit=500") -> tuple[list[bool], bytes]:
        log_lines.truncate(0)
        log_lines.seek(0)
        first, again = demo.get(path), demo.get(path)
        assert first.status_code == again.status_code == 200, first.text
        assert first.content == again.content
        return _remembered(log_lines), again.content

    assert asked()[0] == [False, True]
    assert asked("/v1/lots?limit=2")[0] == [False, True]  # another request: another page
    assert asked()[0] == [True, True]
    ore = {"material": "ore", "quantity": "100", "unit": "kg", "composition": {"Nd": "10"}}
    mined = post_ok(demo, "/v1/events", event("extraction", "BAYAN", outputs=[{"code": "PAGE-ORE", **ore}]))
    remembered, page = asked()
    assert remembered == [False, True]
    assert b"PAGE-ORE" in page
    # A void changes no lot's key, only statuses and what is left: the audit entry it writes unpins the page.
    assert demo.post(f"/v1/events/{mined['id']}/void").status_code == 200
    remembered, page = asked()
    assert remembered == [False, True]
    assert [lot["status"] for lot in json.loads(page)["items"] if lot["code"] == "PAGE-ORE"] == ["voided"]
    # A lot recorded without the API (as the demo loader does) writes no audit entry, and is listed at once.
    body = event("extraction", "BAYAN", outputs=[{"code": "LOADED-ORE", **ore}])
    engine = create_db_engine(settings)
    with Session(engine) as session:
        record_event(session, EventCreate.model_validate(body), Fraction(5, 1000))
        session.commit()
    engine.dispose()
    remembered, page = asked()
    assert remembered == [False, True]
    assert b"LOADED-ORE" in page


ROLES = ("recorder", "viewer")


def test_a_key_that_may_not_list_lots_is_never_sent_a_remembered_page(demo: TestClient, log_lines: io.StringIO) -> None:
    made = {role: post_ok(demo, "/v1/api-keys", {"organization": "ACME", "role": role, "name": role}) for role in ROLES}
    keys = {role: {"Authorization": f"Bearer {key['key']}"} for role, key in made.items()}
    for _ in range(2):
        assert demo.get("/v1/lots", headers=keys["recorder"]).status_code == 200
    assert _remembered(log_lines)[-1] is True
    # The viewer sees what the recorder sees of its organization, but may not list lots at all.
    refused = demo.get("/v1/lots", headers=keys["viewer"])
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"


def test_answers_checked_together_never_come_from_before_a_write(database_url: str, tmp_path: Path) -> None:
    """Two real workers checking remembered answers off the event loop (as on PostgreSQL), with requests sharing
    checks (``SharedChecks``): readers race a writer, and no request sent after the write's answer came back is
    answered without it."""
    engine = create_db_engine(Settings(database_url=database_url))
    assert load_demo(engine)
    engine.dispose()
    path = "/v1/skus/SERVO-50/origin"
    answers: list[tuple[float, float, bool]] = []  # (sent, received, has the new lot)
    done = threading.Event()
    failures: list[str] = []

    def read() -> None:
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as reader:
            while not done.is_set():
                sent = time.monotonic()
                answer = reader.get(path)
                if answer.status_code != 200:
                    failures.append(answer.text)
                    return
                codes = {lot["code"] for lot in answer.json()["lots"]}
                answers.append((sent, time.monotonic(), "SERVO-RACE" in codes))

    with running_server(database_url, tmp_path, workers=2, reads_on_event_loop="false", access_log="all") as server:
        readers = [threading.Thread(target=read) for _ in range(8)]
        for thread in readers:
            thread.start()
        time.sleep(1.5)
        with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as writer:
            _servo_lot(writer, "SERVO-RACE")
        written = time.monotonic()
        time.sleep(1.5)
        done.set()
        for thread in readers:
            thread.join()
        remembered = server.log.read_text().count('"remembered": true')
    assert not failures, failures[:1]
    stale = [answer for answer in answers if answer[0] > written and not answer[2]]
    after = [answer for answer in answers if answer[0] > written]
    assert stale == [], f"{len(stale)} of {len(after)} answers asked after the write missed it"
    assert len(after) > 50, "the readers went on asking after the write"
    assert any(not new for _sent, _received, new in answers), "the readers asked before the write"
    assert remembered > 100, f"only {remembered} answers came from memory: the shared checks were not exercised"


def test_a_shared_check_never_began_before_the_request_it_answers(database_url: str) -> None:
    """A request arriving while a check of the same statement runs waits for the next run, which sees what was
    committed meanwhile; requests arriving together share that run."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite checks run on the event loop, one request at a time: none is shared")
    engine = create_db_engine(Settings(database_url=database_url))
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE shared_check (v integer)"))
        connection.execute(sa.text("INSERT INTO shared_check VALUES (1)"))
        connection.execute(sa.text("CREATE SEQUENCE shared_check_runs"))
    state = State({"read_replica": None, "check_engine": None, "engine": engine})
    state.side_connections = anyio.CapacityLimiter(5)
    # A real statement that takes a while: its snapshot is taken when it begins; each run draws a new number.
    slow = "SELECT v, nextval('shared_check_runs') FROM shared_check, pg_sleep(0.5)"
    pinned = Pinned(slow, {}, (1, 1))
    other = Pinned("SELECT v + 10, nextval('shared_check_runs') FROM shared_check", {}, (11, 1))

    def running() -> bool:
        with engine.connect() as connection:
            query = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = :slow"
            return bool(connection.execute(sa.text(query), {"slow": slow}).scalar())

    async def checked() -> tuple[object, list[object]]:
        checks = SharedChecks(state)
        first = asyncio.ensure_future(checks.found(pinned))
        for _ in range(500):
            if running():
                break
            await asyncio.sleep(0.01)
        with engine.begin() as connection:  # committed while the first run is under way
            connection.execute(sa.text("UPDATE shared_check SET v = 2"))
        later = [asyncio.ensure_future(checks.found(pinned)) for _ in range(3)]
        # Another statement arriving with them goes in the same batch, in the same round trip, after them.
        later.append(asyncio.ensure_future(checks.found(other)))
        return await first, list(await asyncio.gather(*later))

    try:
        first, later = asyncio.run(checked())
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text("DROP TABLE shared_check"))
            connection.execute(sa.text("DROP SEQUENCE shared_check_runs"))
        engine.dispose()
    assert first == (1, 1)
    # Never the row read before they asked; the three shared one run; the other statement had its own.
    assert later == [(2, 2), (2, 2), (2, 2), (12, 3)]


def test_statements_checked_together_each_give_their_own_row(database_url: str) -> None:
    engine = create_db_engine(Settings(database_url=database_url))
    pins = [Pinned(sql, {}, ()) for sql in ("SELECT 1, 'a'", "SELECT 2, 'b' WHERE 1 = 0", "SELECT 3, 'c'")]
    try:
        assert rows_found(engine, pins) == [(1, "a"), None, (3, "c")]
        assert rows_found(engine, pins[:1]) == [(1, "a")]
    finally:
        engine.dispose()
