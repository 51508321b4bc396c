"""Stop means stop: recognising a request to stop, and recording opting out and back in."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.base import touch
from bot.db.models import Debtor

# Whole messages that ask to stop, after folding case, width and punctuation and dropping
# courtesies ("please", 请, 谢谢, a closing 了 or 吧). A stop word inside a longer sentence does
# not count ("I don't want to stop paying"); such a message reaches the menu, and a person.
STOP_WORDS = frozenset(
    {
        "stop", "/stop", "stop all", "stopall", "unsubscribe", "cancel messages", "end",
        "quit", "opt out", "optout", "stop messages", "stop reminders", "stop texting me",
        "stop messaging me", "stop contacting me", "stop sending messages",
        "stop sending me messages", "no more messages", "don't message me",
        "do not message me", "don't contact me", "do not contact me", "dont contact me",
        "退订", "取消订阅", "停止", "停止提醒", "停止发送", "停止发消息", "停止发送消息",
        "取消提醒", "不要再发", "别再发", "别发", "不要发", "不要再发消息", "别再发消息",
        "不要再给我发消息", "别再给我发消息", "不要再给我发", "别再给我发", "不要再联系我",
        "别再联系我", "不要联系我", "别联系我", "td",
    }
)  # fmt: skip
_NOISE = re.compile(r"[\s!！。.,，?？~～\"“”()（）]+")
_COURTESY = re.compile(r"^(?:please |pls |请|麻烦)|(?: please| thanks| thank you|谢谢|了|吧|啦)$")


def is_stop_request(text: str) -> bool:
    """True for STOP, Stop!, ＳＴＯＰ, /stop, UNSUBSCRIBE, 退订, 请不要再发了 and the like."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("’", "'").strip()
    words = _NOISE.sub(" ", folded).strip()
    for _ in range(4):
        if words in STOP_WORDS or words.replace(" ", "") in STOP_WORDS:
            return True
        shorter = _COURTESY.sub("", words).strip()
        if shorter == words:
            return False
        words = shorter
    return False


async def opt_out(session: AsyncSession, debtor: Debtor, now: datetime, *, via: str) -> None:
    """Stop every proactive message to this debtor, at once."""
    if debtor.opted_out_at is None:
        debtor.opted_out_at = now
        touch(debtor, now)
        audit(session, debtor.id, "opted_out", actor="debtor", at=now, detail=via)


async def opt_in(session: AsyncSession, debtor: Debtor, now: datetime, *, via: str) -> bool:
    """Resume reminders for a debtor who had opted out; True if they had."""
    if debtor.opted_out_at is None:
        return False
    debtor.opted_out_at = None
    touch(debtor, now)
    audit(session, debtor.id, "opted_in", actor="debtor", at=now, detail=via)
    return True
