"""Opaque cursors for keyset pagination: the last key seen, base64url-encoded JSON."""

import base64
import binascii
import json
from collections.abc import Callable
from typing import TypeVar, overload

from service.errors import invalid

R = TypeVar("R")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MIN_KEY, MAX_KEY = -(2**63), 2**63 - 1  # BIGINT on PostgreSQL, INTEGER on SQLite
MAX_TEXT_KEY = 255  # longer than any code or id a list is ordered by


def encode_cursor(key: str | int) -> str:
    raw = json.dumps({"after": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@overload
def decode_cursor(cursor: str | None, kind: type[str], field: str = "cursor") -> str | None: ...
@overload
def decode_cursor(cursor: str | None, kind: type[int], field: str = "cursor") -> int | None: ...
def decode_cursor(cursor: str | None, kind: type[str] | type[int], field: str = "cursor") -> str | int | None:
    """The key after which a page starts; a cursor this service did not write is 422 naming ``field``."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)["after"]
    except (binascii.Error, ValueError, KeyError, TypeError, RecursionError):
        raise invalid(field, "is not a cursor this service wrote") from None
    if type(key) is not kind or not _storable(key):
        raise invalid(field, "is not a cursor for this list")
    return key  # type: ignore[no-any-return]


def _storable(key: object) -> bool:
    """A key the databases can compare with: a 64-bit signed integer, or short printable text."""
    if isinstance(key, int):
        return MIN_KEY <= key <= MAX_KEY
    # Printable excludes NUL (PostgreSQL refuses it in text) and lone surrogates (not encodable).
    return isinstance(key, str) and len(key) <= MAX_TEXT_KEY and key.isprintable()


def paginate(rows: list[R], limit: int, key: Callable[[R], str | int]) -> tuple[list[R], str | None]:
    """Rows fetched with ``limit + 1``: the page, and the cursor to the next one if there is more."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(key(page[-1]))
