"""Staff accounts: added, listed, disabled, given a new password; each change audited."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.models import StaffUser
from bot.staff.passwords import hash_password_async
from bot.staff.sessions import revoke_all

USERNAME = re.compile(r"[a-z0-9._-]{3,64}")
MIN_PASSWORD = 10
MAX_DISPLAY_NAME = 100
# Generated passwords: 16 characters that cannot be mistaken for one another when read aloud or
# copied by hand (no 0/o, 1/l/i), in groups of four: about 79 bits.
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
PASSWORD_GROUPS = 4


class Role(StrEnum):
    """What a staff member may do: agents work the queue, admins also manage the console."""

    AGENT = "agent"
    ADMIN = "admin"


class StaffError(ValueError):
    """A staff request that cannot be carried out; the message is one line saying why."""


def actor_of(staff_id: int) -> str:
    """How the audit trail names a staff member."""
    return f"staff:{staff_id}"


def normal_username(username: str) -> str:
    """The username as stored: trimmed and lower-case."""
    return username.strip().lower()


def check_username(username: str) -> str:
    """The normal form of a valid username, or StaffError saying what is wrong."""
    name = normal_username(username)
    if not USERNAME.fullmatch(name):
        raise StaffError(
            f"username {username!r} must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-'"
        )
    return name


def check_password(password: str) -> None:
    """StaffError unless the password is long enough (never says what it was)."""
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password must be at least {MIN_PASSWORD} characters long")


def is_locked(staff: StaffUser, now: datetime) -> bool:
    """Whether too many failed sign-ins lock the account at ``now``."""
    return staff.locked_until is not None and staff.locked_until > now


def status_of(staff: StaffUser, now: datetime) -> str:
    """``disabled``, ``locked`` or ``active``, as the console and the command line show it."""
    if staff.disabled_at is not None:
        return "disabled"
    return "locked" if is_locked(staff, now) else "active"


async def find_staff(session: AsyncSession, username: str) -> StaffUser | None:
    """The staff member with this username (any case), or None."""
    found = await session.execute(
        select(StaffUser).where(StaffUser.username == normal_username(username))
    )
    return found.scalar_one_or_none()


async def get_staff(session: AsyncSession, username: str) -> StaffUser:
    """The staff member with this username, or StaffError naming it."""
    staff = await find_staff(session, username)
    if staff is None:
        raise StaffError(f"no staff member is called {normal_username(username)!r}")
    return staff


async def create_staff(
    session: AsyncSession,
    username: str,
    password: str,
    role: str,
    *,
    now: datetime,
    actor: str,
    display_name: str | None = None,
) -> StaffUser:
    """Add a staff member (the display name defaults to the username); StaffError for a bad
    or taken username, a short password or an unknown role."""
    name = check_username(username)
    check_password(password)
    if role not in set(Role):
        raise StaffError(f"role {role!r} must be one of {', '.join(Role)}")
    shown = (display_name or "").strip() or name
    if len(shown) > MAX_DISPLAY_NAME:
        raise StaffError(f"the display name must be at most {MAX_DISPLAY_NAME} characters")
    if await find_staff(session, name) is not None:
        raise StaffError(f"username {name!r} is taken")
    staff = StaffUser(
        username=name, display_name=shown, password_hash=await hash_password_async(password),
        role=role, failed_logins=0, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(staff)
    await session.flush()
    audit(
        session,
        None,
        "staff_added",
        actor=actor,
        at=now,
        detail=f"{actor_of(staff.id)} {name} {role}",
    )
    return staff


async def list_staff(session: AsyncSession) -> list[StaffUser]:
    """Every staff member, by username."""
    found = await session.execute(select(StaffUser).order_by(StaffUser.username))
    return list(found.scalars())


def generate_password() -> str:
    """A new random password to hand to someone, e.g. ``k7qm-2xpw-9dte-hs4n``."""
    groups = (
        "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(4))
        for _ in range(PASSWORD_GROUPS)
    )
    return "-".join(groups)


async def disable_staff(
    session: AsyncSession, username: str, *, now: datetime, actor: str, by: int | None = None
) -> tuple[StaffUser, int]:
    """Disable a staff member and sign out their sessions; the number of sessions ended.
    Nobody disables themselves (``by``: who asks, None from the command line), and the last
    active admin stays, so that someone can always manage the console."""
    staff = await get_staff(session, username)
    if staff.disabled_at is not None:
        raise StaffError(f"{staff.username!r} is disabled already")
    if staff.id == by:
        raise StaffError("you cannot disable your own account; ask another admin")
    if staff.role == Role.ADMIN and not await _other_active_admins(session, staff.id):
        raise StaffError(
            f"{staff.username!r} is the only active admin; add or enable another admin first"
        )
    staff.disabled_at = now
    staff.updated_at = now
    ended = await revoke_all(session, staff.id, now=now)
    audit(session, None, "staff_disabled", actor=actor, at=now, detail=actor_of(staff.id))
    return staff, ended


async def _other_active_admins(session: AsyncSession, staff_id: int) -> int:
    """How many active admins there are besides this one. The rows are locked (PostgreSQL), so
    of two admins disabling each other at once the second sees the first's change and stops."""
    found = await session.scalars(
        select(StaffUser.id)
        .where(StaffUser.role == Role.ADMIN, StaffUser.disabled_at.is_(None))
        .with_for_update()
    )
    return sum(1 for other in found if other != staff_id)


async def enable_staff(
    session: AsyncSession, username: str, *, now: datetime, actor: str
) -> StaffUser:
    """Let a disabled staff member sign in again, with the password they had."""
    staff = await get_staff(session, username)
    if staff.disabled_at is None:
        raise StaffError(f"{staff.username!r} is not disabled")
    staff.disabled_at = None
    staff.failed_logins = 0
    staff.locked_until = None
    staff.updated_at = now
    audit(session, None, "staff_enabled", actor=actor, at=now, detail=actor_of(staff.id))
    return staff


async def set_password(
    session: AsyncSession, username: str, password: str, *, now: datetime, actor: str
) -> tuple[StaffUser, int]:
    """Give a staff member a new password, lift a sign-in lock and sign out their sessions;
    the number of sessions ended."""
    staff = await get_staff(session, username)
    check_password(password)
    staff.password_hash = await hash_password_async(password)
    staff.failed_logins = 0
    staff.locked_until = None
    staff.updated_at = now
    ended = await revoke_all(session, staff.id, now=now)
    audit(session, None, "staff_password_set", actor=actor, at=now, detail=actor_of(staff.id))
    return staff, ended


async def reset_password(
    session: AsyncSession, username: str, *, now: datetime, actor: str
) -> tuple[StaffUser, str, int]:
    """Give a staff member a generated password (to be shown once and handed over), as
    ``set_password`` does; the member, the password and the number of sessions ended."""
    password = generate_password()
    staff, ended = await set_password(session, username, password, now=now, actor=actor)
    return staff, password, ended
