"""The contract as readable pages for auditors, linked from Swagger UI: offline, no API key, not in the schema."""

import base64
import functools
import hashlib
import html
import posixpath
import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse, Response
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import __version__
from service.contract import CONTRACT_VERSION, DOCUMENTS, DOCUMENTS_BY_NAME, NOT_IMPLEMENTED, Document
from service.errors import NotFound

router = APIRouter(prefix="/contract", include_in_schema=False)

# The pages load nothing: the browser is told so, and refuses anything but the inline style.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
}
# Swagger UI and ReDoc run their bundled scripts (from /static-offline-docs) and one inline script each,
# allowed by its hash; their styles are partly inline, Swagger UI's icons are data: URLs, ReDoc works in a
# blob: worker, and "Try it out" and the OpenAPI document are fetched from this origin.
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc")
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
STYLE = """
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       max-width: 54rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
nav { font-size: .9rem; padding-bottom: .6rem; border-bottom: 1px solid #d0d7de; }
nav a { margin-right: .9rem; }
.pending { border: 1px solid #d4a72c; background: #fff8c5; padding: .4rem 1rem; margin: 1rem 0; }
.pending h2 { font-size: 1rem; margin: .4rem 0; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #d0d7de; padding: .3rem .7rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
code { font: .88em ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; background: #eff1f3;
       padding: .1em .3em; border-radius: 4px; }
pre { background: #f6f8fa; padding: .8rem 1rem; overflow: auto; border-radius: 6px; }
pre code { background: none; padding: 0; }
"""

# The documents name each other in code spans (`ORIGIN.md`, `vectors/`): those become links.
LINKED_NAMES = {document.name: document.name for document in DOCUMENTS} | {"vectors/": "vectors/README.md"}


def _href(target: str, page: str) -> str:
    """``target`` relative to ``page``, both paths from the site root, so the pages work under any prefix."""
    return posixpath.relpath(target, posixpath.dirname(page) or ".") + ("/" if target.endswith("/") else "")


def _linked_code(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    code = RendererHTML.code_inline(self, tokens, idx, options, env)
    name = LINKED_NAMES.get(tokens[idx].content)
    if name is None:
        return code
    return f'<a href="{html.escape(_href(f"contract/{name}", env["page"]))}">{code}</a>'


def _markdown() -> MarkdownIt:
    # CommonMark as the documents are written, plus GitHub's tables; raw HTML is escaped, never passed through.
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.add_render_rule("code_inline", _linked_code)
    return md


MARKDOWN = _markdown()


def _page(title: str, page: str, body: str) -> str:
    links = [("contract/", f"Contract {CONTRACT_VERSION}")] + [(f"contract/{d.name}", d.name) for d in DOCUMENTS]
    links.append(("docs", "API reference (Swagger UI)"))
    nav = "".join(f'<a href="{html.escape(_href(target, page))}">{html.escape(text)}</a>' for target, text in links)
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)} - Lodestone contract {CONTRACT_VERSION}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n<nav>{nav}</nav>\n{_pending(page)}<main>\n{body}</main>\n"
        "</body>\n</html>\n"
    )


def _pending(page: str) -> str:
    if not NOT_IMPLEMENTED:
        return ""
    env: dict[str, Any] = {"page": page}
    items = "".join(f"<li>{MARKDOWN.renderInline(entry, env)}</li>\n" for entry in NOT_IMPLEMENTED)
    return (
        '<aside class="pending" role="note">\n'
        f"<h2>Not implemented yet in this version of the service (Lodestone {__version__})</h2>\n"
        f"<p>This is version {CONTRACT_VERSION} of the contract. The service does not do these parts of it yet:</p>\n"
        f"<ul>\n{items}</ul>\n</aside>\n"
    )


def _read(document: Document) -> bytes:
    try:
        return document.path.read_bytes()
    except FileNotFoundError:
        raise NotFound(
            f"The contract document {document.name} is not installed with this service (expected at {document.path})."
        ) from None


@functools.cache
def _rendered(name: str) -> str:
    document = DOCUMENTS_BY_NAME[name]
    text = _read(document).decode()
    page = f"contract/{name}"
    title = text.partition("\n")[0].lstrip("#").strip() or name
    return _page(title, page, MARKDOWN.render(text, {"page": page}))


@functools.cache
def _index() -> str:
    page = "contract/"
    items = "".join(
        f'<li><a href="{html.escape(_href(f"contract/{d.name}", page))}"><code>{html.escape(d.name)}</code></a>: '
        f"{html.escape(d.summary)}</li>\n"
        for d in DOCUMENTS
    )
    body = (
        f"<h1>The Lodestone contract, version {CONTRACT_VERSION}</h1>\n"
        "<p>What this service promises manufacturers, procurement portals and auditors: the paths, fields and "
        "status codes of its API, the exact meaning of origin, and worked examples that its tests replay through "
        "the API. The API reference generated from the code itself is in "
        f'<a href="{html.escape(_href("docs", page))}">Swagger UI</a>.</p>\n'
        f"<ul>\n{items}</ul>\n"
    )
    return _page("Contents", page, body)


@router.get("/")
def contract_index() -> HTMLResponse:
    """The contract's documents."""
    return HTMLResponse(_index(), headers=SECURITY_HEADERS)


@router.get("/{name:path}")
def contract_document(name: str) -> Response:
    """One document of the contract: Markdown as an HTML page, ``rules.json`` as it is."""
    document = DOCUMENTS_BY_NAME.get(name)
    if document is None:
        raise NotFound(f"The contract has no document {name!r}; its documents are listed at /contract/.")
    if not document.is_markdown:
        return Response(_read(document), media_type="application/json", headers=SECURITY_HEADERS)
    return HTMLResponse(_rendered(name), headers=SECURITY_HEADERS)


def _script_hashes(page: bytes) -> str:
    digests = (hashlib.sha256(script).digest() for script in _INLINE_SCRIPT.findall(page))
    return "".join(f" 'sha256-{base64.b64encode(digest).decode()}'" for digest in digests)


def _with_headers(app: ASGIApp, headers: dict[str, str] | None) -> ASGIApp:
    """``app`` answering with ``headers`` too; with none, the docs' policy, hashing the page's inline scripts.

    The inline scripts name the OpenAPI URL under the request's root path, so they are hashed per answer.
    """

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                if headers is None:
                    return  # held until the page is known
                extra = headers
            elif message["type"] == "http.response.body" and headers is None and start is not None:
                extra = {"Content-Security-Policy": DOCS_POLICY.format(hashes=_script_hashes(message.get("body", b"")))}
                extra["X-Content-Type-Options"] = "nosniff"
            else:
                await send(message)
                return
            assert start is not None
            raw = [(name.lower().encode(), value.encode()) for name, value in extra.items()]
            await send({**start, "headers": [*start.get("headers", []), *raw]})
            if message is not start:
                await send(message)

        await app(scope, receive, send_with_headers)

    return answer


def secure_docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc under a content security policy; their bundled files are not sniffed either."""
    routes: list[BaseRoute] = app.router.routes
    for route in routes:
        if isinstance(route, Route) and route.path in DOCS_PATHS:
            route.app = _with_headers(route.app, None)
        elif isinstance(route, Mount) and route.path == "/static-offline-docs":
            route.app = _with_headers(route.app, {"X-Content-Type-Options": "nosniff"})
