"""A fresh clone is all a user has: its tests need nothing outside it, and nothing tracked points outside it.

The one exception is the third-party EPCIS conformance data beside the repository (``../shared/epcis/``),
read only by tests that skip where it is absent.
"""

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GIT = shutil.which("git")
# Run in the clone: the contract's replay and its pages. Never this file, so a clone never clones again.
CLONE_SUITE = ("tests/test_vectors.py", "tests/test_contract.py")
IN_A_CLONE = "LODESTONE_TEST_IN_FRESH_CLONE"
# A path to the folder beside the repository, written as a relative path, as a pathlib join, as an os.path.join
# of its parts, or the contract's old home in it (its spec folder). Only the EPCIS data may be named.
OUTSIDE = re.compile(
    r"""\.\./shared(?!/epcis)"""
    r"""|/\s*["']shared["'](?!\s*/\s*["']epcis["'])"""
    r"""|["']\.\.["']\s*,\s*["']shared["'](?!\s*,\s*["']epcis["'])"""
    r"""|\bshared/+spec\b"""
)


def git(*args: str, cwd: Path = ROOT) -> str:
    assert GIT is not None
    result = subprocess.run([GIT, *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"git {' '.join(args)} exited {result.returncode}: {result.stderr}"
    return result.stdout


def require_checkout() -> None:
    if GIT is None:
        pytest.skip("git is not installed")
    result = subprocess.run(
        [GIT, "rev-parse", "--show-toplevel"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0 or Path(result.stdout.strip()).resolve() != ROOT:
        pytest.skip(f"{ROOT} is not a git checkout (an unpacked archive?): there is no committed tree to clone")


def test_nothing_tracked_points_outside_the_repository() -> None:
    require_checkout()
    found = []
    for name in git("ls-files", "-z").split("\0"):
        path = ROOT / name
        if not name or not path.is_file():
            continue  # deleted in the work tree, not yet committed
        for number, line in enumerate(path.read_bytes().decode(errors="replace").splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "tracked files point at the folder beside the repository:\n" + "\n".join(found)


def test_a_fresh_clone_passes_the_contract_tests(tmp_path: Path) -> None:
    require_checkout()
    if os.environ.get(IN_A_CLONE):
        pytest.skip("this run is already in a fresh clone")
    head = git("rev-parse", "HEAD").strip()
    clone = tmp_path / "lodestone"
    git("clone", "--quiet", "--no-checkout", str(ROOT), str(clone), cwd=tmp_path)
    git("checkout", "--quiet", "--detach", head, cwd=clone)
    assert [path.name for path in tmp_path.iterdir()] == [clone.name], "nothing is beside the clone"

    report = tmp_path / "report.xml"
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"} | {IN_A_CLONE: "1"}
    # This virtualenv's Python, started in the clone: the clone's `service` comes first on sys.path.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *CLONE_SUITE],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"the clone's tests exited {result.returncode}:\n{output}"

    junit = ET.parse(report).getroot()
    cases = list(junit.iter("testcase"))
    assert cases, f"the clone ran no test:\n{output}"
    assert not [case for case in cases if case.find("failure") is not None or case.find("error") is not None]
    vectors = [case for case in cases if case.get("classname") == "tests.test_vectors"]
    skipped = [case.get("name") for case in vectors if case.find("skipped") is not None]
    assert not skipped, f"vectors skipped in the clone: {skipped}"
    replays = [case for case in vectors if str(case.get("name")).startswith("test_vector[")]
    assert len(replays) >= 12, f"only {len(replays)} vector replays ran in the clone"

    imported = {prop.get("value") for prop in junit.iter("property") if prop.get("name") == "service_file"}
    expected = (clone / "service" / "__init__.py").resolve()
    assert {Path(str(value)).resolve() for value in imported} == {expected}, f"the clone's tests imported {imported}"
