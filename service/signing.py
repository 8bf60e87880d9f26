"""Signing attestations: the service's Ed25519 key, the public keys that verify it (JWKS), and verification.

An attestation is a compact JWS (RFC 7515) whose protected header is ``{"alg": "EdDSA", "kid": <kid>,
"typ": "JOSE"}`` and whose payload is the answer as UTF-8 JSON. ``kid`` is the RFC 7638 thumbprint of
the public key (base64url SHA-256), so it names the key itself and cannot be reused for another.

The private key lives in a PEM file (PKCS #8), never in the database; the ``signing_key`` table keeps
every public key that has signed, so attestations stay verifiable after a rotation. A revoked key
leaves the JWKS, and what it signed no longer verifies.
"""

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwa import EdDSAAlgorithm
from joserfc.jwk import OKPKey
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from service.config import Settings
from service.db import utcnow
from service.errors import NotFound, Unavailable
from service.models import SigningKey

ALGORITHM = "EdDSA"
CURVE: Final[Literal["Ed25519"]] = "Ed25519"
HEADER_TYPE = "JOSE"
# joserfc refuses payloads over 128 kB by default; a SKU's answer listing hundreds of lots is larger.
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024


class _EdDSA(EdDSAAlgorithm):
    # RFC 9864 prefers the fully specified "Ed25519" to "EdDSA", and joserfc warns on every use of the
    # latter; "EdDSA" is what verifiers in every language accept today, and the key is always Ed25519.
    security_warning = None  # type: ignore[assignment]


class _Registry(jws.JWSRegistry):
    """EdDSA only (never ``none`` nor an HMAC a public key could be fed to), and room for large answers."""

    algorithms = {ALGORITHM: _EdDSA()}  # noqa: RUF012  (joserfc's class attribute, replaced here)
    recommended = [ALGORITHM]  # noqa: RUF012
    max_payload_length = MAX_PAYLOAD_BYTES


_REGISTRY = _Registry(algorithms=[ALGORITHM])
SIGNING_KEY = SQLModel.metadata.tables["signing_key"]


class SigningKeyError(Exception):
    """The configured key file is missing, unreadable, or not an Ed25519 private key: the service cannot start."""


class VerificationError(ValueError):
    """An attestation that does not verify; the message says why."""


@dataclass(frozen=True, eq=False)
class Signer:
    """The service's private key, and what verifiers are told of it."""

    key: OKPKey = field(repr=False)
    kid: str
    public_jwk: Mapping[str, str]

    @classmethod
    def from_key(cls, key: OKPKey) -> "Signer":
        kid = key.thumbprint()
        public = key.as_dict(private=False)
        jwk = {"kty": "OKP", "crv": CURVE, "x": str(public["x"]), "kid": kid, "alg": ALGORITHM, "use": "sig"}
        return cls(key=key, kid=kid, public_jwk=jwk)

    def sign(self, payload: Mapping[str, Any]) -> str:
        """A compact JWS of ``payload`` (already JSON types) as compact UTF-8 JSON, keys in the given order."""
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=False).encode()
        header = {"alg": ALGORITHM, "kid": self.kid, "typ": HEADER_TYPE}
        return jws.serialize_compact(header, body, self.key, registry=_REGISTRY)


def load_key_file(path: Path) -> Signer:
    """The signer whose private key is the PEM file at ``path``; ``SigningKeyError`` if it is not one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningKeyError(f"signing key {path}: no such file (it must be an Ed25519 private key in PEM)") from None
    except OSError as exc:
        raise SigningKeyError(f"signing key {path}: cannot be read: {exc.strerror}") from exc
    try:
        key = OKPKey.import_key(data)
    except (JoseError, ValueError, TypeError) as exc:
        raise SigningKeyError(f"signing key {path}: not an Ed25519 private key in PEM") from exc
    if not key.is_private or key.curve_name != CURVE:
        raise SigningKeyError(f"signing key {path}: not an Ed25519 private key in PEM")
    return Signer.from_key(key)


def _new_key_file(beside: Path) -> Path:
    """A new Ed25519 key (PKCS #8 PEM) in a temporary file of mode 600 beside ``beside``, on disk."""
    pem = OKPKey.generate_key(CURVE, auto_kid=False).as_pem(private=True)
    fd, name = tempfile.mkstemp(dir=beside.parent, prefix=f".{beside.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_key_file(path: Path) -> Signer:
    """The key at ``path``, generated first if there is none.

    Creation is exclusive, like ``O_EXCL``, but the name appears only once the key is complete on
    disk (a hard link from a finished temporary file): when several workers start at once, one
    link wins, the others find it taken and read the winner's key, never half of one.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        made = _new_key_file(path)
        try:
            os.link(made, path)
        except FileExistsError:
            pass
        finally:
            made.unlink()
        _sync_directory(path.parent)
    return load_key_file(path)


def rotate_key_file(path: Path) -> tuple[Signer, Signer]:
    """Replace the key at ``path`` with a new one, keeping the old as ``<path>.<old kid>.retired``: (old, new)."""
    old = load_key_file(path)
    retired = path.with_name(f"{path.name}.{old.kid}.retired")
    # The name holds the key's thumbprint: if it exists, it is this very key, kept by an earlier attempt.
    with contextlib.suppress(FileExistsError):
        os.link(path, retired)
    retired.chmod(0o600)
    os.replace(_new_key_file(path), path)
    _sync_directory(path.parent)
    return old, load_key_file(path)


def load_signer(settings: Settings, *, generate: bool = True) -> Signer | None:
    """The service's signer: ``LODESTONE_SIGNING_KEY``, which must exist, or the default file.

    The default (``signing-key.pem`` beside the key file or the SQLite database) is generated on
    first use unless ``generate`` is false; None when there is no path (PostgreSQL, nothing
    configured) or, without ``generate``, no file yet.
    """
    path = settings.resolved_signing_key_file()
    if path is None:
        return None
    if settings.signing_key is not None:
        return load_key_file(path)
    if generate:
        return ensure_key_file(path)
    return load_key_file(path) if path.exists() else None


def publish(session: Session, signer: Signer) -> None:
    """Add the signer's public key to ``signing_key`` unless there (revoked or not); racing writers add one row."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(SIGNING_KEY).values(kid=signer.kid, public_jwk=dict(signer.public_jwk), created_at=utcnow())
    session.execute(statement.on_conflict_do_nothing(index_elements=["kid"]))


def register(session: Session, signer: Signer) -> None:
    """Make sure the signer's public key is published; ``Unavailable`` (503) if it was revoked."""
    stored = session.exec(select(SigningKey).where(SigningKey.kid == signer.kid)).first()
    if stored is None:
        publish(session, signer)
        stored = session.exec(select(SigningKey).where(SigningKey.kid == signer.kid)).one()
    if stored.revoked_at is not None:
        raise Unavailable(
            f"The configured signing key {signer.kid} was revoked at {stored.revoked_at.isoformat()}: nothing "
            "can be signed until a new key is configured (`lodestone signing-key rotate`, then restart)."
        )


def signing_keys(session: Session) -> Sequence[SigningKey]:
    """Every public key that was registered, revoked or not, newest first."""
    return session.exec(select(SigningKey).order_by(col(SigningKey.created_at).desc(), col(SigningKey.kid))).all()


def jwks(session: Session, signer: Signer | None) -> dict[str, Any]:
    """The JWKS: every key not revoked, and the current signer's until it is registered, newest first."""
    stored = signing_keys(session)
    keys = [dict(row.public_jwk) for row in stored if row.revoked_at is None]
    if signer is not None and all(row.kid != signer.kid for row in stored):
        keys.insert(0, dict(signer.public_jwk))
    return {"keys": keys}


def revoke(session: Session, kid: str, current: Signer | None = None) -> SigningKey:
    """Revoke a key: it leaves the JWKS and what it signed stops verifying. ``NotFound`` for an unknown kid.

    The current signer's key counts as known even before it is registered.
    """
    if current is not None and current.kid == kid:
        publish(session, current)
    stored = session.exec(
        select(SigningKey).where(SigningKey.kid == kid).with_for_update().execution_options(populate_existing=True)
    ).first()
    if stored is None:
        raise NotFound(f"No signing key {kid}.")
    if stored.revoked_at is None:
        stored.revoked_at = utcnow()
        session.add(stored)
        session.flush()
    return stored


def kid_of(token: str) -> str | None:
    """The ``kid`` a compact JWS's protected header names, unverified; None if there is none to read."""
    try:
        kid = jws.extract_compact(token.strip().encode("ascii"), registry=_REGISTRY).headers().get("kid")
    except (JoseError, ValueError):
        return None
    return kid if isinstance(kid, str) else None


def verify(token: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """The payload of an attestation signed by a key of ``jwks``; ``VerificationError`` saying why not."""
    try:
        signed = jws.extract_compact(token.strip().encode("ascii"), registry=_REGISTRY)
    except (JoseError, ValueError) as exc:
        raise VerificationError(f"malformed JWS: not a compact JWS ({exc})") from exc
    header = signed.headers()
    if header.get("alg") != ALGORITHM:
        raise VerificationError(f"wrong algorithm {header.get('alg')!r}: attestations are signed with {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise VerificationError("malformed JWS: its header names no key (kid)")
    published = [key for key in jwks.get("keys", []) if isinstance(key, Mapping) and key.get("kid") == kid]
    if not published:
        raise VerificationError(f"unknown key {kid}: not in the JWKS (never published, or revoked)")
    try:
        key = OKPKey.import_key(dict(published[0]))
    except (JoseError, ValueError, TypeError) as exc:
        raise VerificationError(f"key {kid} of the JWKS is not an OKP public key ({exc})") from exc
    if key.curve_name != CURVE:
        raise VerificationError(f"key {kid} of the JWKS is not an Ed25519 key")
    try:
        verified = jws.validate_compact(signed, key, registry=_REGISTRY)
    except (JoseError, ValueError, TypeError) as exc:
        raise VerificationError(f"key {kid} of the JWKS cannot verify EdDSA signatures ({exc})") from exc
    if not verified:
        raise VerificationError(f"bad signature: not signed by key {kid} as published, or changed since it was signed")
    try:
        payload = json.loads(signed.payload)
    except ValueError as exc:
        raise VerificationError("the signed payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise VerificationError("the signed payload is not a JSON object")
    return payload
