"""Which service, as whom: `--url`, and the token a command runs with.

The token is, in order: `--token`; a sign-in for this run with `--email` (password
asked, or `--password-stdin`); `$IMGFLOW_TOKEN`; the one `imgflow login` stored for
the URL.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from imgflow.client.api import Api, normalized_url
from imgflow.client.credentials import CredentialStore
from imgflow.client.service import sign_in

DEFAULT_URL = "http://127.0.0.1:8000"


class NotSignedIn(Exception):
    """No token for this service: nothing the service could be asked would work."""


class UsageError(Exception):
    """The command line cannot work as given (caught before anything is sent)."""


def api_url(text: str) -> str:
    try:
        return normalized_url(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_url_option(container: argparse._ActionsContainer) -> None:
    container.add_argument(
        "--url",
        type=api_url,  # argparse applies it to the default too: a bad $IMGFLOW_URL is caught
        default=os.environ.get("IMGFLOW_URL") or DEFAULT_URL,
        help="the API's base URL ($IMGFLOW_URL when set)",
    )


def add_sign_in_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("service and account")
    add_url_option(group)
    who = group.add_mutually_exclusive_group()
    who.add_argument(
        "--token",
        help="bearer token to use instead of the stored one ($IMGFLOW_TOKEN does the same)",
    )
    who.add_argument("--email", help="sign in as EMAIL for this run only; nothing is stored")
    group.add_argument(
        "--password-stdin", action="store_true", help="with --email: read the password from stdin"
    )


def read_password(from_stdin: bool, *, confirm: bool = False) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("password: ")
    if confirm and getpass.getpass("password again: ") != password:
        raise UsageError("the passwords differ")
    return password


async def authorize(api: Api, args: argparse.Namespace, store: CredentialStore) -> None:
    """Give `api` the token this run uses (see the module's docstring for the order)."""
    if args.password_stdin and not args.email:
        raise UsageError("--password-stdin goes with --email")
    if args.token:
        api.token = args.token
    elif args.email:
        session = await sign_in(api, args.email, read_password(args.password_stdin))
        api.token = session.token
    else:
        api.token = os.environ.get("IMGFLOW_TOKEN") or store.token(api.base_url)
    if not api.token:
        raise NotSignedIn(api.base_url)


def login_hint(url: str) -> str:
    return f"run `imgflow login --url {url}` (or pass --token, or set IMGFLOW_TOKEN)"
