"""API keys and the audit trail as the API takes and gives them."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.schemas.common import Code, Contract, Name

RoleName = Literal["admin", "manager", "recorder", "auditor", "viewer"]


class ApiKeyCreate(Contract):
    organization: Code
    role: RoleName
    name: Name

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"organization": "ACME", "role": "recorder", "name": "ACME ERP, Texas plant"}]}
    )


class ApiKeyRead(BaseModel):
    id: str
    organization: str
    role: RoleName
    name: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The secret. Shown this once only; Lodestone keeps only a hash of it.")


class AuditEntryRead(BaseModel):
    seq: int
    at: datetime
    key_id: str | None = Field(description="The API key that wrote; null for the operator's admin key.")
    organization: str | None
    action: str = Field(examples=["event.recorded"])
    subject: str = Field(description="Id or code of what was written.")
    request_id: str
    body_hash: str = Field(description="SHA-256 of the request body as received.")
    prev_hash: str
    hash: str


class AuditVerification(BaseModel):
    ok: bool
    entries: int
    head: str = Field(description="Hash of the last entry; the all-zero hash for an empty trail.")
    first_bad: int | None = Field(description="Sequence number of the first entry whose hash does not hold.")
