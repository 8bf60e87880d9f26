"""The `lodestone` command as a user runs it: real processes on a real SQLite file."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.serving import serving

LODESTONE = str(Path(sys.executable).parent / "lodestone")


def run(env: dict[str, str], *args: str) -> str:
    result = subprocess.run([LODESTONE, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LODESTONE_")}
    return environment | {"LODESTONE_DATABASE_URL": f"sqlite:///{tmp_path}/data/lodestone.db"}


def test_demo_answers_yes_no_and_unknown(env: dict[str, str], tmp_path: Path) -> None:
    assert "loaded" in run(env, "demo")
    assert "not loaded" in run(env, "demo")
    settings = Settings(database_url=env["LODESTONE_DATABASE_URL"], admin_key="k")
    with TestClient(create_app(settings), headers={"X-API-Key": "k"}) as client:
        answers = {
            sku: client.get(f"/v1/skus/{sku}/origin").json()["answer"]
            for sku in ("EV-MOTOR-200", "SERVO-50", "EBIKE-HUB-1", "FAN-RC-3", "PUMP-X9")
        }
    assert answers == {
        "EV-MOTOR-200": "yes",
        "SERVO-50": "no",
        "EBIKE-HUB-1": "yes",
        "FAN-RC-3": "no",
        "PUMP-X9": "unknown",
    }


def test_key_is_generated_once_beside_the_database(env: dict[str, str], tmp_path: Path) -> None:
    key = run(env, "key").strip()
    assert key.startswith("lsk_")
    assert run(env, "key").strip() == key
    key_file = tmp_path / "data" / "admin.key"
    assert key_file.read_text().strip() == key
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert run(env | {"LODESTONE_ADMIN_KEY": "from-env"}, "key").strip() == "from-env"


def test_openapi_command_prints_the_document(env: dict[str, str]) -> None:
    document = json.loads(run(env, "openapi"))
    assert "/v1/skus/{sku}/origin" in document["paths"]


def test_serve_migrates_and_answers_with_the_generated_key(env: dict[str, str], tmp_path: Path) -> None:
    with serving(env, tmp_path / "server.log") as server:
        base = server.base_url
        key = run(env, "key").strip()
        assert httpx.get(f"{base}/v1/organizations").status_code == 401
        response = httpx.get(f"{base}/v1/organizations", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200
        assert response.json() == {"items": [], "next_cursor": None}


def test_keys_create_prints_a_working_key_once(env: dict[str, str]) -> None:
    run(env, "demo")
    output = run(env, "keys", "create", "--organization", "ACME", "--role", "viewer", "--name", "portal")
    secret = output.splitlines()[-1]
    assert secret.startswith("lsk_")
    settings = Settings(database_url=env["LODESTONE_DATABASE_URL"], admin_key="k")
    with TestClient(create_app(settings)) as client:
        viewer = {"Authorization": f"Bearer {secret}"}
        assert client.get("/v1/skus/EV-MOTOR-200/origin", headers=viewer).json()["answer"] == "yes"
        assert client.get("/v1/lots", headers=viewer).status_code == 403
        [entry] = client.get("/v1/audit", params={"action": "key.created"}, headers={"X-API-Key": "k"}).json()["items"]
        assert entry["request_id"] == "cli"
    failed = subprocess.run(
        [LODESTONE, "keys", "create", "--organization", "NOPE", "--role", "viewer"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert failed.returncode == 2
    assert "NOPE" in failed.stderr
