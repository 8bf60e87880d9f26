"""The operator's admin key: from the environment, or generated once beside the database."""

from pathlib import Path

from service.api_keys import new_secret


def ensure_key_file(path: Path) -> str:
    """The generated admin key kept beside the database, made once (mode 600)."""
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_secret()
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
