"""The operator's admin key: from the environment, or generated once beside the database."""

import secrets
from pathlib import Path


def ensure_key_file(path: Path) -> str:
    """The generated admin key kept beside the database, made once (mode 600)."""
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = "lsk_" + secrets.token_urlsafe(32)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
