"""API keys per organization: made once, shown once, stored as a hash, revoked for good."""

import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections import OrderedDict

import sqlalchemy as sa
from sqlmodel import Session, col, select

from service.access import MANAGER_GRANTS, OPERATOR, ROLES, Principal
from service.db import utcnow
from service.errors import Conflict, Forbidden, NotFound, Unauthorized
from service.models import ApiKey, Organization
from service.organizations import referenced_organization
from service.pagination import decode_cursor, paginate
from service.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, Page, is_id

KEY_PREFIX = "lsk_"


def hash_key(key: str) -> str:
    """Keys are 256 random bits, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _read(key: ApiKey, organization: str) -> ApiKeyRead:
    return ApiKeyRead(
        id=key.id,
        organization=organization,
        role=key.role,  # type: ignore[arg-type]
        name=key.name,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def create_key(session: Session, body: ApiKeyCreate, actor: Principal = OPERATOR) -> ApiKeyCreated:
    """A new key; an admin gives any organization any role, a manager its own organization a non-admin role."""
    if actor.role != "admin":
        if body.role not in MANAGER_GRANTS:
            raise Forbidden(f"Only the operator's admin keys make {body.role} keys.")
        if body.organization != actor.organization:
            raise Forbidden(f"A manager of {actor.organization} makes keys for its own organization only.")
    org = referenced_organization(session, body.organization)
    secret = new_secret()
    key = ApiKey(
        id=str(uuid.uuid4()),
        organization_pk=org.pk or 0,
        role=body.role,
        name=body.name,
        key_hash=hash_key(secret),
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return ApiKeyCreated(**_read(key, org.code).model_dump(), key=secret)


def list_keys(session: Session, limit: int, cursor: str | None, actor: Principal = OPERATOR) -> Page[ApiKeyRead]:
    """Every key for an admin; a manager's own organization's keys for a manager."""
    after = decode_cursor(cursor, int)
    query = select(ApiKey, Organization.code).join(Organization).order_by(col(ApiKey.pk)).limit(limit + 1)
    if actor.role != "admin":
        query = query.where(col(ApiKey.organization_pk) == actor.organization_pk)
    if after is not None:
        query = query.where(col(ApiKey.pk) > after)
    rows, next_cursor = paginate(list(session.exec(query)), limit, lambda row: row[0].pk or 0)
    return Page(items=[_read(key, code) for key, code in rows], next_cursor=next_cursor)


def revoke_key(session: Session, key_id: str, actor: Principal = OPERATOR) -> ApiKeyRead:
    """Revoke a key: an admin any, a manager its own organization's non-admin keys (others are not found)."""
    row = (
        session.exec(select(ApiKey, Organization.code).join(Organization).where(ApiKey.id == key_id)).first()
        if is_id(key_id)
        else None
    )
    if row is not None and actor.role != "admin" and row[0].organization_pk != actor.organization_pk:
        row = None  # another organization's keys are none of a manager's business, not even their existence
    if row is None:
        raise NotFound(f"No API key has the id {key_id!r}.")
    key, code = row
    if actor.role != "admin" and key.role not in MANAGER_GRANTS:
        raise Forbidden(f"Only the operator's admin keys revoke {key.role} keys.")
    if key.revoked_at is not None:
        raise Conflict("This API key is already revoked.")
    key.revoked_at = utcnow()
    session.add(key)
    session.flush()
    return _read(key, code)


def operator(presented: str, operator_keys: tuple[str, ...]) -> Principal | None:
    """The operator, when ``presented`` is one of its keys (compared in constant time, every one of them)."""
    matched = False
    for operator_key in operator_keys:
        matched |= hmac.compare_digest(presented.encode(), operator_key.encode())
    return OPERATOR if matched else None


def authenticate(session: Session, presented: str | None, operator_keys: tuple[str, ...]) -> Principal:
    """The caller behind a key; 401 without a key this service accepts.

    The operator's keys (``LODESTONE_ADMIN_KEY``, the generated key file) are compared in
    constant time; organization keys are found by the hash of the secret, so the secret is
    never compared, stored or logged.
    """
    if not presented:
        raise Unauthorized("Send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`.")
    principal = operator(presented, operator_keys)
    if principal is not None:
        return principal
    digest = hash_key(presented)
    row = session.connection().execute(_KEY_BY_HASH, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        raise Unauthorized("This API key is not valid.")
    assert row.role in ROLES
    return Principal(role=row.role, organization_pk=row.organization_pk, organization=row.code, key_id=row.id)


# Every request runs it: built once, and only the columns a principal needs.
_KEY_BY_HASH = (
    sa.select(
        col(ApiKey.id), col(ApiKey.role), col(ApiKey.key_hash), col(ApiKey.revoked_at), col(ApiKey.organization_pk),
        col(Organization.code),
    )
    .join(Organization, col(ApiKey.organization_pk) == Organization.pk)
    .where(col(ApiKey.key_hash) == sa.bindparam("digest"))
)  # fmt: skip


class KnownKeys:
    """Principals of organization keys authenticated in the last ``seconds``, for reads to skip the key lookup.

    Per worker; a key's principal is trusted for at most ``seconds`` after the database last said it was valid,
    so a revoked key stops reading on every worker within that bound (``LODESTONE_KEY_CACHE_SECONDS``). Writes
    never use it: they authenticate against the database in their own transaction, so a revoked key never
    writes again. Kept by the key's hash, never its secret; least recently used dropped past ``capacity``.
    Justified by the "remembered SKU answer" and "/v1/lots" rows of BENCHMARKS.md: the lookup was a query per
    request.
    """

    def __init__(self, seconds: float, capacity: int = 4096) -> None:
        self.seconds = seconds
        self._capacity = capacity
        self._known: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, presented: str) -> Principal | None:
        digest = hash_key(presented)
        with self._lock:
            known = self._known.get(digest)
            if known is None:
                return None
            if time.monotonic() - known[0] >= self.seconds:
                del self._known[digest]
                return None
            self._known.move_to_end(digest)
            return known[1]

    def put(self, presented: str, principal: Principal, checked_at: float) -> None:
        """Remember ``principal`` as the database gave it at ``checked_at`` (``time.monotonic()`` before asking)."""
        if self.seconds <= 0 or principal.key_id is None:
            return
        digest = hash_key(presented)
        with self._lock:
            self._known[digest] = (checked_at, principal)
            self._known.move_to_end(digest)
            while len(self._known) > self._capacity:
                self._known.popitem(last=False)
