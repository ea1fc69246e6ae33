"""Password hashes: each profile's argon2id parameters, and hashes of either profile
verified by both (an operator may switch profiles with accounts already stored)."""

from __future__ import annotations

import pytest

from imgflow.accounts.auth import hash_password, needs_rehash, verify_password
from imgflow.settings import PasswordProfile, Settings

PARAMETERS: dict[PasswordProfile, str] = {
    "rfc9106-low-memory": "$argon2id$v=19$m=65536,t=3,p=4$",
    "owasp-minimum": "$argon2id$v=19$m=19456,t=2,p=1$",
}


def test_the_default_profile_is_rfc9106s_low_memory_one() -> None:
    assert Settings().password_profile == "rfc9106-low-memory"


@pytest.mark.parametrize("profile", PARAMETERS)
def test_a_profile_hashes_with_its_parameters(profile: PasswordProfile) -> None:
    hashed = hash_password("correct horse battery", profile)
    assert hashed.startswith(PARAMETERS[profile])
    assert not needs_rehash(hashed, profile)


@pytest.mark.parametrize("made_with", PARAMETERS)
@pytest.mark.parametrize("checked_with", PARAMETERS)
def test_a_hash_verifies_under_either_profile(
    made_with: PasswordProfile, checked_with: PasswordProfile
) -> None:
    hashed = hash_password("correct horse battery", made_with)
    assert verify_password(hashed, "correct horse battery", checked_with)
    assert not verify_password(hashed, "correct horse batter", checked_with)
    assert needs_rehash(hashed, checked_with) == (made_with != checked_with)


def test_no_account_never_verifies() -> None:
    assert not verify_password(None, "imgflow-timing-equaliser", "owasp-minimum")
