"""The contract as readable pages for auditors, linked from Swagger UI: offline, no API key, not in the schema."""

import functools
import html
import posixpath
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from service import __version__
from service.contract import CONTRACT_VERSION, DOCUMENTS, DOCUMENTS_BY_NAME, NOT_IMPLEMENTED, Document
from service.errors import NotFound

router = APIRouter(prefix="/contract", include_in_schema=False)

# The pages load nothing: the browser is told so, and refuses anything but the inline style.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
}
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
        return Response(_read(document), media_type="application/json")
    return HTMLResponse(_rendered(name), headers=SECURITY_HEADERS)
