"""Signing in: the password checked, failures counted, an account locked after too many; the
same for a staff member changing their own password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.models import StaffUser
from bot.policy import Policy
from bot.staff.accounts import StaffError, actor_of, check_password, find_staff, is_locked
from bot.staff.passwords import (
    dummy_hash,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)
from bot.staff.sessions import revoke_all

ANONYMOUS = "anonymous"


class Reason(StrEnum):
    """Why a sign-in was refused (the page says the same for UNKNOWN and WRONG_PASSWORD)."""

    UNKNOWN = "unknown"
    WRONG_PASSWORD = "wrong_password"
    LOCKED = "locked"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Refused:
    """A refused sign-in; ``until`` is when a locked account may try again."""

    reason: Reason
    until: datetime | None = None


async def authenticate(
    session: AsyncSession,
    username: str,
    password: str,
    now: datetime,
    policy: Policy,
    *,
    source: str | None = None,
) -> StaffUser | Refused:
    """The staff member whose password this is, or why not; every attempt is audited (with
    ``source``, e.g. the client's address, and never the password)."""
    staff = await find_staff(session, username)
    if staff is None:
        # The same argon2 work as for a real account, so the time taken reveals no usernames;
        # the name typed is not kept, as people sometimes type their password there.
        await verify_password_async(dummy_hash(), password)
        _failed(session, ANONYMOUS, "unknown username", source, now)
        return Refused(Reason.UNKNOWN)
    actor = actor_of(staff.id)
    if is_locked(staff, now):
        await verify_password_async(dummy_hash(), password)
        _failed(session, actor, f"locked until {staff.locked_until.isoformat()}", source, now)
        return Refused(Reason.LOCKED, staff.locked_until)
    if not await verify_password_async(staff.password_hash, password):
        _failed(session, actor, "wrong password", source, now)
        until = None if staff.disabled_at else await _count_failure(session, staff, now, policy)
        return Refused(Reason.LOCKED, until) if until else Refused(Reason.WRONG_PASSWORD)
    if staff.disabled_at is not None:
        _failed(session, actor, "disabled", source, now)
        return Refused(Reason.DISABLED)
    if needs_rehash(staff.password_hash):
        staff.password_hash = await hash_password_async(password)
    staff.failed_logins = 0
    staff.locked_until = None
    staff.last_login_at = now
    staff.updated_at = now
    audit(session, None, "staff_signed_in", actor=actor, at=now, detail=_from(source))
    return staff


async def change_own_password(
    session: AsyncSession,
    staff_id: int,
    current: str,
    new: str,
    *,
    now: datetime,
    policy: Policy,
    keep_session: int,
) -> int:
    """A staff member's own change: the current password must match (a wrong one counts as a
    failed sign-in, so a borrowed session cannot guess it) and the new one differ and be long
    enough; every other session of theirs ends. The number ended. StaffError says what is
    wrong; commit even then, so that a wrong password stays counted and audited (nothing else
    is written before a refusal)."""
    staff = await session.get(StaffUser, staff_id)
    if staff is None or staff.disabled_at is not None:
        raise StaffError("this account cannot be changed")
    actor = actor_of(staff.id)
    if is_locked(staff, now):
        raise StaffError(
            f"too many wrong passwords; try again after {staff.locked_until:%H:%M} UTC"
        )
    if not await verify_password_async(staff.password_hash, current):
        _failed(session, actor, "wrong current password when changing it", None, now)
        await _count_failure(session, staff, now, policy)
        raise StaffError("the current password is not right; nothing was changed")
    check_password(new)
    if new == current:
        raise StaffError("the new password is the same as the current one")
    staff.password_hash = await hash_password_async(new)
    staff.failed_logins = 0
    staff.updated_at = now
    ended = await revoke_all(session, staff.id, now=now, keep=keep_session)
    audit(session, None, "staff_password_changed", actor=actor, at=now, detail=actor)
    return ended


async def _count_failure(
    session: AsyncSession, staff: StaffUser, now: datetime, policy: Policy
) -> datetime | None:
    """One more failure in a row (counted in the database, so concurrent attempts all
    count); the lock's end if this one reached the limit."""
    limit = policy.handoff.max_failed_logins
    counted = await session.execute(
        update(StaffUser)
        .where(StaffUser.id == staff.id)
        .values(failed_logins=StaffUser.failed_logins + 1)
        .returning(StaffUser.failed_logins)
    )
    if counted.scalar_one() < limit:
        return None
    until = now + timedelta(minutes=policy.handoff.lock_minutes)
    # Of two attempts reaching the limit at once, one locks and audits; the count starts over
    # so that after the lock the account again gets the full number of tries.
    locked = await session.execute(
        update(StaffUser)
        .where(StaffUser.id == staff.id, StaffUser.failed_logins >= limit)
        .values(locked_until=until, failed_logins=0, updated_at=now)
    )
    if locked.rowcount != 1:
        return None
    audit(
        session, None, "staff_locked", actor=actor_of(staff.id), at=now,
        detail=f"{limit} failed sign-ins in a row; locked until {until.isoformat()}",
    )  # fmt: skip
    return until


def _failed(
    session: AsyncSession, actor: str, why: str, source: str | None, now: datetime
) -> None:
    audit(session, None, "staff_sign_in_failed", actor=actor, at=now, detail=_from(source, why))


def _from(source: str | None, why: str | None = None) -> str | None:
    parts = [p for p in (why, source and f"from {source}") if p]
    return "; ".join(parts) or None
