"""argon2id password hashes (argon2-cffi), checked off the event loop."""

from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults (RFC 9106's low-memory profile); a change here makes every stored hash
# "need a rehash", and the next successful sign-in stores one with the new parameters.
HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """A new salted argon2id hash of the password."""
    return HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether the password matches the stored hash (False for a malformed hash, too)."""
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether the hash was made with other parameters than ``HASHER``'s."""
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@cache
def dummy_hash() -> str:
    """A hash no password is known for: checked against for unknown usernames, so a sign-in
    takes as long whether the name exists or not."""
    return HASHER.hash("not a password: only here to spend the same time")


# The hash takes tens of milliseconds of CPU; argon2 releases the GIL, so a thread keeps the
# event loop answering other requests meanwhile.
async def hash_password_async(password: str) -> str:
    """``hash_password`` in a worker thread."""
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(stored: str, password: str) -> bool:
    """``verify_password`` in a worker thread."""
    return await asyncio.to_thread(verify_password, stored, password)
