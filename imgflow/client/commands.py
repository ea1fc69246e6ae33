"""`imgflow submit`, `jobs`, `login` and `logout`: their arguments and what they run.

Exit codes: 0 done; 1 the job FAILED or was CANCELLED, the service refused the
request with a code (UNSUPPORTED_FORMAT, BAD_USER_INPUT, RATE_LIMITED...), or the
result could not be saved; 2 usage (a bad flag or value, a missing input file); 3 the
service cannot be reached, or no valid token (UNAUTHENTICATED, INVALID_CREDENTIALS);
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path

from imgflow.client import render
from imgflow.client.api import Api, ApiError, Disconnected, Unreachable
from imgflow.client.credentials import CredentialsError, CredentialStore
from imgflow.client.flags import add_operation_flags, add_output_flags, srcset_of
from imgflow.client.outputs import SaveError, outputs_of, save
from imgflow.client.service import (
    Job,
    Request,
    job_updates,
    recent_jobs,
    sign_in,
    submit_image,
)
from imgflow.client.signin import (
    NotSignedIn,
    UsageError,
    add_sign_in_options,
    add_url_option,
    authorize,
    login_hint,
    read_password,
)
from imgflow.domain import JobStatus

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130
AUTH_CODES = frozenset({"UNAUTHENTICATED", "INVALID_CREDENTIALS"})
RECONNECTS = 5
"""Tries to follow a job again after its stream dropped (an API restarting), 1 s, 2 s,
... apart: the subscription starts with the job's current state, so nothing is lost."""
MAX_PAGE = 100  # the service's own limit on `jobs(first:)`

Command = Callable[[argparse.Namespace], Coroutine[None, None, int]]


class JobEnded(Exception):
    """The job reached FAILED or CANCELLED."""

    def __init__(self, job: Job) -> None:
        super().__init__(job.id)
        self.job = job


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_submit(commands)
    jobs = commands.add_parser("jobs", help="list your recent jobs, newest first")
    jobs.add_argument("--first", type=page_size, default=20, metavar="N", help="how many")
    jobs.add_argument("--status", type=job_status, help="only jobs in this state, e.g. FAILED")
    jobs.add_argument("--json", action="store_true", help="one JSON object per job and line")
    add_sign_in_options(jobs)
    jobs.set_defaults(run=lambda args: run(list_jobs, args))

    login = commands.add_parser("login", help="sign in and remember the token")
    add_url_option(login)
    login.add_argument("--email", help="the account's email (asked when left out)")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.add_argument("--register", action="store_true", help="create the account first")
    login.set_defaults(run=lambda args: run(log_in, args))

    logout = commands.add_parser("logout", help="forget the stored token")
    add_url_option(logout)
    logout.set_defaults(run=log_out)


def add_submit(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    submit = commands.add_parser(
        "submit",
        help="process an image, follow the job, download the result",
        description="Upload INPUT with a pipeline of operations, follow the job live, "
        "and save the result as <input stem>.<job id prefix>.<ext> next to INPUT; with "
        "--variant or --srcset, every output as <input stem>.<job id prefix>.<name>.<ext>.",
    )
    submit.add_argument("input", type=input_file, metavar="INPUT", help="the image to process")
    add_operation_flags(submit)
    add_output_flags(submit)
    job = submit.add_argument_group("job")
    job.add_argument(
        "--analyze",
        action="store_true",
        help="also read the image's BlurHash, colours, perceptual hash and camera EXIF "
        "(alone: an analysis-only job, nothing to download)",
    )
    job.add_argument(
        "--preset", metavar="NAME", help="run a stored preset (see the API's `presets`)"
    )
    job.add_argument(
        "--idempotency-key", metavar="KEY", help="submit once: the same key returns the same job"
    )
    job.add_argument(
        "--out", type=Path, metavar="DIR", help="save results in this directory (default: INPUT's)"
    )
    job.add_argument("--no-wait", action="store_true", help="print the job id and exit")
    job.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    job.add_argument("--json", action="store_true", help="print the final job as one JSON line")
    add_sign_in_options(submit)
    submit.set_defaults(run=run_submit, usage=submit.error)


def input_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: not readable")
    return path


def page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_PAGE}, got {text!r}")
    return value


def job_status(text: str) -> str:
    try:
        return JobStatus(text.strip().upper()).value
    except ValueError:
        choices = ", ".join(JobStatus)
        raise argparse.ArgumentTypeError(f"expected one of {choices}, got {text!r}") from None


def run(command: Command, args: argparse.Namespace) -> int:
    """Run a command; every failure a user can meet is one line and an exit code."""
    try:
        return asyncio.run(command(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except JobEnded as ended:
        job = ended.job
        render.error(f"{job.error_code or job.status}: {job.error_message or 'job ' + job.id}")
        return EXIT_FAILED
    except ApiError as error:
        hint = f"; {login_hint(args.url)}" if error.code == "UNAUTHENTICATED" else ""
        render.error(f"{error.code}: {error.message}{hint}")
        return EXIT_UNREACHABLE if error.code in AUTH_CODES else EXIT_FAILED
    except NotSignedIn as missing:
        render.error(f"not signed in to {missing}: {login_hint(args.url)}")
        return EXIT_UNREACHABLE
    except (Unreachable, CredentialsError) as error:
        render.error(str(error))
        return EXIT_UNREACHABLE
    except UsageError as error:
        render.error(str(error))
        return EXIT_USAGE
    except SaveError as error:
        render.error(str(error))
        return EXIT_FAILED


@asynccontextmanager
async def connected(args: argparse.Namespace, *, signed_in: bool = True) -> AsyncIterator[Api]:
    api = Api(args.url)
    try:
        if signed_in:
            await authorize(api, args, CredentialStore.default())
        yield api
    finally:
        await api.close()


def output_directory(args: argparse.Namespace) -> Path:
    """Checked before uploading: a job whose result cannot be saved is not worth making."""
    directory: Path = args.out or args.input.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {directory}: {error.strerror}") from None
    if not os.access(directory, os.W_OK):
        raise UsageError(f"cannot write in {directory}")
    return directory


def run_submit(args: argparse.Namespace) -> int:
    if args.srcset_format and not args.srcset:
        args.usage("--srcset-format needs --srcset")
    asks = args.operations or args.variants or args.srcset or args.analyze
    if args.preset and asks:
        args.usage("--preset runs the preset's own spec: give no operations, outputs or --analyze")
    if not (asks or args.preset):
        args.usage(
            "give at least one operation, e.g. --resize 800 or --convert webp, "
            "or --variant / --srcset / --analyze / --preset"
        )
    return run(submit_and_follow, args)


async def submit_and_follow(args: argparse.Namespace) -> int:
    directory = output_directory(args)
    async with connected(args) as api:
        try:
            request = Request(
                args.operations or [],
                args.variants,
                srcset_of(args),
                args.analyze,
                args.preset,
            )
            job = await submit_image(api, args.input, request, args.idempotency_key)
        except OSError as error:  # the input went away since the command line was checked
            raise UsageError(f"cannot read {args.input}: {error.strerror}") from None
        if args.no_wait:
            render.say(render.job_json(job) if args.json else job.id)
            return 0
        progress = render.Progress(quiet=args.quiet)
        progress.submitted(args.input, job)
        try:
            job = await follow(api, job, progress)
        except asyncio.CancelledError:
            render.note(f"interrupted: job {job.id} goes on (see `imgflow jobs`)")
            raise
        files = [await save(api.http, o, directory, args.input, job.id) for o in outputs_of(job)]
    if not args.json and not args.quiet and job.analysis:
        render.say(render.analysis_lines(job.analysis))
    render.say(render.job_json(job, files) if args.json else "\n".join(map(str, files)))
    if not job.succeeded:
        raise JobEnded(job)
    return 0


async def follow(api: Api, job: Job, progress: render.Progress) -> Job:
    """The job's updates until it ends; a dropped stream is followed again."""
    lost = 0
    while not job.is_terminal:
        try:
            async for update in job_updates(api, job.id):
                job, lost = update, 0
                progress.show(job)
        except (Disconnected, Unreachable) as error:
            lost += 1
            if lost > RECONNECTS:
                raise Unreachable(f"{error}; gave up following job {job.id}") from None
            if not progress.quiet:
                render.note(f"{error}; following again ({lost}/{RECONNECTS})")
            await asyncio.sleep(lost)
    return job


async def list_jobs(args: argparse.Namespace) -> int:
    async with connected(args) as api:
        found = await recent_jobs(api, args.first, args.status)
    if args.json:
        for job in found:
            render.say(render.job_json(job))
    elif found:
        render.say(render.jobs_table(found))
    else:
        render.note("no jobs")
    return 0


async def log_in(args: argparse.Namespace) -> int:
    if args.password_stdin and not args.email:
        raise UsageError("--password-stdin needs --email (stdin carries the password)")
    email = args.email or ask_email()
    password = read_password(args.password_stdin, confirm=args.register)
    store = CredentialStore.default()
    async with connected(args, signed_in=False) as api:
        session = await sign_in(api, email, password, register=args.register)
    store.save(args.url, session.token)
    done = "registered and logged in" if args.register else "logged in"
    render.note(
        f"{done} to {args.url} as {session.email} until {render.local_time(session.expires_at)}; "
        f"token saved in {store.path}"
    )
    return 0


def ask_email() -> str:
    try:
        return input("email: ").strip()
    except EOFError:
        raise UsageError("no email: pass --email") from None


def log_out(args: argparse.Namespace) -> int:
    store = CredentialStore.default()
    try:
        forgotten = store.forget(args.url)
    except CredentialsError as error:
        render.error(str(error))
        return EXIT_UNREACHABLE
    # Tokens are signed, not kept by the service: forgetting it here is all a client
    # can do; it stays valid until it expires.
    render.note(f"forgot the token for {args.url}" if forgotten else f"no token for {args.url}")
    return 0
