"""EPCIS JSON with exact numbers: ``quantity`` is a JSON number (the schema refuses strings), never a float.

Read with every non-integer number as a ``Decimal``; written with each ``Decimal`` as its plain literal,
no exponent and no trailing zeros (also the event hash's canonical form of a number).
"""

from decimal import Decimal
from typing import Any

import simplejson  # type: ignore[import-untyped]  # no stubs; two calls, typed here


def plain(number: Decimal) -> Decimal:
    """The same number spelled without exponent or trailing zeros: ``1E+4`` -> ``10000``, ``2.50`` -> ``2.5``."""
    text = format(number.normalize(), "f")
    return Decimal(text)


def _plain_numbers(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain(value)
    if isinstance(value, dict):
        return {key: _plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(item) for item in value]
    return value


def dumps(document: Any) -> str:
    """Compact JSON, keys in the order given; a ``Decimal`` becomes a number literal, exactly."""
    text: str = simplejson.dumps(_plain_numbers(document), use_decimal=True, separators=(",", ":"), ensure_ascii=False)
    return text


def loads(text: str | bytes) -> Any:
    """JSON with non-integer numbers as ``Decimal``; integers stay ``int`` (exact either way)."""
    return simplejson.loads(text, use_decimal=True)
