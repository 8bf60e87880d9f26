"""A client generated from the committed openapi/openapi.json, as a new user would, asks a real server.

The generator is the pinned ``openapi-python-client``; it reads the local file (no network). Its functions
are named by operationId and parse problem bodies (``application/problem+json``) into ``Problem``.
"""

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.config import Settings
from service.db import create_db_engine
from service.demo import load_demo
from tests.conftest import ADMIN_KEY
from tests.servers import running_server

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_OPENAPI = ROOT / "openapi" / "openapi.json"
GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "lodestone_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The generated package's parent directory, on ``sys.path`` while this module's tests run."""
    out = tmp_path_factory.mktemp("generated-client")
    config = out / "config.yaml"
    # No post hooks: formatting the generated code (ruff) is the user's business, not the test's.
    config.write_text("post_hooks: []\n")
    generation = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(COMMITTED_OPENAPI),
            "--meta",
            "none",
            "--output-path",
            str(out / PACKAGE),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generation.returncode == 0, generation.stdout + generation.stderr
    # The generator lists every part of the document it could not turn into code.
    assert "Warning" not in generation.stdout + generation.stderr, generation.stdout + generation.stderr
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def generated_module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_functions_are_named_by_operation_id(generated: Path) -> None:
    functions = {path.stem for path in (generated / PACKAGE / "api").glob("*/*.py")} - {"__init__"}
    assert {"assess_sku", "assess_lot", "list_lots", "record_event", "create_sku"} <= functions
    assert not [f for f in functions if "_v1_" in f or f.endswith(("_get", "_post", "_delete"))], functions


def test_the_sku_question_answers_typed_and_refusals_are_typed_problems(
    generated: Path, database_url: str, tmp_path: Path
) -> None:
    assess_sku = generated_module("api.answers.assess_sku")
    sku_compliance = generated_module("api.answers.sku_compliance")
    models = generated_module("models")
    client_module = generated_module("client")
    with running_server(database_url, tmp_path, workers=1) as server:
        engine = create_db_engine(Settings(database_url=database_url))
        assert load_demo(engine)
        engine.dispose()
        with client_module.AuthenticatedClient(base_url=server.base_url, token=ADMIN_KEY, timeout=60) as client:
            answered = assess_sku.sync_detailed("EV-MOTOR-200", client=client)
            assert answered.status_code == 200
            assert isinstance(answered.parsed, models.AssessmentRead)
            assert answered.parsed.answer == models.AssessmentReadAnswer.YES
            assert answered.parsed.share_percent == "2.436961"

            rules = sku_compliance.sync_detailed("EV-MOTOR-200", client=client, on="2027-01-01", rules="dfars-7052")
            assert rules.status_code == 200
            assert isinstance(rules.parsed, models.ComplianceRead)
            assert [(r.rule, r.version, r.answer.value) for r in rules.parsed.results] == [
                ("dfars-7052", "2027", "yes")
            ]

            missing = assess_sku.sync_detailed("NO-SUCH-SKU", client=client)
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            assert isinstance(missing.parsed, models.Problem)
            assert missing.parsed.status == 404
            assert missing.parsed.request_id == missing.headers["x-request-id"]

            refused = assess_sku.sync_detailed("EV-MOTOR-200", client=client, threshold_percent="101")
            assert refused.status_code == 422
            assert refused.headers["content-type"] == "application/problem+json"
            assert isinstance(refused.parsed, models.Problem)
            assert refused.parsed.status == 422
            assert isinstance(refused.parsed.errors, list)
            assert [type(e) for e in refused.parsed.errors] == [models.ProblemFieldError]
            assert refused.parsed.errors[0].field == "threshold_percent"
