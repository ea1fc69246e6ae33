"""`imgflow` command line: serve, migrate, export-schema."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imgflow.settings import Settings, ensure_local_secret, get_settings, parse_concurrency


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgflow", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="API + workers + housekeeping in one process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--concurrency",
        type=parse_concurrency,
        default=None,
        help="jobs in flight per queue, e.g. convert=3,rotate=1 (default from settings)",
    )
    serve.set_defaults(run=run_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=run_migrate)

    export = commands.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", "-o", default="schema.graphql", help="file, or - for stdout")
    export.set_defaults(run=run_export_schema)
    return parser


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "concurrency", None) is not None:
        overrides["concurrency"] = args.concurrency
    return get_settings(**overrides)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from imgflow import logs, migrate
    from imgflow.app import create_app

    settings = ensure_local_secret(load_settings(args))
    logs.configure(settings.log_level, settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, ws="websockets-sansio")
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from imgflow import logs, migrate

    settings = load_settings(args)
    logs.configure(settings.log_level, settings.log_json)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    print(f"database is at the latest revision: {settings.resolved_database_url}")
    return 0


def run_export_schema(args: argparse.Namespace) -> int:
    from gql.schema import schema

    text = schema.as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
