"""Answers as of a moment (``as_of``): what the service would have answered then, and nothing it learnt later.

The property: for random histories with voids, prices and a custom rule, every answer as of ``t``
equals the answer a copy of the database gives when it holds only what was recorded by ``t``, with
the voids after ``t`` undone.
"""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import create_app
from service.config import Settings
from service.db import UTCDateTime
from tests.conftest import ADMIN_KEY
from tests.helpers import event, post_ok

ON = "2027-01-15"
ORG = "ACME"
MINES = {"AU": "MINE-AU", "CN": "MINE-CN"}
REFINERIES = {"CN": "REF-CN", "MY": "REF-MY"}
SKUS = ("WIDGET", "GADGET")


@pytest.fixture(scope="module")
def template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file holding one organization, its mines, refineries, plant and two SKUs."""
    path = tmp_path_factory.mktemp("as-of") / "chain.db"
    shutil.copyfile(sqlite_template, path)
    with open_client(path) as client:
        post_ok(client, "/v1/organizations", {"code": ORG, "name": "Acme", "country": "US"})
        facilities = [(code, country, "mining") for country, code in MINES.items()]
        facilities += [(code, country, "refining") for country, code in REFINERIES.items()]
        for code, country, stage in [*facilities, ("PLANT", "US", "manufacturing")]:
            body = {"code": code, "name": code, "organization": ORG, "country": country, "stages": [stage]}
            post_ok(client, "/v1/facilities", body)
    return path


@contextmanager
def open_client(path: Path) -> Iterator[TestClient]:
    """The app on a SQLite file, closed after (its write-ahead log folded in, so the file can be copied)."""
    app = create_app(Settings(database_url=f"sqlite:///{path}", admin_key=ADMIN_KEY))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


def custom_rule(rule_id: str) -> dict[str, Any]:
    version = {
        "version": "v1", "effective_from": "2026-01-01", "effective_to": None, "in_force": True,
        "countries": ["CN"], "stages": ["refining"], "elements": ["Dy"], "basis": "value",
        "threshold_percent": "1", "threshold_inclusive": False, "subject_materials": None,
    }  # fmt: skip
    return {"id": rule_id, "title": "Acme's own Dy policy", "versions": [version]}


# One step of a history: what a recorder or admin might do next.
steps = st.one_of(
    st.tuples(st.just("mine"), st.sampled_from(sorted(MINES)), st.integers(1, 50)),
    st.tuples(st.just("refine"), st.sampled_from(sorted(REFINERIES))),
    st.tuples(st.just("make"), st.sampled_from(SKUS)),
    st.tuples(st.just("receive"), st.sampled_from(SKUS), st.sampled_from(["AU", "CN", None])),
    st.tuples(st.just("void")),
    st.tuples(st.just("price"), st.sampled_from(["Nd", "Dy"]), st.integers(1, 900), st.sampled_from(["01", "06"])),
    st.tuples(st.just("rule")),
    st.tuples(st.just("sku")),
)


class History:
    """Plays steps against the service, keeping what a next step may use."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.n = 0
        self.ores: list[str] = []
        self.oxides: list[str] = []
        self.events: list[str] = []
        self.skus: list[str] = []
        self.rules = 0

    def code(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def record(self, body: dict[str, Any]) -> dict[str, Any]:
        recorded = post_ok(self.client, "/v1/events", body)
        self.events.append(recorded["id"])
        return recorded

    def play(self, step: tuple[Any, ...]) -> None:
        match step:
            case ("mine", country, kg):
                code = self.code("ORE")
                composition = {"Nd": str(kg), "Dy": "1"}
                mined = {"code": code, "material": "ore", "quantity": "1000", "unit": "kg", "composition": composition}
                self.record(event("extraction", MINES[country], outputs=[mined]))
                self.ores.append(code)
            case ("refine", country) if self.ores:
                ore, moved, oxide = self.ores.pop(), self.code("AT"), self.code("OX")
                self.record(event("transfer", self.facility_of(ore), inputs=[self.take(ore)],
                                  outputs=[{"code": moved, "facility": REFINERIES[country]}]))  # fmt: skip
                refined = {"code": oxide, "material": "oxide", "quantity": "100", "unit": "kg"}
                self.record(event("processing", REFINERIES[country], stage="refining", inputs=[self.take(moved)],
                                  outputs=[refined]))  # fmt: skip
                self.oxides.append(oxide)
            case ("make", sku) if self.oxides and sku in self.skus:
                oxide, moved, product = self.oxides.pop(), self.code("AT"), self.code("P")
                self.record(event("transfer", self.facility_of(oxide), inputs=[self.take(oxide)],
                                  outputs=[{"code": moved, "facility": "PLANT"}]))  # fmt: skip
                made: dict[str, Any] = {"code": product, "material": "product", "quantity": "5", "unit": "pcs",
                                        "sku": sku, "value": {"amount": "5000", "currency": "USD"}}  # fmt: skip
                self.record(event("processing", "PLANT", stage="manufacturing", inputs=[self.take(moved)],
                                  outputs=[made]))  # fmt: skip
            case ("receive", sku, country) if sku in self.skus:
                received: dict[str, Any] = {"code": self.code("R"), "material": "product", "quantity": "1",
                                            "unit": "pcs", "composition": {"Nd": "2", "Dy": "1"}, "sku": sku,
                                            "value": {"amount": "900", "currency": "USD"}}  # fmt: skip
                if country is not None:
                    received["declared_origin"] = [{"route": {"mining": country, "refining": country},
                                                    "percent": "100"}]  # fmt: skip
                self.record(event("receipt", "PLANT", outputs=[received]))
            case ("void",):
                # The newest event nobody has consumed the outputs of (others answer 409 and change nothing).
                for event_id in reversed(self.events):
                    if self.client.post(f"/v1/events/{event_id}/void").status_code == 200:
                        self.events.remove(event_id)
                        break
            case ("price", element, per_kg, month):
                body = {"element": element, "currency": "USD", "price_per_kg": str(per_kg),
                        "valid_from": f"2026-{month}-01"}  # fmt: skip
                self.client.post("/v1/prices", json=body)  # a repeat of the same day and element is a 409
            case ("rule",):
                self.rules += 1
                post_ok(self.client, "/v1/rules", custom_rule(f"ACME-DY-{self.rules}"))
            case ("sku",) if len(self.skus) < len(SKUS):
                sku = SKUS[len(self.skus)]
                post_ok(self.client, "/v1/skus", {"sku": sku, "name": sku, "organization": ORG})
                self.skus.append(sku)

    def facility_of(self, code: str) -> str:
        return str(self.client.get("/v1/lots", params={"code": code}).json()["items"][0]["facility"])

    def take(self, code: str) -> dict[str, str]:
        lot = self.client.get("/v1/lots", params={"code": code}).json()["items"][0]
        return {"lot_code": code, "organization": ORG, "quantity": lot["remaining"]}


def moments(path: Path, *sources: tuple[str, str]) -> list[datetime]:
    """The moments things were recorded (or voided) at, in order: ``(table, column)`` pairs."""
    engine = sa.create_engine(f"sqlite:///{path}")
    column = sa.column("at", UTCDateTime())
    with engine.connect() as connection:
        found = {
            at
            for table, name in sources
            for (at,) in connection.execute(
                sa.select(column).select_from(sa.text(f"(SELECT {name} AS at FROM {table})"))
            )
            if at is not None
        }
    engine.dispose()
    return sorted(found)


EVERYTHING = (("event", "recorded_at"), ("event", "voided_at"), ("price", "created_at"), ("rule", "created_at"),
              ("sku", "created_at"))  # fmt: skip
# Where an answer as of a moment differs from the answer now: just before a void, a price or a rule.
TURNS = (("event", "voided_at"), ("price", "created_at"), ("rule", "created_at"))


def copy_as_of(path: Path, copy: Path, t: datetime) -> None:
    """A copy of the database holding only what was recorded by ``t``, with the voids after ``t`` undone."""
    shutil.copyfile(path, copy)
    engine = sa.create_engine(f"sqlite:///{copy}")
    later = sa.bindparam("t", t, type_=UTCDateTime())
    statements = [
        "DELETE FROM event_input WHERE event_pk IN (SELECT pk FROM event WHERE recorded_at > :t)",
        "DELETE FROM lot WHERE recorded_at > :t",
        "DELETE FROM event WHERE recorded_at > :t",
        "UPDATE lot SET status = 'active' WHERE event_pk IN (SELECT pk FROM event WHERE voided_at > :t)",
        "UPDATE event SET status = 'recorded', voided_at = NULL WHERE voided_at > :t",
        "DELETE FROM price WHERE created_at > :t",
        "DELETE FROM rule WHERE created_at > :t",
        "DELETE FROM sku WHERE created_at > :t",
    ]
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement).bindparams(later))
    engine.dispose()


def questions(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Every answer a client could ask of the full history: each lot's and each SKU's, plain and by the rules."""
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        lots = [lot_id for (lot_id,) in connection.execute(sa.text("SELECT id FROM lot ORDER BY pk"))]
    engine.dispose()
    for lot_id in lots:
        yield f"/v1/lots/{lot_id}/origin", {}
        yield f"/v1/lots/{lot_id}/compliance", {"on": ON, "rules": "mofcom-61"}
    for sku in SKUS:
        yield f"/v1/skus/{sku}/origin", {}
        yield f"/v1/skus/{sku}/origin", {"elements": "Dy", "threshold_percent": "10"}
        yield f"/v1/skus/{sku}/compliance", {"on": ON}


def without_as_of(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "as_of"}


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(history=st.lists(steps, min_size=4, max_size=14), data=st.data())
def test_an_answer_as_of_a_moment_is_the_answer_of_the_database_as_it_stood(
    template: Path, tmp_path: Path, history: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example: tmp_path is the test's, shared by them all
    path = folder / "full.db"
    shutil.copyfile(template, path)
    with open_client(path) as client:
        player = History(client)
        for step in [("sku",), *history]:
            player.play(step)
    chosen = data.draw(st.lists(st.sampled_from(moments(path, *EVERYTHING)), max_size=2, unique=True), label="t")
    nudge = data.draw(st.sampled_from([timedelta(0), timedelta(microseconds=-1)]), label="nudge")
    turns = [moment - timedelta(microseconds=1) for moment in moments(path, *TURNS)]
    asked = list(questions(path))
    with open_client(path) as full:
        for t in sorted({*(moment + nudge for moment in chosen), *turns}):
            copy = folder / f"as-of-{t.timestamp()}.db"
            copy_as_of(path, copy, t)
            with open_client(copy) as then:
                for url, params in asked:
                    answered = full.get(url, params={**params, "as_of": t.isoformat()})
                    stood = then.get(url, params=params)
                    assert answered.status_code == stood.status_code, (url, t, answered.text, stood.text)
                    if stood.status_code == 200:
                        assert answered.json()["as_of"] == t.isoformat().replace("+00:00", "Z")
                        assert without_as_of(answered.json()) == without_as_of(stood.json()), (url, t)
                        # The copy answers the same as of the same moment, as_of included.
                        assert then.get(url, params={**params, "as_of": t.isoformat()}).json() == answered.json()
    shutil.rmtree(folder)


ANSWERS = ("/v1/skus/{sku}/origin", "/v1/skus/{sku}/compliance", "/v1/lots/{lot}/origin", "/v1/lots/{lot}/compliance")


def test_as_of_on_every_answer_endpoint(client: TestClient) -> None:
    """Echoed; a moment to come, one without an offset, or a subject not yet recorded then, refused clearly."""
    post_ok(client, "/v1/organizations", {"code": ORG, "name": "Acme", "country": "US"})
    post_ok(client, "/v1/facilities", {"code": "PLANT", "name": "Plant", "organization": ORG, "country": "US",
                                       "stages": ["manufacturing"]})  # fmt: skip
    early = client.get("/v1/organizations").json()["items"][0]["created_at"]
    post_ok(client, "/v1/skus", {"sku": "WIDGET", "name": "Widget", "organization": ORG})
    output = {"code": "R-1", "material": "product", "quantity": "1", "unit": "pcs", "composition": {"Dy": "1"},
              "sku": "WIDGET"}  # fmt: skip
    lot = post_ok(client, "/v1/events", event("receipt", "PLANT", outputs=[output]))["outputs"][0]
    for template in ANSWERS:
        url = template.format(sku="WIDGET", lot=lot["id"])
        now = client.get(url)
        assert now.status_code == 200
        assert datetime.fromisoformat(now.json()["as_of"]) >= datetime.fromisoformat(lot["recorded_at"])
        recorded = client.get(url, params={"as_of": lot["recorded_at"]})
        assert recorded.json()["as_of"] == lot["recorded_at"]
        assert without_as_of(recorded.json()) == without_as_of(now.json())
        for moment, status in [("2999-01-01T00:00:00Z", 422), ("2026-01-01T00:00:00", 422), ("yesterday", 422),
                               (early, 404)]:  # fmt: skip
            refused = client.get(url, params={"as_of": moment})
            assert refused.status_code == status, (url, moment, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
    assert "as of" in client.get(f"/v1/lots/{lot['id']}/origin", params={"as_of": early}).json()["detail"]
