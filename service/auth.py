"""Who is calling: API keys from ``Authorization: Bearer`` or ``X-API-Key``."""

import hmac
import secrets
from pathlib import Path

from service.errors import Unauthorized

ADMIN = "admin"


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return x_api_key.strip() if x_api_key else None


def authenticate(key: str | None, admin_keys: tuple[str, ...]) -> str:
    """The role of the caller; 401 without a key this service accepts. Compared in constant time."""
    if not key:
        raise Unauthorized("Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.")
    matched = False
    for admin_key in admin_keys:
        matched |= hmac.compare_digest(key.encode(), admin_key.encode())
    if not matched:
        raise Unauthorized("This API key is not valid.")
    return ADMIN


def ensure_key_file(path: Path) -> str:
    """The generated admin key kept beside the database, made once."""
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "lsk_" + secrets.token_urlsafe(32)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
