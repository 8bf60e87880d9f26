"""The ``lodestone`` command: serve, migrate, demo, openapi."""

import argparse
import json
import os
import sys

from service.config import get_settings


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


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    _migrate()
    key = _admin_key()
    if key is None:
        print("warning: no LODESTONE_ADMIN_KEY and no key file: every /v1 request will answer 401", file=sys.stderr)
    # uvloop and httptools: the event loop and HTTP parser in C, about twice the requests per core.
    # No uvicorn access log: the app writes one JSON line a request (logger `lodestone.access`).
    uvicorn.run(
        "service.asgi:app", host=args.host, port=args.port, workers=args.workers, proxy_headers=True,
        loop="uvloop", http="httptools", access_log=False,
    )  # fmt: skip
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


def cmd_keys_create(args: argparse.Namespace) -> int:
    import hashlib

    from service import api_keys, audit
    from service.access import OPERATOR
    from service.db import create_db_engine, transaction
    from service.errors import LodestoneError
    from service.schemas import ApiKeyCreate

    _migrate()
    body = {"organization": args.organization, "role": args.role, "name": args.name}
    engine = create_db_engine(get_settings())
    try:
        with transaction(engine, write=True) as session:
            created = api_keys.create_key(session, ApiKeyCreate.model_validate(body))
            context = audit.WriteContext(
                actor=OPERATOR,
                request_id="cli",
                body_hash=hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
            )
            audit.append(session, context, "key.created", created.id)
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
    keys = sub.add_parser("keys", help="manage organization API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key for an organization and print its secret once")
    create.add_argument("--organization", required=True)
    create.add_argument("--role", required=True, choices=["admin", "recorder", "auditor", "viewer"])
    create.add_argument("--name", default="created with lodestone keys create")
    create.set_defaults(func=cmd_keys_create)
    sub.add_parser("verify", help="recompute every lot and remaining quantity; exit 1 on any mismatch").set_defaults(
        func=cmd_verify
    )
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
