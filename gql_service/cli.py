"""The command line: serve, export-schema, token, seed-demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from gql_service.config import Settings
from gql_service.observability.logging import configure_logging

logger = logging.getLogger(__name__)

EXIT_CONFIG = 2


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; an invalid one ends the process, named."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            name = "GQL_SERVICE_" + "_".join(str(p) for p in error["loc"][:1]).upper()
            print(f"Invalid setting {name}: {error['msg']}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gql_service.app import create_app
    from gql_service.runtime import ConfigurationError, build_runtime

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    settings = load_settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    try:
        runtime = build_runtime(settings)
        app = create_app(runtime, demo=args.demo, freeze_heap=True)
    except ConfigurationError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _announce(settings, args.demo)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # uvicorn's own lines go through our handler: same format, request ids.
        log_config=None,
        proxy_headers=False,
        # Per-connection deflate state costs hundreds of KiB per subscriber
        # for event messages of a few hundred bytes.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    return 0


def _announce(settings: Settings, demo: bool) -> None:
    from gql_service.auth.tokens import issue_token
    from gql_service.demo import DEMO_USERS
    from gql_service.runtime import signing_secret

    url = f"http://{settings.host}:{settings.port}/graphql"
    print(f"\nService Collections GraphQL API on {url}", flush=True)
    secret = signing_secret(settings)
    if not demo or secret is None:
        return
    print(
        "Demo bearer tokens (valid 12 hours; paste as 'Authorization: Bearer <token>'):"
    )
    for subject, admin in DEMO_USERS:
        token = issue_token(
            secret,
            subject,
            admin=admin,
            ttl_seconds=12 * 3600,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        role = " (admin)" if admin else ""
        print(f"  {subject}{role}:\n    {token}")
    print(flush=True)


def _export_schema(_args: argparse.Namespace) -> int:
    from gql_service.api.schema import export_sdl

    sys.stdout.write(export_sdl())
    return 0


def _token(args: argparse.Namespace) -> int:
    from gql_service.auth.local_secret import read_secret
    from gql_service.auth.tokens import issue_token

    settings = load_settings()
    if settings.jwt_secret is not None:
        secret = settings.jwt_secret.get_secret_value()
    else:
        found = read_secret(settings.secret_file)
        if found is None:
            print(
                "No signing secret: set GQL_SERVICE_JWT_SECRET, or run "
                "'gql-service serve' once to create a local one.",
                file=sys.stderr,
            )
            return EXIT_CONFIG
        secret = found
    if args.subject.startswith("group:") or not args.subject.strip():
        print("SUBJECT must be a user, not a group.", file=sys.stderr)
        return EXIT_CONFIG
    print(
        issue_token(
            secret,
            args.subject,
            groups=args.group,
            admin=args.admin,
            ttl_seconds=args.ttl,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )
    return 0


def _seed_demo(_args: argparse.Namespace) -> int:
    from gql_service.demo import seed_demo
    from gql_service.runtime import build_runtime

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    if settings.uses_embedded_store:
        print(
            "GQL_SERVICE_MONGODB_URI is not set: the embedded store lives inside "
            "one process, so use 'gql-service serve --demo' instead.",
            file=sys.stderr,
        )
        return EXIT_CONFIG

    async def run() -> bool:
        runtime = build_runtime(settings)
        try:
            await runtime.start(hub=False)
            return await seed_demo(runtime.services)
        finally:
            await runtime.stop()

    loaded = asyncio.run(run())
    print("Demo data loaded." if loaded else "Demo data was already there.")
    return 0


def _fake_vultr(args: argparse.Namespace) -> int:
    from gql_service.vultr.fake import FAKE_API_KEY, run_fake

    print(
        f"Fake Vultr API on http://{args.host}:{args.port}/v2 (key: {FAKE_API_KEY}); "
        f"point GQL_SERVICE_VULTR_API_URL there.",
        flush=True,
    )
    run_fake(args.host, args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gql-service", description="Service Collections GraphQL API"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API")
    serve.add_argument("--host", help="address to bind (GQL_SERVICE_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (GQL_SERVICE_PORT)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load the demo data, enable introspection and print demo tokens",
    )
    serve.set_defaults(handler=_serve)

    export = commands.add_parser("export-schema", help="print the GraphQL SDL")
    export.set_defaults(handler=_export_schema)

    token = commands.add_parser("token", help="sign a bearer token (HS256)")
    token.add_argument("subject", help="the token's sub, usually an e-mail")
    token.add_argument("--group", action="append", default=[], help="a group; repeat")
    token.add_argument("--admin", action="store_true", help="add the admin role")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.set_defaults(handler=_token)

    seed = commands.add_parser("seed-demo", help="load the demo data into MongoDB")
    seed.set_defaults(handler=_seed_demo)

    fake = commands.add_parser("fake-vultr", help="serve a fake Vultr API for demos")
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=8790)
    fake.set_defaults(handler=_fake_vultr)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
