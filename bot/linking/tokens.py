"""Deep-link tokens: random, single use, expiring, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.models import Account, AccountStatus, ChannelLink, Debtor, LinkToken

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_token() -> str:
    """32 URL-safe characters (192 random bits), within Telegram's 64-character start payload."""
    return secrets.token_urlsafe(24)


def live_token_clause(now: datetime) -> object:
    """SQL condition: a token that can still be redeemed."""
    return and_(
        LinkToken.used_at.is_(None),
        LinkToken.revoked_at.is_(None),
        LinkToken.locked_at.is_(None),
        LinkToken.expires_at > now,
    )


@dataclass(frozen=True)
class IssuedLink:
    """A debtor's fresh token and the accounts it covers, for the export file."""

    debtor_ref: str
    account_refs: list[str]
    token: str


async def issue_links(
    session: AsyncSession, *, now: datetime, ttl: timedelta, rotate: bool
) -> tuple[list[IssuedLink], int]:
    """Issue tokens for debtors with open accounts who need one; return them and how many
    debtors were left alone because they still hold a live token or a verified chat.

    ``rotate`` revokes every live token first and issues a new one to every such debtor.
    """
    if rotate:
        await session.execute(
            update(LinkToken).where(live_token_clause(now)).values(revoked_at=now)
        )
    has_open = exists().where(Account.debtor_id == Debtor.id, Account.status == AccountStatus.OPEN)
    has_live = exists().where(LinkToken.debtor_id == Debtor.id, live_token_clause(now))
    verified = exists().where(
        ChannelLink.debtor_id == Debtor.id,
        ChannelLink.verified_at.is_not(None),
        ChannelLink.unreachable_at.is_(None),
    )
    skip = or_(has_live, verified) if not rotate else has_live
    candidates = (
        await session.execute(
            select(Debtor.id, Debtor.debtor_ref, skip).where(has_open).order_by(Debtor.id)
        )
    ).all()
    wanted = [(debtor_id, ref) for debtor_id, ref, skipped in candidates if not skipped]
    refs: dict[int, list[str]] = {debtor_id: [] for debtor_id, _ in wanted}
    for debtor_id, account_ref in await session.execute(
        select(Account.debtor_id, Account.account_ref)
        .where(Account.status == AccountStatus.OPEN)
        .order_by(Account.account_ref)
    ):
        if debtor_id in refs:
            refs[debtor_id].append(account_ref)
    issued = []
    for debtor_id, debtor_ref in wanted:
        token = new_token()
        session.add(
            LinkToken(
                debtor_id=debtor_id,
                token_hash=hash_token(token),
                created_at=now,
                expires_at=now + ttl,
            )
        )
        issued.append(IssuedLink(debtor_ref, refs[debtor_id], token))
    if rotate:
        audit(
            session,
            None,
            "link_tokens_rotated",
            actor="cli",
            at=now,
            detail=f"{len(issued)} issued",
        )
    return issued, len(candidates) - len(wanted)


async def find_live_token(session: AsyncSession, token: str, now: datetime) -> LinkToken | None:
    """The redeemable token row for a /start payload, or None (unknown, used, expired, locked)."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    return (
        await session.execute(
            select(LinkToken).where(
                LinkToken.token_hash == hash_token(token), live_token_clause(now)
            )
        )
    ).scalar_one_or_none()
