"""Attestations and the public keys that verify them (JWKS, RFC 7517)."""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import Code, Contract, DecimalIn, LotId, UtcTimestamp

JWKS_EXAMPLE: dict[str, Any] = {
    "keys": [
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": "dpsjdL2GzNc1gPcCVqNEmAA29e3YmjZHqVITgwsEElE",
            "kid": "onFWwp2GXdHRcuJYR7T0AQSJaeT_B1o-iFRcG5RQJhA",
            "alg": "EdDSA",
            "use": "sig",
        }
    ]
}


class JwkRead(BaseModel):
    """An Ed25519 public key (RFC 8037) that signed attestations."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="The public key, base64url.")
    kid: str = Field(description="The key's RFC 7638 thumbprint (base64url SHA-256); a JWS names it in its header.")
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class JwksRead(BaseModel):
    keys: list[JwkRead] = Field(description="Every key not revoked, newest first.")

    model_config = ConfigDict(json_schema_extra={"examples": [JWKS_EXAMPLE]})


class SkuSubject(Contract):
    kind: Literal["sku"]
    sku: Code


class LotSubject(Contract):
    kind: Literal["lot"]
    id: LotId


class QuestionBody(Contract):
    """The plain question, as `/origin` asks it; a field left out takes `/origin`'s default."""

    countries: list[str] | None = Field(None, description='ISO 3166-1 alpha-2 codes; default `["CN"]`.')
    stages: list[str] | None = Field(None, description="Default mining, refining, metal making, magnet making.")
    elements: list[str] | None = Field(None, description="Element symbols; default every rare earth.")
    threshold_percent: DecimalIn | None = Field(None, description="`yes` needs a share above it; default 0.")


AttestationOf = Literal["origin", "compliance", "disclosure"]

ATTESTATION_CREATE_EXAMPLE: dict[str, Any] = {
    "subject": {"kind": "sku", "sku": "EV-MOTOR-200"},
    "question": None,
    "rules": ["dfars-7052"],
    "on": "2027-01-01",
    "as_of": "2026-12-01T09:30:00Z",
}


class AttestationCreate(Contract):
    """What to attest: a subject, and either a question (the `/origin` answer) or rules (the `/compliance` answer)."""

    subject: SkuSubject | LotSubject = Field(discriminator="kind")
    question: QuestionBody | None = Field(
        None, description="Attest the plain question's answer (`/origin`); null: the rules' answer."
    )
    rules: list[str] | None = Field(
        None, description="Rule ids, for the rules' answer (`/compliance`); null: every rule with a version on `on`."
    )
    on: date | None = Field(None, description="The rules' answer only: the date whose rules and prices apply; default "
                            "today (UTC).")  # fmt: skip
    as_of: UtcTimestamp | None = Field(None, description="Answer as the service knew at this moment; default now.")
    of: AttestationOf | None = Field(
        None,
        description="Which answer: `origin`, `compliance` or `disclosure` (a SKU's s.857 disclosure). Default: "
        "`origin` when a question is given, else `compliance`.",
    )
    lots_limit: int = Field(100, ge=0, le=1000, description="List at most this many lots in the answer, as its GET.")

    model_config = ConfigDict(json_schema_extra={"examples": [ATTESTATION_CREATE_EXAMPLE]})


ATTESTATION_EXAMPLE: dict[str, Any] = {
    "id": "0b1f7f5e-7c55-4a8a-9a55-3a8c4e2d9f10",
    "issued_at": "2026-12-01T09:30:00.123456Z",
    "kid": "onFWwp2GXdHRcuJYR7T0AQSJaeT_B1o-iFRcG5RQJhA",
    "jws": "eyJhbGciOiJFZERTQSIsImtpZCI6Im9uRld3cDJHWGRIUmN1SllSN1QwQVFTSmFlVF9CMW8taUZSY0c1UlFKaEEiLCJ0eXAiOiJKT1NFIn0"
    ".eyJpZCI6Ii4uLiJ9.c2lnbmF0dXJl",
}


class AttestationCreated(BaseModel):
    """An attestation as issued: its id, when, by which key, and the signed answer (compact JWS)."""

    id: str
    issued_at: datetime
    kid: str = Field(description="The signing key's id, in the JWKS at `/.well-known/jwks.json`.")
    jws: str = Field(description="Compact JWS (EdDSA); its payload is the attestation, its `answer` the GET's body.")

    model_config = ConfigDict(json_schema_extra={"examples": [ATTESTATION_EXAMPLE]})


class AttestationRead(AttestationCreated):
    """An attestation as kept, with its payload decoded for reading (the `jws` is what proves it)."""

    subject: dict[str, str]
    organization: str | None = Field(description="The organization of the key that asked for it; null: the operator.")
    payload: dict[str, Any] = Field(
        description="The signed payload: `{id, of, subject, question, rules, on, as_of, issued_at, kid, audit_head, "
        "answer}`, decoded from `jws` unverified; verify `jws` against the JWKS to rely on it."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                ATTESTATION_EXAMPLE
                | {"subject": {"kind": "sku", "sku": "EV-MOTOR-200"}, "organization": None, "payload": {"id": "..."}}
            ]
        }
    )
