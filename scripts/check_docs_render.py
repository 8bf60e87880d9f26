#!/usr/bin/env python3
"""Render /docs (Swagger UI) and /redoc in headless Chromium against a real Lodestone server, offline.

The script migrates a throwaway SQLite database, starts ``lodestone serve`` on a free port of
127.0.0.1 and loads both documentation pages in headless Chromium whose network is cut to
everything but 127.0.0.1: a page that needs a CDN (jsdelivr, unpkg, Google Fonts) cannot render.
It then checks the rendered DOM: Swagger UI shows every operation of the live ``/openapi.json``
(``opblock`` elements, their paths, the **Authorize** button) and ReDoc shows the API title and
every operation's name. The server it started is stopped in every case.

Exit status: 0 when both pages render, 1 when a check fails, 2 when Chromium is not installed.

    .venv/bin/python scripts/check_docs_render.py [--screenshot docs.png] [--chromium PATH]
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import FrameType
from typing import Any

from service.serving import ServerNotReady, serving, stop_process_group

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_NO_CHROMIUM = 2

ADMIN_KEY = "docs-render-check-key"
HOST = "127.0.0.1"
KEY_PATH = "/v1/skus/{sku}/origin"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Headless, no sandbox (we are root in a container), and no network but 127.0.0.1: every host name
# fails to resolve and every non-loopback request goes to a proxy on the discard port that nobody serves.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {HOST}",
    f"--proxy-server={HOST}:9",
    f"--proxy-bypass-list={HOST}",
)
VIRTUAL_TIME_BUDGET_MS = 10_000

# urllib honours http_proxy from the environment; the server is on loopback, so never use a proxy.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class CheckFailed(Exception):
    """A check failed; the message says which and why."""


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------- server


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def server_env(database: Path) -> dict[str, str]:
    """The environment of the processes we start: ours minus any LODESTONE_* settings, plus our own."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LODESTONE_")}
    env["LODESTONE_DATABASE_URL"] = f"sqlite:///{database}"
    env["LODESTONE_ADMIN_KEY"] = ADMIN_KEY
    env["LODESTONE_KEY_FILE"] = str(database.parent / "admin.key")
    env["HOST"] = HOST
    env["PYTHONUNBUFFERED"] = "1"
    return env


def migrate(lodestone: Path, env: dict[str, str], workdir: Path) -> None:
    try:
        result = subprocess.run(
            [str(lodestone), "migrate"], env=env, cwd=workdir, capture_output=True, text=True, timeout=180, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed("`lodestone migrate` did not finish within 180 s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-3000:]
        raise CheckFailed(f"`lodestone migrate` exited {result.returncode}:\n{output}")
    log(f"ok: migrated a temporary SQLite database ({env['LODESTONE_DATABASE_URL']})")


@contextlib.contextmanager
def running_server(lodestone: Path, workdir: Path, startup_timeout: float) -> Iterator[str]:
    """Migrate a fresh database and serve it on a free loopback port; yields the base URL."""
    env = server_env(workdir / "db.sqlite")
    migrate(lodestone, env, workdir)
    try:
        with serving(
            env, workdir / "server.log", options=["--host", HOST], cwd=workdir, timeout=startup_timeout
        ) as server:
            log(f"ok: server (pid {server.process.pid}) answers {server.base_url}/readyz")
            yield server.base_url
    except ServerNotReady as exc:
        raise CheckFailed(str(exc)) from exc
    finally:
        log("server stopped")


# ------------------------------------------------------------------------------------------- chromium


def find_chromium(explicit: str | None) -> str | None:
    if explicit:
        path = Path(explicit)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else shutil.which(explicit)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    default = Path(DEFAULT_CHROMIUM)
    return str(default) if default.is_file() and os.access(default, os.X_OK) else None


@dataclass
class Browser:
    executable: str
    profiles: Path
    timeout: float
    window_size: str
    runs: int = field(default=0)

    def run(self, url: str, *extra: str) -> str:
        """Load ``url`` with a fresh profile and the network cut; Chromium's stdout."""
        self.runs += 1
        profile = self.profiles / f"profile-{self.runs}"
        profile.mkdir(parents=True)
        command = [
            self.executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={self.window_size}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
            *extra,
            url,
        ]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            stop_process_group(process, grace=2.0)
            process.communicate()
            raise CheckFailed(f"Chromium did not finish loading {url} within {self.timeout:.0f} s") from exc
        finally:
            stop_process_group(process, grace=2.0)
        if process.returncode != 0:
            raise CheckFailed(
                f"Chromium exited {process.returncode} on {url}; its stderr ends with:\n{stderr.strip()[-2000:]}"
            )
        return stdout

    def dump_dom(self, url: str) -> str:
        dom = self.run(url, "--dump-dom")
        if not dom.strip():
            raise CheckFailed(f"Chromium dumped an empty DOM for {url}")
        return dom

    def screenshot(self, url: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self.run(url, f"--screenshot={path}")
        if not path.is_file() or not path.read_bytes().startswith(PNG_SIGNATURE):
            raise CheckFailed(f"Chromium did not write a PNG screenshot of {url} to {path}")


# -------------------------------------------------------------------------------------------- the DOM


class RenderedDom(HTMLParser):
    """What a rendered page shows: its visible text, the classes used and Swagger UI's data-path values."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.classes: Counter[str] = Counter()
        self.data_paths: set[str] = set()
        self._text: list[str] = []
        self._hidden_depth = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript"):
            self._hidden_depth += 1
        for name, value in attrs:
            if name == "class" and value:
                self.classes.update(value.split())
            elif name == "data-path" and value:
                self.data_paths.add(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript") and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self._text.append(data)

    @property
    def text(self) -> str:
        """The text nodes joined as rendered: Swagger UI splits paths with <wbr>, which this rejoins."""
        return "".join(self._text).replace("\u200b", "")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    name: str


def operations(spec: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                name = operation.get("summary") or operation.get("operationId") or f"{method.upper()} {path}"
                found.append(Operation(method=method, path=path, name=str(name)))
    return found


def require(condition: bool, page: str, problem: str) -> None:
    if not condition:
        raise CheckFailed(f"{page}: {problem}")


def check_swagger(dom: RenderedDom, spec: dict[str, Any]) -> None:
    page = "/docs (Swagger UI)"
    text = dom.text
    require(
        "Failed to load API definition" not in text and "errors-wrapper" not in dom.classes,
        page,
        "Swagger UI shows an error instead of the API: " + text.strip()[:300],
    )
    require(
        dom.classes["opblock"] > 0,
        page,
        "no rendered operation (no element with class 'opblock'): Swagger UI's JavaScript did not run; "
        "are its assets local? Visible text: " + (text.strip()[:300] or "(none)"),
    )
    ops = operations(spec)
    require(
        dom.classes["opblock"] >= len(ops),
        page,
        f"{dom.classes['opblock']} operations rendered, the API has {len(ops)}",
    )
    missing = sorted({op.path for op in ops} - dom.data_paths)
    require(not missing, page, f"paths not rendered: {', '.join(missing)}")
    require(KEY_PATH in dom.data_paths and KEY_PATH in text, page, f"the path {KEY_PATH} is not rendered")
    require("authorize" in dom.classes and "Authorize" in text, page, "no Authorize button")
    title = str(spec["info"]["title"])
    require(title in text, page, f"the API title {title!r} is not rendered")
    log(f"ok: {page} renders {dom.classes['opblock']} operations, {KEY_PATH} and the Authorize button")


def check_redoc(dom: RenderedDom, spec: dict[str, Any]) -> None:
    page = "/redoc (ReDoc)"
    text = dom.text
    require("Something went wrong" not in text, page, "ReDoc shows an error: " + text.strip()[:300])
    title = str(spec["info"]["title"])
    require(
        title in text and "api-content" in dom.classes,
        page,
        f"the API ({title!r}) is not rendered: ReDoc's JavaScript did not run; are its assets local? "
        "Visible text: " + (text.strip()[:300] or "(none)"),
    )
    ops = operations(spec)
    missing = sorted({op.name for op in ops if op.name not in text})
    require(not missing, page, f"operations not rendered: {', '.join(missing)}")
    require(KEY_PATH in text, page, f"the path {KEY_PATH} is not rendered")
    log(f"ok: {page} renders the title {title!r} and all {len(ops)} operation names")


# ----------------------------------------------------------------------------------------------- main


def fetch_spec(base_url: str) -> dict[str, Any]:
    status, body = http_get(f"{base_url}/openapi.json", timeout=30.0)
    if status != 200:
        raise CheckFailed(f"/openapi.json answered HTTP {status}")
    spec: dict[str, Any] = json.loads(body)
    return spec


def check(args: argparse.Namespace, chromium: str, lodestone: Path, workdir: Path) -> None:
    browser = Browser(chromium, workdir / "chromium", args.timeout, args.window_size)
    with running_server(lodestone, workdir, args.startup_timeout) as base_url:
        spec = fetch_spec(base_url)
        check_swagger(RenderedDom(browser.dump_dom(f"{base_url}/docs")), spec)
        check_redoc(RenderedDom(browser.dump_dom(f"{base_url}/redoc")), spec)
        if args.screenshot is not None:
            path = args.screenshot.resolve()
            browser.screenshot(f"{base_url}/docs", path)
            log(f"ok: screenshot of /docs saved to {path}")


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the server


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help="also save a screenshot of /docs here")
    parser.add_argument(
        "--chromium", metavar="PATH", help=f"the Chromium executable (default: on PATH or {DEFAULT_CHROMIUM})"
    )
    parser.add_argument("--window-size", default="1280,2200", help="browser window, WIDTH,HEIGHT (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds Chromium may take per page")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="seconds the server may take to start")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        wanted = args.chromium or f"{DEFAULT_CHROMIUM} (or {', '.join(CHROMIUM_NAMES)} on PATH)"
        print(
            f"chromium is not installed: no executable {wanted}. Install it (apt-get install -y chromium) "
            "or pass --chromium PATH.",
            file=sys.stderr,
        )
        return EXIT_NO_CHROMIUM
    lodestone = Path(sys.executable).parent / "lodestone"
    if not lodestone.is_file():
        print(f"docs check FAILED: no `lodestone` command beside {sys.executable}; run `make install`", file=sys.stderr)
        return EXIT_FAILED
    signal.signal(signal.SIGTERM, _terminate)
    log(f"using {chromium}, network cut to everything but {HOST}")
    with tempfile.TemporaryDirectory(prefix="lodestone-docs-", ignore_cleanup_errors=True) as tmp:
        try:
            check(args, chromium, lodestone, Path(tmp))
        except CheckFailed as exc:
            print(f"docs check FAILED: {exc}", file=sys.stderr)
            return EXIT_FAILED
    log("docs check passed: /docs and /redoc render offline")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
