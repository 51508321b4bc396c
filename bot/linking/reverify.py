"""A chat verified by a phone the debtor no longer has must prove who it is again.

A portfolio file that replaces a debtor's phones (bot.accounts.importer) hands over the numbers
it took away. Every verified chat of that debtor whose shared contact matched one of them (or
whose matching phone was not recorded, as before the bot kept it) loses its verification: it
sees nothing about the debt until it passes the identity check again, and it can do so in place,
because it gets a fresh token nobody else holds. Chats verified by knowledge keep theirs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.base import in_slices
from bot.db.models import ChannelLink, LinkToken
from bot.linking.tokens import hash_token, new_token


async def verify_again(
    session: AsyncSession, removed: list[tuple[int, str]], now: datetime, *, ttl: timedelta
) -> int:
    """Withdraw the verification of chats that rest on a removed (debtor id, phone); return
    how many chats must verify again."""
    gone: dict[int, set[str]] = {}
    for debtor_id, phone in removed:
        gone.setdefault(debtor_id, set()).add(phone)
    count = 0
    for debtors in in_slices(sorted(gone)):
        links = (
            await session.execute(
                select(ChannelLink)
                .where(
                    ChannelLink.debtor_id.in_(debtors),
                    ChannelLink.verified_at.is_not(None),
                    ChannelLink.verify_method == "contact",
                )
                .order_by(ChannelLink.id)
                .with_for_update()
            )
        ).scalars()
        for link in links:
            if link.verified_phone is not None and link.verified_phone not in gone[link.debtor_id]:
                continue
            token = LinkToken(
                debtor_id=link.debtor_id, token_hash=hash_token(new_token()), created_at=now,
                expires_at=now + ttl, failed_attempts=0,
            )  # fmt: skip
            session.add(token)
            await session.flush()
            link.verified_at = link.verify_method = link.verified_phone = None
            link.failed_attempts, link.token_id = 0, token.id
            audit(
                session, link.debtor_id, "verification_withdrawn", actor="import", at=now,
                detail=f"{link.channel} chat: the phone it was verified with is no longer on file",
            )  # fmt: skip
            count += 1
    return count
