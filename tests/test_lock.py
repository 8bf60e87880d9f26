"""The lock files agree with pyproject.toml, and this environment with the dev lock.

``make lock`` writes requirements/runtime.lock (what the image and ``make run`` install) and
requirements/dev.lock (that plus the test tools, resolved within the runtime lock) for CPython 3.11 on
Linux x86_64. A failure here after editing pyproject.toml means: run ``make lock``.
"""

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
DEV_LOCK = ROOT / "requirements" / "dev.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def normalized(name: str) -> str:
    """A distribution name as indexes compare them (PEP 503): ``SQLAlchemy`` is ``sqlalchemy``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: list[str]) -> dict[str, str]:
    """pyproject.toml's requirements, each of which must be an exact pin."""
    result: dict[str, str] = {}
    for requirement in requirements:
        match = PIN.fullmatch(requirement)
        assert match, f"{requirement!r} is not pinned with =="
        result[normalized(match.group(1))] = match.group(2)
    return result


def read_lock(text: str, name: str) -> dict[str, str]:
    """A lock's pins; each must carry a hash, or ``pip install --require-hashes`` refuses the whole lock."""
    result: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", text):
        if block.startswith("#") or not block.strip():
            continue
        match = PIN.match(block)
        assert match, f"{name}: cannot read {block.splitlines()[0]!r}"
        assert "--hash=sha256:" in block, f"{name}: {match.group(1)} has no hash"
        result[normalized(match.group(1))] = match.group(2)
    return result


def locked(lock: Path) -> dict[str, str]:
    return read_lock(lock.read_text(), lock.name)


RUNTIME = pins(PYPROJECT["project"]["dependencies"])
DEV = pins(PYPROJECT["project"]["optional-dependencies"]["dev"])
BUILD = pins(PYPROJECT["build-system"]["requires"])


@pytest.mark.parametrize(
    ("lock", "direct"),
    [(RUNTIME_LOCK, RUNTIME | BUILD), (DEV_LOCK, RUNTIME | DEV | BUILD)],
    ids=["runtime", "dev"],
)
def test_every_direct_dependency_is_locked_at_its_pin(lock: Path, direct: dict[str, str]) -> None:
    in_lock = locked(lock)
    assert {name: in_lock.get(name) for name in direct} == direct


def test_runtime_lock_holds_no_test_tool() -> None:
    assert set(DEV) & set(locked(RUNTIME_LOCK)) == set()


def test_tests_run_on_exactly_what_ships() -> None:
    runtime, dev = locked(RUNTIME_LOCK), locked(DEV_LOCK)
    assert {name: dev.get(name) for name in runtime} == runtime


def test_this_environment_is_the_dev_lock() -> None:
    # Catches a venv left behind by a lock it was not installed from (make reinstalls when a lock changes).
    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    expected = locked(DEV_LOCK)
    assert {name: installed(name) for name in expected} == expected


def test_readers_refuse_what_they_cannot_vouch_for() -> None:
    uv_output = (
        "# header\n"
        "psycopg-binary==3.3.9 \\\n    --hash=sha256:00\n    # via psycopg\n"
        "SQLAlchemy==2.1.9 \\\n    --hash=sha256:01\n"
    )
    assert read_lock(uv_output, "sample") == {"psycopg-binary": "3.3.9", "sqlalchemy": "2.1.9"}
    with pytest.raises(AssertionError, match="uv has no hash"):
        read_lock("uv==0.13.9\n", "sample")
    assert pins(["psycopg[binary]==3.3.9", "SQLAlchemy==2.1.9"]) == {"psycopg": "3.3.9", "sqlalchemy": "2.1.9"}
    with pytest.raises(AssertionError, match="not pinned"):
        pins(["fastapi>=0.100"])
