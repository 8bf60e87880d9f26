"""The API documentation: offline /docs and /redoc, the committed OpenAPI document, and its quality."""

import difflib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_OPENAPI = ROOT / "openapi" / "openapi.json"
RENDER_SCRIPT = ROOT / "scripts" / "check_docs_render.py"
CHROMIUM = Path("/usr/bin/chromium")
CDN_HOSTS = ("cdn.jsdelivr.net", "unpkg.com", "fonts.googleapis.com", "fonts.gstatic.com", "cdnjs.cloudflare.com")
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
ASSET_MARKERS = {
    "swagger-ui-bundle.js": "SwaggerUIBundle",
    "redoc.standalone.js": "Redoc",
    "swagger-ui.css": ".swagger-ui",
}


@pytest.fixture
def openapi(settings: Settings) -> Iterator[dict[str, Any]]:
    """The OpenAPI document of the app as built by ``create_app``, normalised through JSON."""
    app = create_app(settings)
    try:
        yield json.loads(json.dumps(app.openapi()))
    finally:
        app.state.engine.dispose()


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref``s (``#/components/...``) to the object they name."""
    seen: set[str] = set()
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"non-local $ref {ref}"
        assert ref not in seen, f"$ref cycle at {ref}"
        seen.add(ref)
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


class PageRefs(HTMLParser):
    """The URLs a page loads: ``src``, ``href`` and ReDoc's ``spec-url`` attributes."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value:
                self.urls.append(value)


# ------------------------------------------------------------------------------ (a) offline docs pages


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_page_loads_only_local_assets(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text

    for host in CDN_HOSTS:
        assert host not in html, f"{page} references the CDN {host}: the docs must work offline"
    absolute = re.findall(r"""(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s"'<>)]*""", html)
    assert not absolute, f"{page} references remote URLs: {absolute}"

    urls = PageRefs(html).urls
    # Swagger UI's spec URL is in its inline script, ReDoc's in the spec-url attribute.
    urls += re.findall(r"""\burl:\s*['"]([^'"]+)['"]""", html)
    assert any(url.endswith(".js") for url in urls), f"{page} loads no script: {urls}"
    assert "/openapi.json" in urls, f"{page} does not load /openapi.json: {urls}"

    for url in urls:
        assert url.startswith("/"), f"{page} loads {url}, which is not a local path"
        assert not url.startswith("//"), f"{page} loads {url}, a protocol-relative remote URL"
        asset = client.get(url)
        assert asset.status_code == 200, f"{page} loads {url}, which answers {asset.status_code}"
        assert asset.content, f"{page} loads {url}, which is empty"
        name = url.rsplit("/", 1)[-1]
        if name in ASSET_MARKERS:
            assert ASSET_MARKERS[name] in asset.text, f"{url} is not the real {name} (a Git LFS pointer or a stub?)"
        if name.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], f"{url}: {asset.headers['content-type']}"
        if name.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css"), f"{url}: {asset.headers['content-type']}"


# ------------------------------------------------------------------------------- (b) committed document


def test_committed_openapi_matches_the_app(openapi: dict[str, Any]) -> None:
    assert COMMITTED_OPENAPI.is_file(), f"{COMMITTED_OPENAPI} is missing: run `make openapi` and commit it"
    committed = json.loads(COMMITTED_OPENAPI.read_text())
    if committed != openapi:
        diff = difflib.unified_diff(
            json.dumps(committed, indent=2, sort_keys=True).splitlines(),
            json.dumps(openapi, indent=2, sort_keys=True).splitlines(),
            "openapi/openapi.json (committed)",
            "create_app().openapi()",
            lineterm="",
        )
        shown = "\n".join(list(diff)[:60])
        pytest.fail(
            f"openapi/openapi.json is out of date with the app: run `make openapi` and commit the result.\n{shown}"
        )


# -------------------------------------------------------------------------------- (c) document quality


def test_every_operation_is_described(openapi: dict[str, Any]) -> None:
    undescribed = [
        f"{method.upper()} {path}"
        for method, path, operation in operations(openapi)
        if not (str(operation.get("description") or "").strip() or str(operation.get("summary") or "").strip())
    ]
    assert not undescribed, f"operations without a description or summary: {undescribed}"


def _has_example(doc: dict[str, Any], media: dict[str, Any]) -> bool:
    if media.get("example") is not None or media.get("examples"):
        return True
    schema = resolve(doc, media.get("schema", {}))
    return schema.get("example") is not None or bool(schema.get("examples"))


def test_every_post_body_has_an_example(openapi: dict[str, Any]) -> None:
    bodies = 0
    without = []
    for method, path, operation in operations(openapi):
        if method != "post" or "requestBody" not in operation:
            continue
        body = resolve(openapi, operation["requestBody"])
        for media_type, media in body.get("content", {}).items():
            bodies += 1
            if not _has_example(openapi, media):
                without.append(f"POST {path} ({media_type})")
    assert bodies, "no POST operation with a request body: is the document complete?"
    assert not without, f"request bodies without an example (in the body or its schema): {without}"


# ------------------------------------------------------------------------------------- (d) security


def security_schemes(doc: dict[str, Any]) -> tuple[set[str], set[str]]:
    """The names of the HTTP bearer schemes and of the X-API-Key header schemes in components."""
    schemes = doc.get("components", {}).get("securitySchemes", {})
    bearer = {
        name for name, s in schemes.items() if s.get("type") == "http" and s.get("scheme", "").lower() == "bearer"
    }
    api_key = {
        name
        for name, s in schemes.items()
        if s.get("type") == "apiKey" and s.get("in") == "header" and s.get("name", "").lower() == "x-api-key"
    }
    return bearer, api_key


def test_security_schemes_are_declared(openapi: dict[str, Any]) -> None:
    bearer, api_key = security_schemes(openapi)
    schemes = openapi.get("components", {}).get("securitySchemes", {})
    assert bearer, f"no HTTP bearer security scheme in components.securitySchemes: {schemes}"
    assert api_key, f"no X-API-Key header security scheme in components.securitySchemes: {schemes}"


def test_every_v1_operation_lists_security(openapi: dict[str, Any]) -> None:
    schemes = openapi.get("components", {}).get("securitySchemes", {})
    bearer, api_key = security_schemes(openapi)
    default = openapi.get("security")
    v1 = [(method, path, op) for method, path, op in operations(openapi) if path.startswith("/v1/")]
    assert v1, "no /v1 operation in the document"
    problems = []
    for method, path, operation in v1:
        where = f"{method.upper()} {path}"
        requirements = operation.get("security", default)
        if not requirements:
            problems.append(f"{where}: no security requirement")
            continue
        named = {name for requirement in requirements for name in requirement}
        if unknown := named - schemes.keys():
            problems.append(f"{where}: unknown security schemes {sorted(unknown)}")
        if {} in requirements:
            problems.append(f"{where}: security allows anonymous access ({requirements})")
        if not (named & bearer and named & api_key):
            problems.append(f"{where}: lists {sorted(named)}, not both the bearer and the X-API-Key scheme")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------- (e) the browser


@pytest.mark.browser
def test_docs_render_in_headless_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip(
            f"{CHROMIUM} is not installed (apt-get install -y chromium); in CI (CI set) this test fails instead"
        )
    result = subprocess.run(
        [sys.executable, str(RENDER_SCRIPT), "--screenshot", str(tmp_path / "docs.png")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, (
        f"{RENDER_SCRIPT.name} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    assert (tmp_path / "docs.png").read_bytes().startswith(b"\x89PNG"), "no screenshot written"


# ------------------------------------------------------------------------- (f) the contract's pages, offline

CONTRACT_PAGES = {  # page: how many tables its Markdown has
    "/contract/": 0,
    "/contract/API.md": 1,
    "/contract/ORIGIN.md": 1,
    "/contract/RULES.md": 0,
    "/contract/vectors/README.md": 0,
}


def _render_script() -> Any:
    """scripts/check_docs_render.py as a module, for its Chromium with the network cut and its DOM reader."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_docs_render", RENDER_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.browser
def test_contract_pages_render_offline_in_headless_chromium(tmp_path: Path) -> None:
    from service.contract import NOT_IMPLEMENTED
    from tests.servers import running_server

    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip(
            f"{CHROMIUM} is not installed (apt-get install -y chromium); in CI (CI set) this test fails instead"
        )
    render = _render_script()
    browser = render.Browser(str(CHROMIUM), tmp_path / "chromium", 120.0, "1280,2200")
    with running_server(f"sqlite:///{tmp_path / 'lodestone.db'}", tmp_path, workers=1) as server:
        for page, tables in CONTRACT_PAGES.items():
            dom = browser.dump_dom(f"{server.base_url}{page}")
            text = render.RenderedDom(dom).text
            assert "Lodestone contract" in dom, f"{page} did not render: {text[:300]}"
            assert dom.count("<table>") == tables, f"{page} renders {dom.count('<table>')} tables, not {tables}"
            if NOT_IMPLEMENTED:
                assert "Not implemented yet in this version of the service" in text, page
        # An auditor in Swagger UI clicks through from the API's description to the contract.
        swagger = browser.dump_dom(f"{server.base_url}/docs")
        links = set(re.findall(r'href="(/contract/[^"]*)"', swagger))
        assert {"/contract/", "/contract/ORIGIN.md"} <= links, f"Swagger UI links {sorted(links)}"
        assert links <= set(CONTRACT_PAGES), f"Swagger UI links pages that are not checked here: {sorted(links)}"
