"""The contract shipped in docs/contract: an untouched copy, served as pages at /contract/ without an API key."""

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

import service
from service.app import create_app
from service.config import Settings
from service.contract import CONTRACT_DIR, CONTRACT_VERSION, DOCUMENTS, NOT_IMPLEMENTED

ROOT = Path(__file__).resolve().parent.parent
NOTE = CONTRACT_DIR / "README.md"
MARKDOWN_DOCUMENTS = [document.name for document in DOCUMENTS if document.is_markdown]
# A GitHub table's delimiter row: | --- | :---: |, with or without the outer pipes, maybe indented in a list.
TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)+\|?\s*$", re.MULTILINE)


class Page(HTMLParser):
    """What a page shows and what it refers to: visible text, tags, href and src attributes, the first h1."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.sources: list[str] = []
        self.h1 = ""
        self._in_h1 = False
        self._hidden = 0
        self._text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "h1" and not self.h1:
            self._in_h1 = True
        self._hidden += tag in ("style", "title")
        for name, value in attrs:
            if name == "href" and value is not None:
                self.hrefs.append(value)
            elif name in ("src", "srcset", "data", "poster", "action") and value is not None:
                self.sources.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_h1 = False
        self._hidden -= tag in ("style", "title")

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1 += data
        if not self._hidden:
            self._text.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self._text).split())


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with no API key sent; the contract pages read no database."""
    database = tmp_path_factory.mktemp("contract") / "lodestone.db"
    app = create_app(Settings(database_url=f"sqlite:///{database}", admin_key="contract-test-key"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


def plain(markdown: str) -> str:
    """A notice entry as the page shows it: code spans unmarked, white space collapsed."""
    return " ".join(markdown.replace("`", "").split())


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------- the copy itself


def test_the_copy_is_untouched() -> None:
    listed: dict[str, str] = {}
    for line in NOTE.read_text().splitlines():
        if match := re.fullmatch(r"([0-9a-f]{64})  (\S+)", line):
            listed[match[2]] = match[1]
    present = {path.relative_to(CONTRACT_DIR).as_posix() for path in CONTRACT_DIR.rglob("*") if path.is_file()}
    assert set(listed) == present - {"README.md"}, "docs/contract/README.md lists other files than the folder holds"
    changed = [name for name, sha256 in listed.items() if digest(CONTRACT_DIR / name) != sha256]
    assert not changed, f"edited in the copy (replace the contract whole, never edit it): {changed}"
    assert {"API.md", "ORIGIN.md", "RULES.md", "rules.json", "vectors/README.md"} <= present


def test_the_copy_is_the_version_the_service_names() -> None:
    for name in ("API.md", "ORIGIN.md", "RULES.md"):
        title = (CONTRACT_DIR / name).read_text().partition("\n")[0]
        assert f"version {CONTRACT_VERSION})" in title, (name, title)
    assert f"version {CONTRACT_VERSION}" in NOTE.read_text().partition("\n")[0]


def test_every_document_of_the_contract_is_served() -> None:
    documents = {
        path.relative_to(CONTRACT_DIR).as_posix()
        for path in CONTRACT_DIR.rglob("*")
        if path.is_file() and path.suffix in (".md", ".json") and path != NOTE and path.parent.name != "vectors"
    } | {"vectors/README.md"}
    assert documents == {document.name for document in DOCUMENTS}


def test_the_service_package_is_this_checkouts(record_testsuite_property: Callable[[str, object], None]) -> None:
    # tests/test_fresh_clone.py reads this from the JUnit report: the clone's suite must import the clone's package.
    record_testsuite_property("service_file", service.__file__)
    assert Path(service.__file__).resolve().parent == ROOT / "service"
    assert CONTRACT_DIR == ROOT / "docs" / "contract"


# -------------------------------------------------------------------------------------------- the pages


@pytest.mark.parametrize("name", MARKDOWN_DOCUMENTS)
def test_a_document_renders_as_a_page(anonymous: TestClient, name: str) -> None:
    markdown = (CONTRACT_DIR / name).read_text()
    response = anonymous.get(f"/contract/{name}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = Page(response.text)
    assert page.h1 == markdown.partition("\n")[0].removeprefix("# "), "the page shows another document"
    tables = len(TABLE_DELIMITER.findall(markdown))
    assert page.tags.count("table") == tables, f"{name} has {tables} tables"
    assert "code" in page.tags
    assert "pre" in page.tags or "```" not in markdown


@pytest.mark.parametrize("url", ["/contract/", *(f"/contract/{name}" for name in MARKDOWN_DOCUMENTS)])
def test_a_page_says_what_is_not_implemented_yet(anonymous: TestClient, url: str) -> None:
    page = Page(anonymous.get(url).text)
    if not NOT_IMPLEMENTED:
        assert "Not implemented yet" not in page.text
        return
    notice = page.text.index("Not implemented yet in this version of the service")
    assert notice < page.text.index(page.h1), "the notice is not at the top"
    for entry in NOT_IMPLEMENTED:
        assert plain(entry) in page.text, entry


@pytest.mark.parametrize("url", ["/contract/", *(f"/contract/{name}" for name in MARKDOWN_DOCUMENTS)])
def test_a_page_loads_nothing_and_its_links_resolve(anonymous: TestClient, url: str) -> None:
    response = anonymous.get(url)
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = Page(response.text)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags), "a page loads no resource"
    assert not page.sources
    assert "style" in page.tags, "the page carries its own style"
    for href in page.hrefs:
        if urlsplit(href).scheme:
            continue  # a link out of the service, followed only when the reader clicks it
        target = urlsplit(urljoin(f"http://testserver{url}", href)).path
        assert anonymous.get(target).status_code == 200, f"{url} links to {href} ({target})"
    linked = {urlsplit(urljoin(f"http://testserver{url}", href)).path for href in page.hrefs}
    assert {f"/contract/{name}" for name in MARKDOWN_DOCUMENTS} <= linked, "every page links every document"


def test_the_index_lists_every_document(anonymous: TestClient) -> None:
    response = anonymous.get("/contract", follow_redirects=False)
    assert response.status_code in (301, 307, 308)
    assert urlsplit(response.headers["location"]).path == "/contract/"
    page = Page(anonymous.get("/contract/").text)
    assert f"version {CONTRACT_VERSION}" in page.h1
    for document in DOCUMENTS:
        assert f"{document.name}: {document.summary}" in page.text


def test_rules_json_is_served_as_it_is(anonymous: TestClient) -> None:
    response = anonymous.get("/contract/rules.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == (CONTRACT_DIR / "rules.json").read_bytes()
    assert isinstance(json.loads(response.content), list)


@pytest.mark.parametrize(
    "name", ["nope.md", "origin.md", "README.md", "vectors/01-single-chain.json", "%2e%2e/pyproject.toml", "vectors/"]
)
def test_an_unknown_document_is_a_problem(anonymous: TestClient, name: str) -> None:
    response = anonymous.get(f"/contract/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:lodestone:problem:not-found"


# ------------------------------------------------------------------------------------------ Swagger UI


def test_the_pages_are_not_operations_of_the_api(anonymous: TestClient) -> None:
    paths = anonymous.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith("/contract")]


def test_the_api_description_links_the_pages(anonymous: TestClient) -> None:
    description = anonymous.get("/openapi.json").json()["info"]["description"]
    links = re.findall(r"\]\(([^)\s]+)\)", description)
    assert {"/contract/", "/contract/ORIGIN.md", "/contract/API.md", "/contract/RULES.md"} <= set(links), links
    for link in links:
        response = anonymous.get(link)
        assert response.status_code == 200, link
        assert response.headers["content-type"].startswith("text/html"), link
