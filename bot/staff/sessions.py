"""Signed-in browsers: a row per session, found by the SHA-256 of the cookie's random token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import StaffSession, StaffUser
from bot.policy import Policy

TOKEN_BYTES = 32
# last_seen_at is written at most this often per session, so most requests only read.
TOUCH_EVERY = timedelta(minutes=1)
# A cookie longer than any token we issue is not looked up at all.
MAX_TOKEN_CHARS = 100
MAX_USER_AGENT = 200


@dataclass(frozen=True)
class Signed:
    """The staff member behind a request, and their session."""

    id: int
    username: str
    display_name: str
    role: str
    session_id: int
    csrf: str


def token_hash(token: str) -> str:
    """What the table keeps of a session token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (32 bytes, URL-safe base64) for a cookie or a form."""
    return secrets.token_urlsafe(TOKEN_BYTES)


async def create_session(
    session: AsyncSession, staff_id: int, *, now: datetime, user_agent: str = ""
) -> tuple[str, StaffSession]:
    """Open a session for a staff member; the token for their cookie (never stored) and the
    row, which holds the session's CSRF token."""
    token = new_token()
    row = StaffSession(
        staff_id=staff_id, token_hash=token_hash(token), csrf_token=new_token(),
        created_at=now, last_seen_at=now, user_agent=user_agent[:MAX_USER_AGENT] or None,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return token, row


async def find_session(
    session: AsyncSession, token: str, *, now: datetime, policy: Policy, touch: bool = True
) -> Signed | None:
    """The signed-in staff for a cookie's token: None when unknown, revoked, idle longer than
    ``handoff.session_idle_minutes`` or the staff member is disabled. Marks it seen, unless
    the caller only checks it (an open live page is not activity)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    idle = timedelta(minutes=policy.handoff.session_idle_minutes)
    found = await session.execute(
        select(StaffSession, StaffUser)
        .join(StaffUser, StaffUser.id == StaffSession.staff_id)
        .where(
            StaffSession.token_hash == token_hash(token),
            StaffSession.revoked_at.is_(None),
            StaffSession.last_seen_at > now - idle,
            StaffUser.disabled_at.is_(None),
        )
    )
    row = found.first()
    if row is None:
        return None
    live, staff = row
    if touch and now - live.last_seen_at >= TOUCH_EVERY:
        await session.execute(
            update(StaffSession).where(StaffSession.id == live.id).values(last_seen_at=now)
        )
    return Signed(
        id=staff.id, username=staff.username, display_name=staff.display_name, role=staff.role,
        session_id=live.id, csrf=live.csrf_token,
    )  # fmt: skip


async def revoke_session(session: AsyncSession, session_id: int, *, now: datetime) -> bool:
    """End one session (signing out); False if it had ended already."""
    done = await session.execute(
        update(StaffSession)
        .where(StaffSession.id == session_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return done.rowcount == 1


async def revoke_all(
    session: AsyncSession, staff_id: int, *, now: datetime, keep: int | None = None
) -> int:
    """End every live session of a staff member but ``keep``; how many there were."""
    done = await session.execute(
        update(StaffSession)
        .where(
            StaffSession.staff_id == staff_id,
            StaffSession.revoked_at.is_(None),
            StaffSession.id != (keep or 0),
        )
        .values(revoked_at=now)
    )
    return done.rowcount


async def open_sessions(session: AsyncSession, *, now: datetime, policy: Policy) -> dict[int, int]:
    """How many sessions each staff member has that would still let them in, by staff id."""
    idle = timedelta(minutes=policy.handoff.session_idle_minutes)
    found = await session.execute(
        select(StaffSession.staff_id, func.count())
        .where(StaffSession.revoked_at.is_(None), StaffSession.last_seen_at > now - idle)
        .group_by(StaffSession.staff_id)
    )
    return {staff_id: count for staff_id, count in found.all()}
