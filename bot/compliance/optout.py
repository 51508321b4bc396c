"""Stop means stop: recognising a request to stop, and recording opting out and back in."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.models import Debtor

# Whole messages that ask to stop, after folding case, width and punctuation.
STOP_WORDS = frozenset(
    {
        "stop", "/stop", "stop all", "stopall", "unsubscribe", "cancel messages", "end",
        "quit", "opt out", "optout", "stop messages", "stop reminders", "please stop",
        "stop please", "stop texting me", "stop messaging me",
        "退订", "取消订阅", "停止", "停止提醒", "停止发送", "不要再发", "td",
    }
)  # fmt: skip
_NOISE = re.compile(r"[\s!！。.,，?？~～\"'“”‘’()（）]+")


def is_stop_request(text: str) -> bool:
    """True for STOP, Stop!, ＳＴＯＰ, /stop, UNSUBSCRIBE, 退订 and the like."""
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    words = _NOISE.sub(" ", folded).strip()
    return words in STOP_WORDS or words.replace(" ", "") in STOP_WORDS


async def opt_out(session: AsyncSession, debtor: Debtor, now: datetime, *, via: str) -> None:
    """Stop every proactive message to this debtor, at once."""
    if debtor.opted_out_at is None:
        debtor.opted_out_at = now
        audit(session, debtor.id, "opted_out", actor="debtor", at=now, detail=via)


async def opt_in(session: AsyncSession, debtor: Debtor, now: datetime, *, via: str) -> bool:
    """Resume reminders for a debtor who had opted out; True if they had."""
    if debtor.opted_out_at is None:
        return False
    debtor.opted_out_at = None
    audit(session, debtor.id, "opted_in", actor="debtor", at=now, detail=via)
    return True
