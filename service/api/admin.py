"""API keys (admin) and the audit trail (auditor, admin)."""

from typing import Annotated

from fastapi import Depends, Path, Query

from service import api_keys, audit
from service.access import MANAGE_KEYS, Principal
from service.api.catalog import Cursor, Limit
from service.api.common import problems, v1_router
from service.api.deps import AuditReader, SessionDep, WriteContextDep, allow
from service.errors import invalid
from service.pagination import DEFAULT_LIMIT
from service.schemas import (
    CODE_PATTERN,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    AuditEntryRead,
    AuditVerification,
    Page,
    UtcTimestamp,
)

key_router = v1_router("api-keys")
KeyManager = Annotated[Principal, Depends(allow(MANAGE_KEYS))]
audit_router = v1_router("audit")
KeyId = Annotated[
    str, Path(description="The key's id (not its secret).", examples=["3f0b9d1c-2a4e-4f57-9a57-2f0f4f1d2a11"])
]


@key_router.post(
    "/api-keys",
    status_code=201,
    summary="Create an API key",
    responses=problems(400, 413, 422),
)
def create_key(body: ApiKeyCreate, session: SessionDep, actor: KeyManager, context: WriteContextDep) -> ApiKeyCreated:
    """Give an organization a key with one role (a manager: its own, not admin or auditor); the secret is shown once."""
    created = api_keys.create_key(session, body, actor)
    audit.append(session, context, "key.created", created.id)
    return created


@key_router.get("/api-keys", summary="List API keys", responses=problems(422))
def list_keys(
    session: SessionDep, actor: KeyManager, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> Page[ApiKeyRead]:
    """Keys with their organization, role and whether revoked (a manager: its own organization's); never secrets."""
    return api_keys.list_keys(session, limit, cursor, actor)


@key_router.delete(
    "/api-keys/{id}",
    summary="Revoke an API key",
    responses=problems(404, 409, conflict="The key is already revoked."),
)
def revoke_key(id: KeyId, session: SessionDep, actor: KeyManager, context: WriteContextDep) -> ApiKeyRead:
    """Revoke a key for good (a manager: its own organization's): its writes answer 401 at once, its reads within
    `LODESTONE_KEY_CACHE_SECONDS` (2 s) on every worker."""
    revoked = api_keys.revoke_key(session, id, actor)
    audit.append(session, context, "key.revoked", revoked.id)
    return revoked


@audit_router.get("/audit", summary="Read the audit trail", responses=problems(422))
def list_audit(
    session: SessionDep,
    _actor: AuditReader,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    action: Annotated[str | None, Query(max_length=40, description="Such as `event.recorded`.")] = None,
    subject: Annotated[str | None, Query(pattern=CODE_PATTERN, description="Id or code written.")] = None,
    organization: Annotated[str | None, Query(pattern=CODE_PATTERN, description="Organization of the key.")] = None,
    since: Annotated[UtcTimestamp | None, Query(description="Entries at or after this time.")] = None,
    until: Annotated[UtcTimestamp | None, Query(description="Entries before this time.")] = None,
) -> Page[AuditEntryRead]:
    """Every successful write in order: who, what, when, the request and the hash chain."""
    if since and until and since >= until:
        raise invalid("until", "must be later than since")
    return audit.list_entries(
        session, limit, cursor, action=action, subject=subject, organization=organization, since=since, until=until
    )


@audit_router.get("/audit/verify", summary="Verify the audit trail", responses=problems())
def verify_audit(session: SessionDep, _actor: AuditReader) -> AuditVerification:
    """Recompute the hash chain: `ok` is false, and `first_bad` names the entry, if any entry was changed."""
    return audit.verify_chain(session)
