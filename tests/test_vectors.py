"""Every worked example of the contract (``docs/contract/vectors``), replayed through HTTP against an empty database."""

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.contract import CONTRACT_DIR

VECTOR_DIR = CONTRACT_DIR / "vectors"
# Vectors of the contract that this version does not replay yet, and the issue that will. Nothing else is skipped.
PENDING: dict[str, str] = {}
VECTORS = sorted(path for path in VECTOR_DIR.glob("*.json") if path.stem not in PENDING)
# What the replay below checks. A vector asking for more fails, rather than being checked in part.
STEP_KINDS = frozenset({"event", "void_step", "assess", "rule", "get_rule", "price", "prices", "compliance"})
EXPECT_KEYS = frozenset({
    "status", "why", "outputs", "answer", "share_percent", "unknown_percent", "total_kg", "lots", "lots_count",
    "elements_breakdown", "on", "results", "builtin", "versions", "items",
})  # fmt: skip
ORIGIN_KEYS = frozenset({"total_kg", "element_resolved", "routes", "stages", "sku", "value"})
RESULT_KEYS = frozenset({
    "rule", "version", "in_force", "basis", "answer", "share_percent", "unknown_percent", "lots", "lots_count",
    "reasons",
})  # fmt: skip
KG_TOLERANCE = Decimal("1e-8")
PERCENT_TOLERANCE = Decimal("0.00001")


def close(actual: str, expected: str, tolerance: Decimal) -> bool:
    return abs(Decimal(actual) - Decimal(expected)) <= tolerance


def route_key(route: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(route.items()))


def snapshot(client: TestClient) -> list[Any]:
    """Everything a refused event could have changed: every lot with its remaining quantity."""
    lots: list[Any] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/lots", params=params).json()
        lots += [(lot["id"], lot["code"], lot["remaining"], lot["status"]) for lot in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return lots


def close_or_null(actual: str | None, expected: str | None, tolerance: Decimal) -> bool:
    if expected is None or actual is None:
        return actual is expected
    return close(actual, expected, tolerance)


def check_lot(code: str, lot: dict[str, Any], expected: dict[str, Any]) -> None:
    """An output lot: its origin, and from file 13 on its SKU and its value (exact, no tolerance)."""
    assert set(expected) <= ORIGIN_KEYS, (code, "the replay does not check", sorted(set(expected) - ORIGIN_KEYS))
    if "sku" in expected:
        assert lot["sku"] == expected["sku"], code
    if "value" in expected:
        if expected["value"] is None:
            assert lot["value"] is None, code
        else:
            assert lot["value"]["currency"] == expected["value"]["currency"], code
            assert Decimal(lot["value"]["amount"]) == Decimal(expected["value"]["amount"]), (code, lot["value"])
    check_origin(code, lot["origin"], {k: v for k, v in expected.items() if k not in ("sku", "value")})


def check_origin(code: str, actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert close(actual["total_kg"], expected["total_kg"], KG_TOLERANCE), code
    assert actual["element_resolved"] == expected["element_resolved"], code
    got = {route_key(r["route"]): r for r in actual["routes"]}
    want = {route_key(r["route"]): r for r in expected["routes"]}
    assert set(got) == set(want), code
    for key, route in want.items():
        assert close(got[key]["kg"], route["kg"], KG_TOLERANCE), (code, key)
        assert close(got[key]["percent"], route["percent"], PERCENT_TOLERANCE), (code, key)
    assert set(actual["stages"]) == set(expected["stages"]), code
    for stage, values in expected["stages"].items():
        assert set(actual["stages"][stage]) == set(values), (code, stage)
        for value, percent in values.items():
            assert close(actual["stages"][stage][value], percent, PERCENT_TOLERANCE), (code, stage, value)


def lot_id(client: TestClient, code: str, organization: str) -> str:
    items = client.get("/v1/lots", params={"code": code, "organization": organization}).json()["items"]
    assert len(items) == 1, (code, organization)
    return str(items[0]["id"])


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(client: TestClient, path: Path) -> None:
    vector = json.loads(path.read_text())
    for kind, route in (("organizations", "/v1/organizations"), ("facilities", "/v1/facilities"), ("skus", "/v1/skus")):
        for body in vector[kind]:
            response = client.post(route, json=body)
            assert response.status_code == 201, response.text
    event_ids: dict[int, str] = {}
    for index, step in enumerate(vector["steps"]):
        expect = step["expect"]
        kinds = set(step) - {"expect", "query"}
        assert len(kinds) == 1, (index, "a step does one thing", sorted(kinds))
        assert kinds <= STEP_KINDS, (index, "the replay does not know the step", sorted(kinds))
        assert set(expect) <= EXPECT_KEYS, (index, "the replay does not check", sorted(set(expect) - EXPECT_KEYS))
        if "event" in step:
            before = snapshot(client)
            response = client.post("/v1/events", json=step["event"])
            assert response.status_code == expect["status"], (index, expect.get("why"), response.text)
            if response.status_code != 201:
                assert response.headers["content-type"] == "application/problem+json"
                assert snapshot(client) == before, (index, "a refused event changed something")
                continue
            event = response.json()
            event_ids[index] = event["id"]
            outputs = {lot["code"]: lot for lot in event["outputs"]}
            for code, origin in expect.get("outputs", {}).items():
                check_lot(code, outputs[code], origin)
        elif "void_step" in step:
            response = client.post(f"/v1/events/{event_ids[step['void_step']]}/void")
            assert response.status_code == expect["status"], (index, response.text)
        elif "assess" in step:
            check_assessment(client, index, step, ordered=int(path.stem[:2]) >= 13)
        elif "rule" in step:
            before = client.get("/v1/rules", params={"limit": 500}).json()
            response = client.post("/v1/rules", json=step["rule"])
            assert response.status_code == expect["status"], (index, expect.get("why"), response.text)
            if response.status_code != 201:
                assert client.get("/v1/rules", params={"limit": 500}).json() == before, (index, "a refused rule")
        elif "get_rule" in step:
            check_rule(client, index, step)
        elif "price" in step:
            response = client.post("/v1/prices", json=step["price"])
            assert response.status_code == expect["status"], (index, expect.get("why"), response.text)
        elif "prices" in step:
            response = client.get("/v1/prices", params=step["prices"] | {"limit": 500})
            assert response.status_code == expect["status"], (index, response.text)
            got = sorted((i["element"], i["currency"], Decimal(i["price_per_kg"]), i["valid_from"])
                         for i in response.json()["items"])  # fmt: skip
            want = sorted((i["element"], i["currency"], Decimal(i["price_per_kg"]), i["valid_from"])
                          for i in expect["items"])  # fmt: skip
            assert got == want, index
        else:
            check_compliance(client, index, step)


def subject_url(client: TestClient, subject: dict[str, str], what: str) -> str:
    if "sku" in subject:
        return f"/v1/skus/{subject['sku']}/{what}"
    return f"/v1/lots/{lot_id(client, subject['lot_code'], subject['organization'])}/{what}"


def check_assessment(client: TestClient, index: int, step: dict[str, Any], *, ordered: bool) -> None:
    expect = step["expect"]
    response = client.get(subject_url(client, step["assess"], "origin"), params=step["query"])
    assert response.status_code == expect.get("status", 200), (index, expect.get("why"), response.text)
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
        return
    answer = response.json()
    assert answer["answer"] == expect["answer"], (index, answer)
    assert close(answer["share_percent"], expect["share_percent"], PERCENT_TOLERANCE), (index, answer)
    assert close(answer["unknown_percent"], expect["unknown_percent"], PERCENT_TOLERANCE), (index, answer)
    assert close(answer["total_kg"], expect["total_kg"], KG_TOLERANCE), (index, answer)
    if "lots" in expect:
        got_lots = [(lot["code"], lot["answer"]) for lot in answer["lots"]]
        if ordered:  # from file 13 on, worst first: the order counts
            assert got_lots == list(expect["lots"].items()), index
        else:
            assert dict(got_lots) == expect["lots"], index
    if "lots_count" in expect:
        assert answer["lots_count"] == expect["lots_count"], index
    if "elements_breakdown" in expect:
        got, want = answer["elements_breakdown"], expect["elements_breakdown"]
        assert set(got) == set(want), (index, got)
        for symbol, element in want.items():
            assert close(got[symbol]["kg"], element["kg"], KG_TOLERANCE), (index, symbol)
            for key in ("share_percent", "unknown_percent"):
                assert close(got[symbol][key], element[key], PERCENT_TOLERANCE), (index, symbol, key)


def check_rule(client: TestClient, index: int, step: dict[str, Any]) -> None:
    expect = step["expect"]
    response = client.get(f"/v1/rules/{step['get_rule']}")
    assert response.status_code == expect["status"], (index, response.text)
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
        return
    rule = response.json()
    assert rule["builtin"] == expect["builtin"], index
    assert len(rule["versions"]) == len(expect["versions"]), index
    for got, want in zip(rule["versions"], expect["versions"], strict=True):
        for key in ("version", "effective_from", "effective_to", "in_force"):
            assert got[key] == want[key], (index, key)
        patterns = {tuple(sorted(p.items())) for p in got["exemptions"]}
        assert patterns == {tuple(sorted(p.items())) for p in want["exemptions"]}, index


def check_compliance(client: TestClient, index: int, step: dict[str, Any]) -> None:
    expect = step["expect"]
    response = client.get(subject_url(client, step["compliance"], "compliance"), params=step["query"])
    assert response.status_code == expect["status"], (index, expect.get("why"), response.text)
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/problem+json"
        return
    answer = response.json()
    assert answer["on"] == expect["on"], index
    codes = {lot[0]: lot[1] for lot in snapshot(client)}
    assert [r["rule"] for r in answer["results"]] == [r["rule"] for r in expect["results"]], (index, answer)
    for got, want in zip(answer["results"], expect["results"], strict=True):
        assert set(want) <= RESULT_KEYS, (index, "the replay does not check", sorted(set(want) - RESULT_KEYS))
        where = (index, want["rule"])
        for key in ("version", "in_force", "basis", "answer", "lots_count"):
            assert got[key] == want[key], (*where, key, got)
        for key in ("share_percent", "unknown_percent"):
            assert close_or_null(got[key], want[key], PERCENT_TOLERANCE), (*where, key, got)
        assert [(lot["code"], lot["answer"]) for lot in got["lots"]] == list(want["lots"].items()), (*where, got)
        reasons = {
            (r["code"], r["element"], codes.get(r["lot"]) if r["code"] in ("missing_value", "missing_price") else None)
            for r in got["reasons"]
        }
        expected = {
            (r["code"], r["element"], r["lot"] if r["code"] in ("missing_value", "missing_price") else None)
            for r in want["reasons"]
        }
        assert reasons == expected, (*where, got["reasons"])


def test_every_vector_file_is_replayed_or_pending() -> None:
    files = {path.name for path in VECTOR_DIR.iterdir()}
    assert "README.md" in files, f"{VECTOR_DIR} is not the contract's vectors folder"
    others = sorted(name for name in files if name != "README.md" and not name.endswith(".json"))
    assert not others, f"files in {VECTOR_DIR} that are neither a vector nor its README: {others}"
    vectors = {name.removesuffix(".json") for name in files if name.endswith(".json")}
    stale = set(PENDING) - vectors
    assert not stale, f"pending vectors that the contract no longer has: {sorted(stale)}"
    assert {path.stem for path in VECTORS} == vectors - set(PENDING)
    assert len(VECTORS) + len(PENDING) >= 16, "01 to 12 are replayed since contract 1.0, 13 to 16 since 1.1"
