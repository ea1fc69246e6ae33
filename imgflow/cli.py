"""`imgflow` command line.

serve          API + workers + housekeeping in one process (any backends)
api            the GraphQL API alone
worker         queue consumers alone (health endpoints on --port)
cron           housekeeping on arq (needs Redis)
create-user    create an account (--admin: an operator)
migrate        bring the database schema up to date
export-schema  write the GraphQL SDL
submit         process an image: upload, follow the job live, download the result
jobs           list your recent jobs
login          sign in to an API and remember the token (--register: create the account)
logout         forget the stored token
loadtest       the reference load test, through the public API
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from imgflow.concurrency import AUTO, Concurrency, SlotRange, parse_concurrency
from imgflow.domain import QueueName

if TYPE_CHECKING:
    from imgflow.app import Roles
    from imgflow.settings import Settings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgflow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="API + workers + housekeeping in one process")
    add_http_options(serve, with_concurrency=True)
    serve.set_defaults(run=run_serve)

    api = commands.add_parser("api", help="the GraphQL API alone")
    add_http_options(api, with_concurrency=False)
    api.set_defaults(run=run_api)

    worker = commands.add_parser("worker", help="queue consumers (health on --port)")
    add_http_options(worker, with_concurrency=True, default_port=8001)
    worker.add_argument(
        "--queues",
        type=parse_queues,
        default=None,
        help="consume only these queues, e.g. convert,resize (default: all)",
    )
    worker.set_defaults(run=run_worker)

    cron = commands.add_parser("cron", help="housekeeping on arq's scheduler (needs Redis)")
    cron.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if a cron's scheduler is running (its health key is fresh in Redis), "
        "else 1: a liveness probe",
    )
    cron.set_defaults(run=run_cron)

    create_user = commands.add_parser("create-user", help="create an account (--admin: operator)")
    create_user.add_argument("email")
    create_user.add_argument("--admin", action="store_true", help="give it the admin role")
    create_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin (default: ask)"
    )
    create_user.set_defaults(run=run_create_user)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=run_migrate)

    export = commands.add_parser("export-schema", help="write the GraphQL SDL")
    export.add_argument("--output", "-o", default="schema.graphql", help="file, or - for stdout")
    export.set_defaults(run=run_export_schema)

    from imgflow.client.commands import add_commands

    add_commands(commands)  # submit, jobs, login, logout

    from loadtest import command as loadtest

    load = commands.add_parser("loadtest", help="the reference load test, via the public API")
    loadtest.add_arguments(load)
    load.set_defaults(run=loadtest.run)
    for command in commands.choices.values():
        command.formatter_class = ShowDefaults
    return parser


class ShowDefaults(argparse.HelpFormatter):
    """`--help` gives each option's default, unless it has none or its help names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)".strip()


def add_http_options(
    parser: argparse.ArgumentParser, *, with_concurrency: bool, default_port: int = 8000
) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=default_port, help="port to listen on")
    if with_concurrency:
        parser.add_argument(
            "--concurrency",
            type=parse_concurrency,
            default=None,
            help="jobs in flight per queue, e.g. convert=3,rotate=1, or auto: slots follow"
            " the queues (IMGFLOW_TOTAL_SLOTS, IMGFLOW_QUEUE_SLOTS) (default from settings)",
        )


def parse_queues(text: str) -> set[QueueName]:
    try:
        return {QueueName(name.strip().upper().replace("-", "_")) for name in text.split(",")}
    except ValueError:
        choices = ",".join(q.value.lower() for q in QueueName)
        raise argparse.ArgumentTypeError(f"queues are {choices}") from None


def load_settings(args: argparse.Namespace) -> Settings:
    from imgflow import logs

    overrides: dict[str, object] = {}
    concurrency = getattr(args, "concurrency", None)
    if concurrency is not None:
        overrides["concurrency"] = concurrency
    queues = getattr(args, "queues", None)
    if queues is not None:
        overrides.update(only_queues(concurrency or settings_or_exit().concurrency, queues))
    settings = settings_or_exit(**overrides)
    logs.configure(settings.log_level, settings.log_json)
    require_readable_presets(settings)
    return settings


def settings_or_exit(**overrides: object) -> Settings:
    """The settings from the environment, or an exit naming each bad IMGFLOW_* variable
    (not a traceback). Imported here: the client commands (submit, jobs, login...) never
    read the server's settings, and pydantic-settings was 0.2 s of each one's start."""
    from pydantic import ValidationError

    from imgflow.settings import get_settings

    try:
        return get_settings(**overrides)
    except ValidationError as error:
        problems = (f"{variable(e['loc'])}: {e['msg']}" for e in error.errors())
        raise SystemExit("\n".join(problems)) from None


def variable(location: tuple[int | str, ...]) -> str:
    """The environment variable a setting's error is about (none: the settings together)."""
    return "IMGFLOW_" + "_".join(map(str, location)).upper() if location else "settings"


def require_readable_presets(settings: Settings) -> None:
    """A bad presets file stops every command at once, saying what is wrong (a process
    serving some presets but not others would fail submissions at random)."""
    from imgflow.services import shared_presets

    try:
        shared_presets(settings)
    except (OSError, ValueError) as error:
        raise SystemExit(f"IMGFLOW_PRESETS_FILE: {error}") from None


def only_queues(concurrency: Concurrency, queues: set[QueueName]) -> dict[str, object]:
    """The overrides that leave the queues not in `queues` without slots."""
    if isinstance(concurrency, dict):
        return {"concurrency": {q: (n if q in queues else 0) for q, n in concurrency.items()}}
    ranges = settings_or_exit(concurrency=AUTO).queue_slots
    idle = SlotRange(0, 0)
    return {"queue_slots": {q: (r if q in queues else idle) for q, r in ranges.items()}}


def require_shared_broker(settings: Settings, command: str) -> None:
    if settings.broker_url.startswith("memory"):
        raise SystemExit(
            f"imgflow {command} needs a broker other processes can reach "
            "(IMGFLOW_BROKER_URL=amqp://...); for one process use `imgflow serve`"
        )


def require_secret(settings: Settings) -> None:
    """Every process needs IMGFLOW_JWT_SECRET set (only a development `serve` makes its
    own): they must all agree on it. In production a placeholder is refused too."""
    try:
        settings.secret()
    except ValueError as error:
        raise SystemExit(str(error)) from None


def serve_http(settings: Settings, args: argparse.Namespace, roles: Roles) -> None:
    import uvicorn

    from imgflow.app import create_app

    require_secret(settings)  # before binding the port
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    app = create_app(settings, roles, base_url=f"http://{shown_host}:{args.port}")
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        ws="websockets-sansio",
        # SIGTERM: open WebSockets are closed at once with 1012 (service restart), HTTP
        # requests get this long, then the lifespan gives running jobs as long again.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )


def run_serve(args: argparse.Namespace) -> int:
    from imgflow import migrate
    from imgflow.app import Roles
    from imgflow.settings import ensure_local_secret

    settings = ensure_local_secret(load_settings(args))
    require_secret(settings)  # production: refused before anything is created or migrated
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    serve_http(settings, args, Roles())
    return 0


def run_api(args: argparse.Namespace) -> int:
    from imgflow.app import Roles

    settings = load_settings(args)
    require_shared_broker(settings, "api")
    serve_http(settings, args, Roles(api=True, workers=False, housekeeping=False))
    return 0


def run_worker(args: argparse.Namespace) -> int:
    from imgflow.app import Roles

    settings = load_settings(args)
    require_shared_broker(settings, "worker")
    serve_http(settings, args, Roles(api=False, workers=True, housekeeping=False))
    return 0


def run_cron(args: argparse.Namespace) -> int:
    from imgflow import cron

    settings = load_settings(args)
    if args.check:
        return cron.check(settings)
    require_secret(settings)
    cron.run(settings)
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    from imgflow import migrate

    settings = load_settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    print(f"database is at the latest revision: {migrate.redacted(settings.resolved_database_url)}")
    return 0


def run_create_user(args: argparse.Namespace) -> int:
    import asyncio
    import getpass

    from imgflow import migrate
    from imgflow.errors import ImgflowError

    settings = load_settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.resolved_database_url)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
    try:
        user_id = asyncio.run(create_account(settings, args.email, password, args.admin))
    except ImgflowError as error:
        raise SystemExit(f"{error.code.value}: {error.message}") from None
    role = "admin" if args.admin else "user"
    print(f"created {role} {args.email.strip().lower()} ({user_id})")
    return 0


async def create_account(settings: Settings, email: str, password: str, admin: bool) -> str:
    from imgflow.accounts import registration as accounts
    from imgflow.db import create_engine, session_factory

    engine = create_engine(settings.resolved_database_url)
    try:
        user = await accounts.create_account(
            session_factory(engine), email, password, settings.password_profile, admin=admin
        )
    finally:
        await engine.dispose()
    return user.id


def run_export_schema(args: argparse.Namespace) -> int:
    from resolvers.schema import schema

    text = schema.as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
