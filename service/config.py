"""Settings, read from the environment (prefix ``LODESTONE_``)."""

from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./data/lodestone.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LODESTONE_", extra="ignore")

    database_url: str = Field(DEFAULT_DATABASE_URL, description="SQLAlchemy URL of the database.")
    admin_key: str | None = Field(None, description="An API key accepted as admin.")
    key_file: Path | None = Field(
        None, description="File holding a generated admin key; default `admin.key` beside a SQLite database."
    )
    signing_key: Path | None = Field(
        None,
        description="PEM file of the Ed25519 private key that signs attestations; default `signing-key.pem` "
        "beside the key file or the SQLite database, generated once. A configured file must exist.",
    )
    mass_balance_tolerance: Decimal = Field(
        Decimal("0.005"), ge=0, le=1, description="How much more rare earth outputs may hold than went in."
    )
    max_body_bytes: int = Field(1024 * 1024, description="Largest request body accepted.")
    sqlite_busy_timeout_ms: int = Field(30_000, description="How long a SQLite writer waits for the lock.")
    epcis_id_base: str = Field(
        "urn:lodestone:",
        pattern=r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$",
        description="Prefix of the EPCIS identifiers of facilities, organizations and lots without a GLN "
        "(`{base}facility/{code}`, `{base}org/{code}`, `{base}lot/{organization}/{code}`): set it to a URI "
        "you control, once; exported identifiers must never change.",
    )
    epcis_schema: Path | None = Field(
        None,
        description="The EPCIS 2.0 JSON schema captures are validated against; default: the copy `make install` "
        "puts in the virtual environment (`share/lodestone/epcis-json-schema.json`).",
    )
    access_log: Literal["all", "writes", "off"] = Field(
        "writes",
        description="Which requests get a JSON line on `lodestone.access`: `all`; `writes` (every request but a "
        "read answered 1xx-3xx, which `/metrics` counts); `off`. Unexpected errors are always logged.",
    )
    key_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="How long a worker trusts an organization key for reads after the database last confirmed it: "
        "a revoked key stops reading within this bound on every worker (writes always check the database); 0 "
        "looks every key up on every request.",
    )
    read_database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of a PostgreSQL streaming replica of the database: GET and HEAD requests read "
        'there while it keeps up (README, "Scale-out: read replicas"); unset: everything on the primary.',
    )
    read_replica_max_lag_seconds: Decimal = Field(
        Decimal("10"),
        ge=0,
        description="How far behind the primary the replica may be and still answer reads (and authenticate "
        "them: a key revoked on the primary stops working within this bound); beyond it reads go to the primary.",
    )
    reads_on_event_loop: bool | None = Field(
        None,
        description="Run reads' database work on the event loop; unset: yes on SQLite, no on PostgreSQL "
        "(false suits SQLite on a network file system, where a read can wait).",
    )
    metrics: bool = Field(
        True,
        description="Serve Prometheus metrics at `/metrics` (admin or auditor key), counting every request and "
        "SKU answer for them; false: no `/metrics` and no counting on the request path.",
    )

    def database_is_local(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            return None
        path = self.database_url[len(prefix) :].split("?", 1)[0]
        return None if path in ("", ":memory:") else Path(path)

    def resolved_key_file(self) -> Path | None:
        if self.key_file is not None:
            return self.key_file
        db_path = self.sqlite_path()
        return db_path.parent / "admin.key" if db_path is not None else None

    def resolved_signing_key_file(self) -> Path | None:
        if self.signing_key is not None:
            return self.signing_key
        if self.key_file is not None:
            return self.key_file.parent / "signing-key.pem"
        db_path = self.sqlite_path()
        return db_path.parent / "signing-key.pem" if db_path is not None else None

    def accepted_admin_keys(self) -> tuple[str, ...]:
        """The admin key from the environment; only without one, the generated key if its file exists.

        Setting ``LODESTONE_ADMIN_KEY`` replaces the generated key (``lodestone key`` then shows only
        the new one): a key file left behind is not a second way in. ``lodestone serve`` says so.
        """
        if self.admin_key:
            return (self.admin_key,)
        key_file = self.resolved_key_file()
        if key_file is not None and key_file.is_file():
            stored = key_file.read_text().strip()
            if stored:
                return (stored,)
        return ()


@lru_cache
def get_settings() -> Settings:
    return Settings()
