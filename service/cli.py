"""The ``lodestone`` command: serve, migrate, demo, keys, signing keys, verify attestations, copy, openapi."""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.config import get_settings

if TYPE_CHECKING:
    from service.audit import WriteContext
    from service.signing import Signer


def _migrate() -> None:
    from service.db import create_db_engine
    from service.migrations import upgrade

    engine = create_db_engine(get_settings())
    upgrade(engine)
    engine.dispose()


def _admin_key() -> str | None:
    """The admin key: ``LODESTONE_ADMIN_KEY``, else one generated once beside the SQLite database."""
    from service.auth import ensure_key_file

    settings = get_settings()
    if settings.admin_key:
        return settings.admin_key
    key_file = settings.resolved_key_file()
    return ensure_key_file(key_file) if key_file is not None else None


def cmd_migrate(_args: argparse.Namespace) -> int:
    _migrate()
    print("database migrated to head")
    return 0


def _metrics_dir(workers: int) -> str | None:
    """Where several workers keep the values that any worker's /metrics adds up (service.metrics), emptied
    before they start: the operator's ``PROMETHEUS_MULTIPROC_DIR``, or with several workers a fresh
    directory, set for them and returned to be removed when the server stops."""
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    if workers < 2 or not get_settings().metrics:
        return None
    made = tempfile.mkdtemp(prefix="lodestone-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    return made


def cmd_serve(args: argparse.Namespace) -> int:
    import shutil

    import uvicorn

    from service.signing import SigningKeyError, load_signer

    _migrate()
    try:
        # Made here once (the default file) before the workers start; a bad configured key stops us here.
        load_signer(get_settings())
    except SigningKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    key = _admin_key()
    if key is None:
        print("warning: no LODESTONE_ADMIN_KEY and no key file: every /v1 request will answer 401", file=sys.stderr)
    ignored = get_settings().resolved_key_file()
    if get_settings().admin_key and ignored is not None and ignored.is_file():
        print(f"note: LODESTONE_ADMIN_KEY is set, so the generated key in {ignored} is not accepted", file=sys.stderr)
    # uvloop and httptools: the event loop and HTTP parser in C, about twice the requests per core.
    # No uvicorn access log: the app writes one JSON line a request (logger `lodestone.access`).
    metrics_dir = _metrics_dir(args.workers)
    # Two malloc arenas per worker instead of eight per core: the threads' arenas were a third of a worker's peak
    # memory (BENCHMARKS.md, "Memory"). Read by each worker process as it starts.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    try:
        uvicorn.run(
            "service.asgi:app", host=args.host, port=args.port, workers=args.workers, proxy_headers=True,
            loop="uvloop", http="httptools", access_log=False,
        )  # fmt: skip
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def cmd_demo(_args: argparse.Namespace) -> int:
    from service.db import create_db_engine
    from service.demo import load_demo

    _migrate()
    engine = create_db_engine(get_settings())
    loaded = load_demo(engine)
    engine.dispose()
    print("demo supply chain loaded" if loaded else "database is not empty: demo not loaded")
    return 0


def cmd_verify(_args: argparse.Namespace) -> int:
    from service.db import create_db_engine, transaction
    from service.verify import verify

    engine = create_db_engine(get_settings())
    with transaction(engine, write=False) as session:
        report = verify(session)
    engine.dispose()
    for mismatch in report.mismatches:
        print(mismatch)
    verdict = "ok" if report.ok else f"{len(report.mismatches)} mismatches"
    print(f"verified {report.events} events and {report.lots} lots: {verdict}")
    return 0 if report.ok else 1


def cmd_copy(args: argparse.Namespace) -> int:
    from service.database_copy import CopyError, copy_database

    try:
        report = copy_database(get_settings().database_url, args.to)
    except CopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.summary()))
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from service import api_keys, audit
    from service.db import create_db_engine, transaction
    from service.errors import LodestoneError
    from service.schemas import ApiKeyCreate

    _migrate()
    body = {"organization": args.organization, "role": args.role, "name": args.name}
    engine = create_db_engine(get_settings())
    try:
        with transaction(engine, write=True) as session:
            created = api_keys.create_key(session, ApiKeyCreate.model_validate(body))
            audit.append(session, _operator_context(body), "key.created", created.id)
    except (LodestoneError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"key {created.id} for {created.organization} as {created.role} (shown once, keep it safe):")
    print(created.key)
    return 0


def cmd_key(_args: argparse.Namespace) -> int:
    key = _admin_key()
    if key is None:
        print("no admin key: set LODESTONE_ADMIN_KEY", file=sys.stderr)
        return 1
    print(key)
    return 0


def _operator_context(body: dict[str, Any]) -> "WriteContext":
    """What the audit trail keeps about a write made with this command: the operator, no request."""
    import hashlib

    from service import audit
    from service.access import OPERATOR

    body_hash = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return audit.WriteContext(actor=OPERATOR, request_id="cli", body_hash=body_hash)


def _read_attestation(source: str) -> str:
    """The compact JWS in ``source`` (a path, or ``-`` for stdin): bare, or the ``jws`` of a JSON object."""
    from service.signing import VerificationError

    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerificationError(f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}") from exc
    text = text.strip()
    if not text.startswith("{"):
        return text
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise VerificationError(f"{source} is neither a compact JWS nor JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("jws"), str):
        raise VerificationError(f"{source} is JSON without a `jws` string")
    return str(body["jws"])


def _read_jwks(source: str) -> dict[str, Any]:
    """The JWKS at ``source``: an http(s) URL (``/.well-known/jwks.json``) or a file."""
    import urllib.error
    import urllib.request

    from service.signing import VerificationError

    try:
        if source.startswith(("http://", "https://")):
            request = urllib.request.Request(source, headers={"Accept": "application/json"})  # noqa: S310
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the scheme is checked above)
                text = response.read().decode("utf-8")
        else:
            text = Path(source).read_text(encoding="utf-8")
    except urllib.error.HTTPError as exc:
        raise VerificationError(f"cannot fetch the JWKS from {source}: HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise VerificationError(f"cannot fetch the JWKS from {source}: {exc.reason}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise VerificationError(f"cannot read the JWKS {source}: {getattr(exc, 'strerror', None) or exc}") from exc
    try:
        keys = json.loads(text)
    except ValueError as exc:
        raise VerificationError(f"the JWKS {source} is not JSON") from exc
    if not isinstance(keys, dict) or not isinstance(keys.get("keys"), list):
        raise VerificationError(f"the JWKS {source} has no `keys` list")
    return keys


def _database_jwks() -> dict[str, Any]:
    """Every key the configured database has published and not revoked (attestations are signed once it is)."""
    from sqlalchemy.exc import SQLAlchemyError

    from service import signing
    from service.db import create_db_engine, transaction

    engine = create_db_engine(get_settings())
    try:
        with transaction(engine, write=False) as session:
            return signing.jwks(session, None)
    except SQLAlchemyError as exc:
        raise signing.VerificationError(f"cannot read the signing keys of the database: {exc}") from exc
    finally:
        engine.dispose()


def _shown(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def cmd_attestation_verify(args: argparse.Namespace) -> int:
    from service import signing

    try:
        token = _read_attestation(args.file)
        keys = _read_jwks(args.jwks) if args.jwks else _database_jwks()
        payload = signing.verify(token, keys)
    except signing.VerificationError as exc:
        print(f"not verified: {exc}", file=sys.stderr)
        return 1
    print(f"verified: signed by key {signing.kid_of(token)}")
    for name in ("subject", "issued_at", "as_of"):
        print(f"{name}: {_shown(payload.get(name))}")
    print("answer:")
    print(json.dumps(payload.get("answer"), indent=2, ensure_ascii=False))
    return 0


def _signer_or_none() -> "Signer | None":
    from service.signing import load_signer

    signer = load_signer(get_settings())
    if signer is None:
        print("no signing key: set LODESTONE_SIGNING_KEY (PostgreSQL has no default place for one)", file=sys.stderr)
    return signer


def cmd_signing_key_show(_args: argparse.Namespace) -> int:
    from service.signing import SigningKeyError

    try:
        signer = _signer_or_none()
    except SigningKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if signer is None:
        return 1
    print(f"kid: {signer.kid}")
    print(json.dumps(dict(signer.public_jwk), indent=2))
    return 0


def cmd_signing_key_rotate(_args: argparse.Namespace) -> int:
    from service import audit, signing
    from service.db import create_db_engine, transaction

    _migrate()
    try:
        old = _signer_or_none()
        if old is None:
            return 1
        path = get_settings().resolved_signing_key_file()
        assert path is not None
        engine = create_db_engine(get_settings())
        try:
            # The old key is published before its file goes, so what it signed always verifies.
            with transaction(engine, write=True) as session:
                signing.publish(session, old)
            old, new = signing.rotate_key_file(path)
            with transaction(engine, write=True) as session:
                signing.register(session, new)
                context = _operator_context({"rotated": old.kid, "to": new.kid})
                audit.append(session, context, "signing_key.rotated", new.kid)
        finally:
            engine.dispose()
    except (signing.SigningKeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"retired key {old.kid}: kept as {path}.{old.kid}.retired, still in the JWKS, so what it signed verifies")
    print(f"new key {new.kid} in {path}")
    print("running servers sign with the new key after a restart")
    return 0


def cmd_signing_key_revoke(args: argparse.Namespace) -> int:
    from service import audit, signing
    from service.db import create_db_engine, transaction
    from service.errors import LodestoneError

    _migrate()
    engine = create_db_engine(get_settings())
    try:
        current = signing.load_signer(get_settings(), generate=False)
        with transaction(engine, write=True) as session:
            revoked = signing.revoke(session, args.kid, current)
            audit.append(session, _operator_context({"revoked": args.kid}), "signing_key.revoked", args.kid)
    except (LodestoneError, signing.SigningKeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    assert revoked.revoked_at is not None
    print(f"key {revoked.kid} revoked at {revoked.revoked_at.isoformat()}: it left the JWKS")
    print("attestations it signed no longer verify")
    if current is not None and current.kid == revoked.kid:
        print(
            "it is the configured signing key: nothing can be signed until `lodestone signing-key rotate` and a restart"
        )
    return 0


def cmd_signing_key_list(_args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from service import signing
    from service.db import create_db_engine, transaction

    engine = create_db_engine(get_settings())
    try:
        with transaction(engine, write=False) as session:
            keys = signing.signing_keys(session)
    except SQLAlchemyError as exc:
        print(f"error: cannot read the signing keys (run `lodestone migrate`?): {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"{'kid':<43}  {'created':<25}  revoked")
    for key in keys:
        revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-"
        print(f"{key.kid:<43}  {key.created_at.isoformat(timespec='seconds'):<25}  {revoked}")
    return 0


def cmd_openapi(_args: argparse.Namespace) -> int:
    from service.app import create_app

    print(json.dumps(create_app().openapi(), indent=2, sort_keys=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lodestone", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply the database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="load the demo supply chain into an empty database").set_defaults(func=cmd_demo)
    sub.add_parser("key", help="print the admin API key (generated once beside a SQLite database)").set_defaults(
        func=cmd_key
    )
    sub.add_parser("openapi", help="print the OpenAPI document").set_defaults(func=cmd_openapi)
    copy = sub.add_parser("copy", help="copy the whole database into an empty one, e.g. from SQLite to PostgreSQL")
    copy.add_argument("--to", required=True, metavar="URL", help="the target, e.g. postgresql+psycopg://u:p@host/db")
    copy.set_defaults(func=cmd_copy)
    keys = sub.add_parser("keys", help="manage organization API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key for an organization and print its secret once")
    create.add_argument("--organization", required=True)
    create.add_argument("--role", required=True, choices=["admin", "manager", "recorder", "auditor", "viewer"])
    create.add_argument("--name", default="created with lodestone keys create")
    create.set_defaults(func=cmd_keys_create)
    sub.add_parser("verify", help="recompute every lot and remaining quantity; exit 1 on any mismatch").set_defaults(
        func=cmd_verify
    )
    attestation = sub.add_parser("attestation", help="check signed attestations").add_subparsers(
        dest="attestation_command", required=True
    )
    verify_attestation = attestation.add_parser(
        "verify", help="check an attestation's signature against the published keys; exit 1 if it does not hold"
    )
    verify_attestation.add_argument(
        "file", metavar="FILE", help="a compact JWS, or JSON with a `jws` field; - for stdin"
    )
    verify_attestation.add_argument(
        "--jwks", metavar="FILE|URL", help="the keys: a file or an http(s) URL; default the database's keys"
    )
    verify_attestation.set_defaults(func=cmd_attestation_verify)
    signing_key = sub.add_parser("signing-key", help="the key that signs attestations").add_subparsers(
        dest="signing_key_command", required=True
    )
    signing_key.add_parser("show", help="print the current key's kid and public JWK").set_defaults(
        func=cmd_signing_key_show
    )
    signing_key.add_parser(
        "rotate", help="sign with a new key from the next restart; the old one keeps verifying"
    ).set_defaults(func=cmd_signing_key_rotate)
    revoke = signing_key.add_parser("revoke", help="withdraw a key: what it signed stops verifying")
    revoke.add_argument("kid", metavar="KID")
    revoke.set_defaults(func=cmd_signing_key_revoke)
    signing_key.add_parser("list", help="every key that has signed: kid, created, revoked").set_defaults(
        func=cmd_signing_key_list
    )
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # The reader stopped early (`lodestone attestation verify F | head`): not a failure. Python's
        # documented way out: point stdout at /dev/null so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
