"""The ``zpd`` command line.

    zpd serve [--host H] [--port P]   run the service (SQLite ./zpd.db unless ZPD_DATABASE_URL)
    zpd migrate [--revision R]        upgrade (or downgrade) the database schema
    zpd replay RUN_ID [--write]       rebuild a run's state from its stored reports
    zpd keys create|list|revoke       API keys of tenants

More commands come from installed packages through the ``zpd.commands`` entry-point
group (e.g. ``zpd simulate`` from ``trainer_client``): each entry point is a function
``register_command(subparsers)`` that adds its subparser and sets ``func``. An entry point
is loaded only when its own subcommand runs, or to list every command (``zpd --help``, an
unknown command): ``zpd serve`` loads none of them, so nothing a worker imports (torch, vLLM,
transformers) can reach the service's process.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points

from service import __version__
from service.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.auth import keys_required
    from service.db.engine import create_db_engine
    from service.db.schema import SchemaError, ensure_schema
    from service.db.transaction import Database

    settings = Settings()
    engine = create_db_engine(settings)
    try:
        ensure_schema(engine, settings.database_url, settings.auto_migrate)
        open_service = not keys_required(Database(engine))
    except SchemaError as exc:
        print(f"zpd serve: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if (
        open_service
        and not _is_loopback(args.host)
        and not (args.allow_open or settings.allow_open)
    ):
        print(
            f"zpd serve: refusing to serve {args.host} without API keys: anyone who can reach it "
            "could read and change every run. Create a key (`zpd keys create --tenant NAME`), "
            "or pass --allow-open (ZPD_ALLOW_OPEN=true) if the network is trusted.",
            file=sys.stderr,
        )
        return 2
    print(f"zpd: serving on http://{args.host}:{args.port} (database: {_safe_url(settings)})")
    print(f"zpd: API docs at http://{args.host}:{args.port}/docs", flush=True)
    uvicorn.run(
        "service.api.app:serve_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        # open dashboard event streams would otherwise hold a shutdown for a minute
        timeout_graceful_shutdown=3,
    )
    return 0


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _keys(args: argparse.Namespace) -> int:
    from service import auth
    from service.db.engine import create_db_engine
    from service.db.schema import SchemaError, ensure_schema
    from service.db.transaction import Database
    from service.errors import ZPDError

    settings = Settings()
    engine = create_db_engine(settings)
    db = Database(engine)
    try:
        ensure_schema(engine, settings.database_url, settings.auto_migrate)
        if args.keys_command == "create":
            kind = "read" if args.read_only else "write"
            key, info = auth.create_key(db, args.tenant, kind, args.name)
            print(
                f"created {kind} key {info.key_id} for tenant {info.tenant!r}; "
                "it is shown only now:"
            )
            print(key)
        elif args.keys_command == "revoke":
            info = auth.revoke_key(db, args.key_id)
            print(f"revoked key {info.key_id} (tenant {info.tenant!r})")
        else:
            for info in auth.list_keys(db):
                state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
                print(f"{info.key_id}  {info.tenant:<20} {info.kind:<6} {state:<24} {info.name}")
    except (SchemaError, ZPDError) as exc:
        print(f"zpd keys: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


def _migrate(args: argparse.Namespace) -> int:
    from alembic import command

    from service.db.schema import alembic_config

    settings = Settings()
    config = alembic_config(settings.database_url)
    if args.revision.startswith("-") or args.downgrade:
        command.downgrade(config, args.revision)
    else:
        command.upgrade(config, args.revision)
    print(f"zpd migrate: {_safe_url(settings)} is at {args.revision}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from service.db.engine import create_db_engine
    from service.db.schema import SchemaError, ensure_schema
    from service.db.transaction import Database
    from service.domain.replay import replay_run
    from service.errors import ZPDError

    settings = Settings()
    engine = create_db_engine(settings)
    try:
        ensure_schema(engine, settings.database_url, auto_migrate=False)
        result = replay_run(Database(engine), args.run_id, write=args.write)
    except (SchemaError, ZPDError) as exc:
        print(f"zpd replay: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"run {result.run_id}: replayed {result.reports} reports and {result.samples} samples")
    if result.matches:
        print("stored state matches the replay exactly")
        return 0
    for difference in result.differences:
        print(f"  differs: {difference}")
    if args.write:
        print("stored state rewritten from the replay")
        return 0
    print("run again with --write to store the replayed state")
    return 1


def _unavailable(name: str, exc: ImportError) -> Callable[[argparse.Namespace], int]:
    def explain(_args: argparse.Namespace) -> int:
        print(f"zpd {name}: not available here ({exc}); install its extra", file=sys.stderr)
        return 2

    return explain


BUILTIN_COMMANDS = ("serve", "migrate", "replay", "keys")


def _requested_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (the first word that is not an option), if any."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``zpd`` parser for `argv`: with the entry point of the command it names, or of
    every command when it names none or an unknown one (``argv=None``: every command)."""
    wanted = None if argv is None else _requested_command(argv)
    parser = argparse.ArgumentParser(prog="zpd", description="ZPD: curriculum as a service.")
    parser.add_argument("--version", action="version", version=f"zpd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=False)
    serve.add_argument(
        "--allow-open",
        action="store_true",
        help="serve a non-loopback address without API keys (trusted networks only)",
    )
    serve.set_defaults(func=_serve)

    migrate = sub.add_parser("migrate", help="upgrade the database schema (ZPD_DATABASE_URL)")
    migrate.add_argument("--revision", default="head", help="target revision (default head)")
    migrate.add_argument("--downgrade", action="store_true", help="downgrade to --revision")
    migrate.set_defaults(func=_migrate)

    replay = sub.add_parser("replay", help="rebuild a run's state from its stored reports")
    replay.add_argument("run_id")
    replay.add_argument("--write", action="store_true", help="store the rebuilt state")
    replay.set_defaults(func=_replay)

    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key (printed once)")
    create.add_argument("--tenant", required=True, help="the tenant the key acts for")
    create.add_argument("--read-only", action="store_true", help="read-only (dashboards)")
    create.add_argument("--name", default="", help="a note to recognise the key by")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    keys_sub.add_parser("list", help="list keys (never the keys themselves)")
    keys.set_defaults(func=_keys)

    commands = entry_points(group="zpd.commands")
    known = wanted in BUILTIN_COMMANDS or wanted in commands.names
    for entry in commands:
        if known and entry.name != wanted:
            continue  # another command's module is not imported
        try:
            register = entry.load()
        except ImportError as exc:  # an optional extra that is not installed
            missing = sub.add_parser(entry.name, help=f"(unavailable: {exc})")
            missing.set_defaults(func=_unavailable(entry.name, exc))
            continue
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``zpd`` command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
