"""The container files, checked where no container engine runs.

hadolint lints the Dockerfile; the final stage's CMD line is run for real against a SQLite file, its
HEALTHCHECK probed against it; compose.yaml is read to check how its services wait for each other.
"""

import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import TypeAlias
from urllib.parse import urlsplit

import httpx
import pytest

from service import migrations
from service.contract import CONTRACT_DIR
from service.serving import free_port, serving

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
BIN = Path(sys.executable).parent
HADOLINT = BIN / "hadolint"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def read_dockerfile() -> list[Instruction]:
    """Instructions in order, continuation lines joined and comments dropped, as Docker reads them."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def stages() -> list[list[Instruction]]:
    """The build stages, each starting at its FROM."""
    result: list[list[Instruction]] = []
    for instruction in read_dockerfile():
        if instruction.keyword == "FROM":
            result.append([])
        assert result, f"{instruction.keyword} before the first FROM"
        result[-1].append(instruction)
    return result


def only(stage: list[Instruction], keyword: str) -> str:
    found = [instruction.arguments for instruction in stage if instruction.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the stage, found {found}"
    return found[0]


def image_env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            for pair in instruction.arguments.split():
                name, equals, value = pair.partition("=")
                assert equals, f"ENV {instruction.arguments!r}: write ENV NAME=value"
                env[name] = value
    return env


def healthcheck_command(stage: list[Instruction]) -> list[str]:
    """The HEALTHCHECK's command, which must be in exec (JSON) form: slim images have no curl."""
    _options, _, command = only(stage, "HEALTHCHECK").partition("CMD ")
    parsed = json.loads(command)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def copy_sources(instruction: Instruction) -> list[str]:
    *sources, _destination = [word for word in instruction.arguments.split() if not word.startswith("--")]
    return sources


def test_hadolint_finds_nothing() -> None:
    if not HADOLINT.is_file():
        message = f"hadolint is not installed at {HADOLINT}: pip install -e '.[dev]'"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cmd_line_serves_the_api_and_the_healthcheck_sees_it(tmp_path: Path) -> None:
    final = stages()[-1]
    command = json.loads(only(final, "CMD"))
    assert command[:2] == ["lodestone", "serve"]
    # The image's WORKDIR holds what the project root holds (alembic.ini, alembic/, service/).
    assert only(final, "WORKDIR") == "/app"
    # PATH is the image's: its venv comes first, as this test's venv does for `lodestone` below.
    declared = image_env(final)
    assert declared.pop("PATH").startswith("/opt/venv/bin:")
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("LODESTONE_")}
    env |= declared | {
        "LODESTONE_DATABASE_URL": f"sqlite:///{tmp_path}/lodestone.db",
        "LODESTONE_ADMIN_KEY": "container-test-key",
        "PORT": str(port),
    }
    probe = healthcheck_command(final)
    assert probe[0] == "python"
    probe[0] = sys.executable

    log = tmp_path / "server.log"
    with serving(env, log, command=[str(BIN / "lodestone"), *command[1:]], port=port, cwd=ROOT) as server:
        assert f"0.0.0.0:{port}" in log.read_text(), "the CMD's --host and the PORT variable were not both applied"
        answer = httpx.get(
            f"{server.base_url}/v1/organizations", headers={"Authorization": "Bearer container-test-key"}
        )
        assert answer.status_code == 200, answer.text
        healthy = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30, check=False)
        assert healthy.returncode == 0, healthy.stderr
    unhealthy = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert unhealthy.returncode != 0


def test_final_stage_is_slim_and_runs_as_its_own_unprivileged_user() -> None:
    builder, *_, final = stages()
    images = {stage[0].arguments.split()[0] for stage in (builder, final)}
    # One base image for both, so the venv's interpreter path exists in the final stage.
    assert images == {"python:3.11-slim"}
    user = only(final, "USER").split(":")[0]
    assert user not in ("", "root", "0")
    assert final[-1].keyword == "CMD"
    assert any(f"--uid {user} " in instruction.arguments for instruction in final if instruction.keyword == "RUN")


def test_healthcheck_probes_readiness_on_the_exposed_port() -> None:
    final = stages()[-1]
    assert "/readyz" in " ".join(healthcheck_command(final))
    assert only(final, "EXPOSE") == image_env(final)["PORT"] == "8000"


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    instructions = read_dockerfile()

    def first(keyword: str, words: set[str]) -> int:
        return next(
            i
            for i, instruction in enumerate(instructions)
            if instruction.keyword == keyword and words <= set(instruction.arguments.split())
        )

    # The whole runtime tree from the lock, every file checked against its hash, before any project file.
    install = first("RUN", {"pip", "install", "--require-hashes", "-r", "requirements/runtime.lock"})
    assert first("COPY", {"requirements/runtime.lock"}) < install < first("COPY", {"--from=builder", "/opt/venv"})
    editable = first("RUN", {"pip", "install", "--no-deps", "--editable", "."})
    assert install < first("COPY", {"pyproject.toml"}) < editable
    assert install < first("COPY", {"service"})
    # Editing the code must not rebuild the venv: the builder sees the lock, the project file and the package marker.
    builder = stages()[0]
    copied = {source for ins in builder if ins.keyword == "COPY" for source in copy_sources(ins)}
    assert copied == {"requirements/runtime.lock", "pyproject.toml", "service/__init__.py"}


def test_image_pins_psycopg_as_pyproject_does() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    pinned = {req for req in requirements if req.startswith("psycopg")}
    in_image = set(re.findall(r'"(psycopg[^"]*)"', DOCKERFILE.read_text()))
    assert len(pinned) == 1
    assert in_image <= pinned
    # Production runs on PostgreSQL: the image gets the driver, from the Dockerfile or the dependencies.
    assert in_image or any(req.startswith("psycopg") for req in project["dependencies"])


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        cleaned = pattern.removeprefix("!").strip("/")
        if any(fnmatch(candidate, cleaned) for candidate in candidates):
            ignored = not negated
    return ignored


def test_dockerignore_admits_everything_copied_and_no_local_data() -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    copied = [
        source
        for instruction in read_dockerfile()
        if instruction.keyword == "COPY" and "--from=" not in instruction.arguments
        for source in copy_sources(instruction)
    ]
    assert copied
    for source in copied:
        files = (
            [source]
            if (ROOT / source).is_file()
            else [
                str(path.relative_to(ROOT))
                for path in (ROOT / source).rglob("*")
                if path.is_file() and "__pycache__" not in path.parts
            ]
        )
        assert files, source
        for file in files:
            assert not dockerignored(file, patterns), f"{file} is copied into the image but .dockerignore drops it"
    for local in (
        "data/lodestone.db",
        "data/admin.key",
        ".venv/bin/python",
        ".git/HEAD",
        "service/__pycache__/app.pyc",
    ):
        assert dockerignored(local, patterns), local


Yaml: TypeAlias = "str | list[str] | dict[str, Yaml] | None"


def parse_yaml(text: str) -> dict[str, Yaml]:
    """The block YAML compose.yaml is written in: mappings, lists of scalars, JSON-style flow lists.

    PyYAML is not a dependency. Anything outside this subset (anchors, inline mappings, nested
    list items) raises rather than being misread; scalars stay strings.
    """
    lines = [
        (len(raw) - len(raw.lstrip(" ")), raw.strip())
        for raw in text.splitlines()
        if raw.strip() and not raw.strip().startswith("#")
    ]

    def scalar(value: str) -> Yaml:
        if value.startswith("["):
            parsed = json.loads(value)
            if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
                raise ValueError(f"unsupported flow list: {value!r}")
            return parsed
        if value.startswith('"'):
            return str(json.loads(value))
        if value[0] in "&*{|>!'" or " #" in value:
            raise ValueError(f"unsupported YAML: {value!r}")
        return value

    def block(start: int, indent: int) -> tuple[Yaml, int]:
        if lines[start][1].startswith("- "):
            items: list[str] = []
            i = start
            while i < len(lines) and lines[i][0] == indent and lines[i][1].startswith("- "):
                item = scalar(lines[i][1][2:].strip())
                if not isinstance(item, str) or re.match(r"[^\s:#][^:]*:(\s|$)", item):
                    raise ValueError(f"unsupported list item: {lines[i][1]!r}")
                items.append(item)
                i += 1
            return items, i
        mapping: dict[str, Yaml] = {}
        i = start
        while i < len(lines) and lines[i][0] == indent:
            match = re.fullmatch(r"([^\s:#][^:]*):(?:\s+(.+))?", lines[i][1])
            if match is None:
                raise ValueError(f"unsupported YAML line: {lines[i][1]!r}")
            key, value = match.group(1), match.group(2)
            assert key not in mapping, f"duplicate key {key}"
            i += 1
            if value is not None:
                mapping[key] = scalar(value)
            elif i < len(lines) and lines[i][0] > indent:
                mapping[key], i = block(i, lines[i][0])
            else:
                mapping[key] = None
        return mapping, i

    document, end = block(0, 0)
    if end != len(lines):
        raise ValueError(f"unparsed YAML from: {lines[end][1]!r}")
    assert isinstance(document, dict)
    return document


def mapping(value: Yaml) -> dict[str, Yaml]:
    assert isinstance(value, dict), value
    return value


def test_compose_runs_migrations_once_and_waits_for_a_healthy_database() -> None:
    compose = parse_yaml(COMPOSE.read_text())
    services = mapping(compose["services"])
    db, migrate, api = (mapping(services[name]) for name in ("db", "migrate", "api"))

    assert str(db["image"]).startswith("postgres:15")
    assert set(mapping(compose["volumes"])) == {"pgdata", "keys"}
    assert db["volumes"] == ["pgdata:/var/lib/postgresql/data"]
    # The generated attestation signing key lives in a volume beside the (unused) key file path.
    assert api["volumes"] == ["keys:/app/data"]
    assert mapping(api["environment"])["LODESTONE_KEY_FILE"] == "/app/data/admin.key"
    probe = mapping(db["healthcheck"])["test"]
    assert isinstance(probe, list)
    assert "pg_isready" in probe

    assert migrate["command"] == ["lodestone", "migrate"]
    assert migrate["build"] == api["build"] == "."
    assert migrate["image"] == api["image"]
    assert mapping(migrate["depends_on"]) == {"db": {"condition": "service_healthy"}}
    assert mapping(api["depends_on"]) == {
        "db": {"condition": "service_healthy"},
        "migrate": {"condition": "service_completed_successfully"},
    }

    url = "postgresql+psycopg://lodestone:lodestone@db:5432/lodestone"
    api_env = mapping(api["environment"])
    assert mapping(migrate["environment"])["LODESTONE_DATABASE_URL"] == api_env["LODESTONE_DATABASE_URL"] == url
    assert str(api_env["LODESTONE_ADMIN_KEY"]).startswith("${LODESTONE_ADMIN_KEY:?")
    parts, db_env = urlsplit(url), mapping(db["environment"])
    assert (parts.username, parts.password, parts.path.lstrip("/")) == (
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        db_env["POSTGRES_DB"],
    )
    assert api["ports"] == [f"8000:{only(stages()[-1], 'EXPOSE')}"]


def test_yaml_subset_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        parse_yaml("x-app: &app\n  build: .\n")
    with pytest.raises(ValueError, match="unsupported"):
        parse_yaml("services:\n  - name: api\n")


def test_the_image_holds_what_the_service_reads_beside_the_package() -> None:
    final = stages()[-1]
    copied = {source.rstrip("/") for ins in final if ins.keyword == "COPY" for source in copy_sources(ins)}
    beside = {"alembic", "alembic.ini", CONTRACT_DIR.relative_to(ROOT).as_posix()}
    assert beside <= copied
    assert Path(migrations.__file__).resolve().parent.parent == ROOT
