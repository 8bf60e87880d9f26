"""Tables only. Lots and events are append-only: corrections are voids, never edits."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from service.db import ExactDecimal, UTCDateTime


def _exact(**kwargs: Any) -> Any:
    return Field(sa_column=sa.Column(ExactDecimal(), nullable=False, **kwargs))


def _timestamp(**kwargs: Any) -> Any:
    return Field(sa_column=sa.Column(UTCDateTime(), nullable=False, **kwargs))


def _unique_ignoring_case(table: str, code: str, *within: str) -> sa.Index:
    """Codes are unique without regard to case (``within`` an organization, for lots) and looked up by ``lower``.

    ``lower(code)`` leads, so a lookup by code alone uses the index. Codes are ASCII (``CODE_PATTERN``),
    where SQLite's and PostgreSQL's ``lower`` agree.
    """
    return sa.Index(f"uq_{table}_{code}_lower", sa.func.lower(sa.column(code)), *within, unique=True)


class Organization(SQLModel, table=True):
    __tablename__ = "organization"
    __table_args__ = (
        _unique_ignoring_case("organization", "code"),
        sa.Index("uq_organization_gln", "gln", unique=True),
    )

    pk: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    country: str = Field(max_length=2)
    created_at: datetime = _timestamp()
    # A GS1 Global Location Number (13 digits): the party's identifier in EPCIS documents.
    gln: str | None = Field(default=None, max_length=13)


class Facility(SQLModel, table=True):
    __tablename__ = "facility"
    __table_args__ = (_unique_ignoring_case("facility", "code"), sa.Index("uq_facility_gln", "gln", unique=True))

    pk: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    organization_pk: int = Field(foreign_key="organization.pk", index=True)
    country: str = Field(max_length=2, index=True)
    created_at: datetime = _timestamp()
    # A GS1 Global Location Number (13 digits): the location's identifier in EPCIS documents.
    gln: str | None = Field(default=None, max_length=13)


class FacilityStage(SQLModel, table=True):
    __tablename__ = "facility_stage"

    facility_pk: int = Field(foreign_key="facility.pk", primary_key=True)
    stage: str = Field(max_length=20, primary_key=True)


class Sku(SQLModel, table=True):
    __tablename__ = "sku"
    # A GTIN names one trade item: one SKU at most (a unique index: many SKUs have none).
    __table_args__ = (_unique_ignoring_case("sku", "sku"), sa.Index("uq_sku_gtin", "gtin", unique=True))

    pk: int | None = Field(default=None, primary_key=True)
    sku: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    organization_pk: int = Field(foreign_key="organization.pk", index=True)
    gtin: str | None = Field(default=None, max_length=14)
    created_at: datetime = _timestamp()
    # Changes, to a fresh random token, whenever one of the SKU's lots is recorded or voided:
    # an answer computed at one revision stays right until the revision changes.
    revision: str = Field(
        default_factory=lambda: uuid.uuid4().hex, max_length=32, sa_column_kwargs={"server_default": "initial"}
    )


class Event(SQLModel, table=True):
    __tablename__ = "event"

    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=36, unique=True)
    type: str = Field(max_length=20)
    facility_pk: int = Field(foreign_key="facility.pk", index=True)
    stage: str | None = Field(default=None, max_length=20)
    occurred_at: datetime = _timestamp()
    recorded_at: datetime = _timestamp()
    reference: str | None = Field(default=None, max_length=200)
    status: str = Field(default="recorded", max_length=10)
    voided_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))
    # The request as validated, so `lodestone verify` can recompute every output from it.
    body: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON(), nullable=True))


class EventInput(SQLModel, table=True):
    __tablename__ = "event_input"

    event_pk: int = Field(foreign_key="event.pk", primary_key=True)
    position: int = Field(primary_key=True)
    lot_pk: int = Field(foreign_key="lot.pk", index=True)
    quantity: Decimal = _exact()


class Lot(SQLModel, table=True):
    __tablename__ = "lot"
    __table_args__ = (
        sa.UniqueConstraint("organization_pk", "code"),
        _unique_ignoring_case("lot", "code", "organization_pk"),
        sa.CheckConstraint("CAST(remaining AS TEXT) NOT LIKE '-%'", name="remaining_not_negative"),
        sa.Index("ix_lot_facility_pk_epc_class", "facility_pk", "epc_class"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=36, unique=True)
    code: str = Field(max_length=64, index=True)
    organization_pk: int = Field(foreign_key="organization.pk")
    facility_pk: int = Field(foreign_key="facility.pk", index=True)
    event_pk: int = Field(foreign_key="event.pk", index=True)
    position: int
    material: str = Field(max_length=20)
    quantity: Decimal = _exact()
    unit: str = Field(max_length=3)
    remaining: Decimal = _exact()
    # Exact rationals as text, element symbol -> kilograms ("n" or "n/d").
    composition: dict[str, str] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    # Element symbol -> [[mining, refining, metal_making, magnet_making, manufacturing, kg], ...].
    origin: dict[str, list[list[str]]] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    element_resolved: bool
    # Made by a receipt or by manufacturing: the units a SKU answers for.
    is_production: bool
    sku_pk: int | None = Field(default=None, foreign_key="sku.pk", index=True)
    status: str = Field(default="active", max_length=10)
    occurred_at: datetime = _timestamp()
    recorded_at: datetime = _timestamp()
    # The whole lot's value as an exact rational ("n" or "n/d"): a transfer's share of it is kept
    # exactly, so a later transfer from that lot starts from the exact amount, not a rounded one.
    value_amount: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    value_currency: str | None = Field(default=None, max_length=3)
    # The EPCIS class the lot was captured under (an LGTIN, a Digital Link, any URI), exported verbatim.
    epc_class: str | None = Field(default=None, max_length=500)


class Price(SQLModel, table=True):
    """An element's price per kilogram contained, in one currency, from ``valid_from`` until the next one."""

    __tablename__ = "price"
    __table_args__ = (sa.UniqueConstraint("element", "currency", "valid_from"),)

    pk: int | None = Field(default=None, primary_key=True)
    element: str = Field(max_length=3)
    currency: str = Field(max_length=3)
    price_per_kg: Decimal = _exact()
    valid_from: date
    source: str | None = Field(default=None, max_length=200)
    created_at: datetime = _timestamp()


class ApiKey(SQLModel, table=True):
    """A key of one organization with one role. Only a hash of the secret is kept."""

    __tablename__ = "api_key"

    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=36, unique=True)
    organization_pk: int = Field(foreign_key="organization.pk", index=True)
    role: str = Field(max_length=10)
    name: str = Field(max_length=200)
    key_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = _timestamp()
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))


class AuditEntry(SQLModel, table=True):
    """One successful write, chained to the entry before it by hash. Rows are only ever inserted."""

    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = _timestamp()
    key_id: str | None = Field(default=None, max_length=36)
    organization: str | None = Field(default=None, max_length=64, index=True)
    action: str = Field(max_length=40, index=True)
    subject: str = Field(max_length=64, index=True)
    request_id: str = Field(max_length=64)
    body_hash: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain's last entry, in one row that every writer locks: entries are appended one at a time."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int
    hash: str = Field(max_length=64)


class IdempotencyRecord(SQLModel, table=True):
    """A POST's answer kept for 24 hours under the Idempotency-Key its API key sent."""

    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("principal", "key"),)

    pk: int | None = Field(default=None, primary_key=True)
    principal: str = Field(max_length=64)
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    state: str = Field(max_length=10)
    status_code: int | None = None
    content_type: str | None = Field(default=None, max_length=100)
    response_body: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    created_at: datetime = _timestamp(index=True)


class CustomRule(SQLModel, table=True):
    """A rule an admin added (the built-ins ship in rules.json): the body as accepted, never edited."""

    __tablename__ = "rule"

    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=64, unique=True)
    body: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    created_at: datetime = _timestamp()


class SigningKey(SQLModel, table=True):
    """A public key attestations were signed with, by its RFC 7638 thumbprint; the private key is never stored here.

    Keys stay after a rotation, so attestations they signed still verify; a revoked key leaves the JWKS.
    """

    __tablename__ = "signing_key"

    kid: str = Field(primary_key=True, max_length=64)
    # The public JWK (RFC 8037 OKP, Ed25519) as published at /.well-known/jwks.json.
    public_jwk: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))
    created_at: datetime = _timestamp()
    revoked_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=True))


class Attestation(SQLModel, table=True):
    """An answer as the service gave it, signed (compact JWS) and kept, never to change."""

    __tablename__ = "attestation"

    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=36, unique=True)
    subject_kind: str = Field(max_length=10)
    sku: str | None = Field(default=None, max_length=64, index=True)
    lot: str | None = Field(default=None, max_length=36, index=True)
    # Who asked for it: the API key and its organization (none for the operator's admin key).
    key_id: str | None = Field(default=None, max_length=36)
    organization: str | None = Field(default=None, max_length=64)
    kid: str = Field(max_length=64, foreign_key="signing_key.kid")
    issued_at: datetime = _timestamp()
    jws: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))


class SkuMaker(SQLModel, table=True):
    """An organization the SKU's owner lets make production lots of the SKU (ORIGIN.md), besides itself."""

    __tablename__ = "sku_maker"

    sku_pk: int = Field(foreign_key="sku.pk", primary_key=True)
    organization_pk: int = Field(foreign_key="organization.pk", primary_key=True)
    created_at: datetime = _timestamp()

    @property
    def key(self) -> tuple[int, int]:
        return self.sku_pk, self.organization_pk


class Supplier(SQLModel, table=True):
    """An organization whose transfers the receiving organization accepts into its facilities."""

    __tablename__ = "supplier"

    organization_pk: int = Field(foreign_key="organization.pk", primary_key=True)
    supplier_pk: int = Field(foreign_key="organization.pk", primary_key=True)
    created_at: datetime = _timestamp()

    @property
    def key(self) -> tuple[int, int]:
        return self.organization_pk, self.supplier_pk


class EpcisCapture(SQLModel, table=True):
    """A finished EPCIS capture job: who sent the document and which Lodestone event each EPCIS event became."""

    __tablename__ = "epcis_capture"

    pk: int | None = Field(default=None, primary_key=True)
    id: str = Field(max_length=36, unique=True)
    created_at: datetime = _timestamp()
    finished_at: datetime = _timestamp()
    key_id: str | None = Field(default=None, max_length=36)
    organization: str | None = Field(default=None, max_length=64, index=True)
    # [{"eventID": ..., "event": <Lodestone event id or null>, "created": bool}, ...] in document order.
    events: list[dict[str, Any]] = Field(sa_column=sa.Column(sa.JSON(), nullable=False))


class EpcisEvent(SQLModel, table=True):
    """A captured EPCIS event, kept as sent (exact JSON text) so that export returns it unchanged.

    ``hash`` is its CBV 2.0 event hash: the same eventID sent again is a no-op when the hash agrees,
    a conflict when it does not. ``declaration`` is the error declaration that voided it, as sent.
    """

    __tablename__ = "epcis_event"

    pk: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=500, unique=True)
    hash: str = Field(max_length=100)
    event_pk: int = Field(foreign_key="event.pk", unique=True)
    capture_pk: int = Field(foreign_key="epcis_capture.pk")
    document: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    declaration: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))


class SkuAnswer(SQLModel, table=True):
    """A SKU's short answer to one catalogue question, remembered for ``GET /v1/compliance`` and ``/v1/origin``.

    Valid only while ``revision`` equals the SKU's revision followed by the prices' and custom rules' revision it
    was worked out under (``service.portfolio``); any other row is a miss, worked out again and overwritten.
    """

    __tablename__ = "sku_answer"

    sku_pk: int = Field(foreign_key="sku.pk", primary_key=True)
    question: str = Field(max_length=64, primary_key=True)  # sha256 hex of the question as asked
    revision: str = Field(max_length=200)
    # Each answer given, "|yes|" for the plain question, "|yes|dfars-7052=yes|..." for the rules': filtered in SQL.
    answers: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    summary: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))  # the item's answer fields, as JSON
    computed_at: datetime = _timestamp()
