"""Property-based API testing: schemathesis generates requests from the OpenAPI document.

Each operation gets its documented examples, then a bounded, derandomized batch of
schema-valid and schema-invalid requests, sent with the admin key to the real app on
each backend, after a small supply chain is seeded so that by-id paths often name a real
resource. Every response must be a non-5xx whose status code, content type and body the
OpenAPI document describes. With ``-s`` the status codes answered per operation are
printed when the module ends.

schemathesis's pytest integration is not used: its fixture-based loader cannot run under
pytest 9.2 (it assigns ``Item._nodeid``, which pytest no longer has), and its eager loader
would build a single app at import time instead of one per backend. Its public lower-level
API (``APIOperation.as_strategy`` and ``get_strategies_from_examples`` under Hypothesis)
generates the cases of its examples and fuzzing phases.
"""

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, example, find, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import make_url

from service.app import create_app
from service.config import Settings
from tests.conftest import ADMIN_KEY
from tests.helpers import event, lot_input, post_ok

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Sent with every case, over whatever it generated (documented examples carry no credentials).
AUTHORIZATION = {"Authorization": f"Bearer {ADMIN_KEY}"}
# Determinism comes from Hypothesis's `derandomize`; schemathesis's `seed` setting only reaches its pytest plugin.
PROPERTY = hypothesis_settings(
    max_examples=50,
    derandomize=True,
    database=None,
    deadline=None,
    # Each example is a real request against a real database.
    suppress_health_check=[HealthCheck.too_slow],
)
FIND = hypothesis_settings(database=None, derandomize=True, phases=[Phase.generate])
Tally = dict[str, dict[str, Counter[int]]]


def _operations() -> list[str]:
    """Every operation the app documents, as ``METHOD /path``, for the test ids.

    The app is built only to read its document: its engine is created lazily and never connects.
    """
    app = create_app(Settings(database_url="postgresql+psycopg://collect-only@127.0.0.1/unused", admin_key=ADMIN_KEY))
    document = app.openapi()
    app.state.engine.dispose()
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item]


def seed(client: TestClient) -> dict[str, list[str]]:
    """The supply chain the OpenAPI examples describe, minus what they create themselves.

    LYNAS mines at MTW and refines at KUANTAN, where lot KU-IN-1 awaits the documented
    processing example; ACME makes EV-MOTOR-100 from magnets at ACME-TX and holds an API key.
    Returns, per templated path, the values that name a seeded resource.
    """
    for code, country in (("LYNAS", "AU"), ("ACME", "US")):
        post_ok(client, "/v1/organizations", {"code": code, "name": code.title(), "country": country})
    for code, organization, country, stage in (
        ("MTW", "LYNAS", "AU", "mining"),
        ("KUANTAN", "LYNAS", "MY", "refining"),
        ("ACME-TX", "ACME", "US", "manufacturing"),
    ):
        facility = {"code": code, "name": code.title(), "organization": organization, "country": country}
        post_ok(client, "/v1/facilities", {**facility, "stages": [stage]})
    post_ok(client, "/v1/skus", {"sku": "EV-MOTOR-100", "name": "EV traction motor 100 kW", "organization": "ACME"})
    concentrate = {"Nd": "900", "Pr": "300", "La": "1500", "Ce": "2500"}
    mined = post_ok(
        client,
        "/v1/events",
        event(
            "extraction",
            "MTW",
            outputs=[
                {
                    "code": "MTW-C0",
                    "material": "concentrate",
                    "quantity": "10000",
                    "unit": "kg",
                    "composition": concentrate,
                }
            ],
        ),
    )
    shipped = post_ok(
        client,
        "/v1/events",
        event(
            "transfer",
            "MTW",
            inputs=[lot_input("MTW-C0", "10000", "LYNAS")],
            outputs=[{"code": "KU-IN-1", "facility": "KUANTAN"}],
        ),
    )
    bought = post_ok(
        client,
        "/v1/events",
        event(
            "receipt",
            "ACME-TX",
            outputs=[
                {
                    "code": "MAG-IN-0",
                    "material": "magnet",
                    "quantity": "100",
                    "unit": "pcs",
                    "composition": {"Nd": "20", "Dy": "1"},
                    "declared_origin": [{"route": {"mining": "AU", "refining": "MY"}, "percent": "60"}],
                }
            ],
        ),
    )
    made = post_ok(
        client,
        "/v1/events",
        event(
            "processing",
            "ACME-TX",
            stage="manufacturing",
            inputs=[lot_input("MAG-IN-0", "100", "ACME")],
            outputs=[{"code": "EVM-0", "material": "product", "quantity": "50", "unit": "pcs", "sku": "EV-MOTOR-100"}],
        ),
    )
    key = post_ok(client, "/v1/api-keys", {"organization": "ACME", "role": "viewer", "name": "ACME portal"})
    events = [mined, shipped, bought, made]
    lots = [lot["id"] for recorded in events for lot in recorded["outputs"]]
    event_ids = [recorded["id"] for recorded in events]
    return {
        "/v1/organizations/{code}": ["LYNAS", "ACME"],
        "/v1/facilities/{code}": ["MTW", "KUANTAN", "ACME-TX"],
        "/v1/skus/{sku}": ["EV-MOTOR-100"],
        "/v1/skus/{sku}/origin": ["EV-MOTOR-100"],
        "/v1/events/{id}": event_ids,
        "/v1/events/{id}/void": event_ids,
        "/v1/lots/{id}": lots,
        "/v1/lots/{id}/origin": lots,
        "/v1/lots/{id}/trace": lots,
        "/v1/api-keys/{id}": [key["id"]],
    }


# Conformance, not speed: a commit that waits out a PostgreSQL checkpoint's fsync on a busy machine
# (one stalled past schemathesis's default 10 s in CI) is slow, not wrong. A hang still fails.
REQUEST_TIMEOUT = 120


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    """Status codes answered, per backend and operation; printed when the module ends."""
    counts: Tally = {}
    yield counts
    for backend, per_operation in counts.items():
        total = sum(statuses.total() for statuses in per_operation.values())
        print(f"\nschemathesis on {backend}: {total} cases over {len(per_operation)} operations")
        for label, statuses in per_operation.items():
            answered = " ".join(f"{status}x{n}" for status, n in sorted(statuses.items()))
            print(f"  {statuses.total():4d}  {label:32}  {answered}")


@pytest.mark.parametrize("label", _operations())
def test_operation_conforms_to_openapi(client: TestClient, settings: Settings, label: str, tally: Tally) -> None:
    known = seed(client)
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None
    cases = st.one_of([operation.as_strategy(generation_mode=mode) for mode in schemathesis.GenerationMode])
    # The document's own examples run once each, before the generated cases, as schemathesis's examples phase does.
    documented = [
        find(strategy, lambda _: True, settings=FIND) for strategy in operation.get_strategies_from_examples()
    ]
    real_values = known.get(operation.path, [])
    real = st.one_of(st.none(), st.sampled_from(real_values)) if real_values else st.none()
    backend = make_url(settings.database_url).get_backend_name()
    statuses = tally.setdefault(backend, {}).setdefault(label, Counter())

    @PROPERTY
    @given(case=cases, real_value=real)
    def conforms(case: schemathesis.Case[Any], real_value: str | None) -> None:
        if real_value is not None and case.path_parameters:
            # Every templated path here has one parameter: the resource's code or id.
            (name,) = case.path_parameters
            case.path_parameters = {name: real_value}
        response = case.call_and_validate(headers=AUTHORIZATION, checks=CHECKS, timeout=REQUEST_TIMEOUT)
        statuses[response.status_code] += 1
        assert response.status_code != 401, "every request carries the admin key"

    for documented_case in documented:
        conforms = example(case=documented_case, real_value=None)(conforms)
    conforms()
    assert statuses.total() > 0
