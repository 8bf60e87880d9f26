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
PENDING = {
    "13-rules-mass": "issue 10: rules",
    "14-rules-value": "issue 10: rules",
    "15-rules-dates": "issue 10: rules",
    "16-elements": "issue 10: rules",
}
VECTORS = sorted(path for path in VECTOR_DIR.glob("*.json") if path.stem not in PENDING)
# What the replay below checks. A vector asking for more fails, rather than being checked in part.
STEP_KINDS = frozenset({"event", "void_step", "assess"})
EXPECT_KEYS = frozenset({"status", "why", "outputs", "answer", "share_percent", "unknown_percent", "total_kg", "lots"})
ORIGIN_KEYS = frozenset({"total_kg", "element_resolved", "routes", "stages"})
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


def check_origin(code: str, actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert set(expected) <= ORIGIN_KEYS, (code, "the replay does not check", sorted(set(expected) - ORIGIN_KEYS))
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
                check_origin(code, outputs[code]["origin"], origin)
        elif "void_step" in step:
            response = client.post(f"/v1/events/{event_ids[step['void_step']]}/void")
            assert response.status_code == expect["status"], (index, response.text)
        else:
            subject = step["assess"]
            if "sku" in subject:
                url = f"/v1/skus/{subject['sku']}/origin"
            else:
                url = f"/v1/lots/{lot_id(client, subject['lot_code'], subject['organization'])}/origin"
            response = client.get(url, params=step["query"])
            assert response.status_code == 200, (index, response.text)
            answer = response.json()
            assert answer["answer"] == expect["answer"], (index, answer)
            assert close(answer["share_percent"], expect["share_percent"], PERCENT_TOLERANCE), (index, answer)
            assert close(answer["unknown_percent"], expect["unknown_percent"], PERCENT_TOLERANCE), (index, answer)
            assert close(answer["total_kg"], expect["total_kg"], KG_TOLERANCE), (index, answer)
            if "lots" in expect:
                assert {lot["code"]: lot["answer"] for lot in answer["lots"]} == expect["lots"], (index, answer)


def test_every_vector_file_is_replayed_or_pending() -> None:
    files = {path.name for path in VECTOR_DIR.iterdir()}
    assert "README.md" in files, f"{VECTOR_DIR} is not the contract's vectors folder"
    others = sorted(name for name in files if name != "README.md" and not name.endswith(".json"))
    assert not others, f"files in {VECTOR_DIR} that are neither a vector nor its README: {others}"
    vectors = {name.removesuffix(".json") for name in files if name.endswith(".json")}
    stale = set(PENDING) - vectors
    assert not stale, f"pending vectors that the contract no longer has: {sorted(stale)}"
    assert {path.stem for path in VECTORS} == vectors - set(PENDING)
    assert len(VECTORS) >= 12, "01 to 12 are replayed since contract 1.0"
