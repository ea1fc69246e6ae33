"""Registration, login, and who a token belongs to."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from imgflow.accounts import quotas
from imgflow.accounts.auth import (
    Token,
    hash_password,
    issue_token,
    needs_rehash,
    read_token,
    verify_password,
)
from imgflow.db import SessionFactory
from imgflow.errors import ErrorCode, ImgflowError
from imgflow.models import User
from imgflow.services import Services
from imgflow.settings import PasswordProfile

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
MAX_PASSWORD = 256


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not EMAIL.match(email):
        raise ImgflowError(ErrorCode.BAD_USER_INPUT, "email is not a valid address")
    return email


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ImgflowError(
            ErrorCode.BAD_USER_INPUT,
            f"password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters",
        )


async def register(
    services: Services, email: str, password: str, address: str | None = None
) -> tuple[User, Token]:
    """A new account and its token; REGISTRATION_CLOSED when the operator closed
    registration, RATE_LIMITED past the per-address hourly limit."""
    if services.settings.registration == "closed":
        raise ImgflowError(
            ErrorCode.REGISTRATION_CLOSED,
            "registration is closed on this server; ask its operator for an account",
        )
    async with quotas.registration(services, address):
        profile = services.settings.password_profile
        user = await create_account(services.sessions, email, password, profile)
    return user, token_for(services, user)


async def create_account(
    sessions: SessionFactory,
    email: str,
    password: str,
    profile: PasswordProfile,
    *,
    admin: bool = False,
) -> User:
    """A new account; EMAIL_TAKEN if the address is in use."""
    email = normalise_email(email)
    check_password(password)
    # argon2 is deliberately slow and memory-hard: keep it off the event loop.
    password_hash = await asyncio.to_thread(hash_password, password, profile)
    user = User(email=email, password_hash=password_hash, is_admin=admin)
    try:
        async with sessions() as session:
            session.add(user)
            await session.commit()
    except IntegrityError:
        raise ImgflowError(ErrorCode.EMAIL_TAKEN, "an account with this email exists") from None
    return user


async def login(
    services: Services, email: str, password: str, address: str | None = None
) -> tuple[User, Token]:
    """A token for the account; `address` is the client's, for the failed-attempt limit,
    which is checked first: a refused attempt reads nothing and hashes nothing."""
    async with quotas.login_attempt(services, email, address):
        async with services.sessions() as session:
            user = (
                await session.exec(select(User).where(User.email == email.strip().lower()))
            ).one_or_none()
        hashed = user.password_hash if user else None
        profile = services.settings.password_profile
        valid = await asyncio.to_thread(verify_password, hashed, password, profile)
        if user is None or not valid or user.disabled:
            raise ImgflowError(ErrorCode.INVALID_CREDENTIALS, "email or password is wrong")
    if needs_rehash(user.password_hash, profile):
        await rehash(services.sessions, user, password, profile)
    return user, token_for(services, user)


async def rehash(
    sessions: SessionFactory, user: User, password: str, profile: PasswordProfile
) -> None:
    """The account's hash remade with the current profile, now that the password is
    known; unless the stored hash changed meanwhile."""
    password_hash = await asyncio.to_thread(hash_password, password, profile)
    async with sessions() as session:
        stored = await session.get(User, user.id)
        if stored is not None and stored.password_hash == user.password_hash:
            stored.password_hash = password_hash
            session.add(stored)
            await session.commit()


def token_for(services: Services, user: User) -> Token:
    settings = services.settings
    return issue_token(user.id, settings.secret(), settings.token_ttl_seconds)


async def authenticate(services: Services, token: str | None) -> User:
    """The active user a bearer token names; UNAUTHENTICATED otherwise."""
    if not token:
        raise ImgflowError(ErrorCode.UNAUTHENTICATED, "sign in: send Authorization: Bearer <token>")
    user_id = read_token(token, services.settings.secret()).user_id

    async def read() -> User | None:
        async with services.autocommit() as session:
            return await session.get(User, user_id)

    user = await services.identities.user(user_id, read)
    if user is None or user.disabled:
        raise ImgflowError(ErrorCode.UNAUTHENTICATED, "the account no longer exists or is disabled")
    return user


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise ImgflowError(ErrorCode.FORBIDDEN, "this needs the admin role")
