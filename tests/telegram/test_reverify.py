"""A phone the debtor gave up no longer proves who they are: a full file that replaces it
makes the chat verified with it prove itself again, and it sees nothing until it does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.accounts.importer import Book
from bot.db.models import AuditEvent, ChannelLink, DebtorPhone
from bot.policy import load_policy
from bot.services.portfolio import import_portfolio
from tests.helpers import write_csv
from tests.telegram.conftest import ALICE, BOT, PORTFOLIO, World
from tests.telegram.test_linking import _no_debt_detail

NEW_PHONE = "+1 415 555 0177"


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_a_replaced_phone_makes_the_chat_verify_again(world: World, tmp_path):
    await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=1)
    world.sandbox.share_contact(BOT, ALICE, phone_number="14155550132")
    texts = await world.texts(ALICE, 3)
    assert "Total: $1,324.49" in texts[2]

    # Today's file gives Alice a new number: the old one may belong to someone else by now.
    today = PORTFOLIO.replace("+1 415 555 0132", NEW_PHONE)
    report = await import_portfolio(
        world.sessions, write_csv(tmp_path / "today.csv", today), region="US",
        policy=load_policy(), link_ttl=timedelta(days=30), book=Book(full=True),
    )  # fmt: skip

    assert (report.phones_added, report.phones_removed, report.verify_again) == (1, 1, 1)
    assert (report.withdrawn, report.errors) == (0, [])
    async with world.sessions() as s:
        phones = sorted((await s.execute(select(DebtorPhone.phone_e164))).scalars())
        link = (await s.execute(select(ChannelLink))).scalar_one()
        audit = (
            await s.execute(
                select(AuditEvent.actor, AuditEvent.detail).where(
                    AuditEvent.kind == "verification_withdrawn"
                )
            )
        ).one()
    assert "+14155550132" not in phones and "+14155550177" in phones
    assert (link.verified_at, link.verify_method, link.verified_phone) == (None, None, None)
    assert tuple(audit) == (
        "import",
        "telegram chat: the phone it was verified with is no longer on file",
    )
    assert len(world.sandbox.bot_messages(BOT, ALICE["id"])) == 3  # the bot said nothing

    # Until the chat proves itself again it learns nothing, and the old number fails.
    texts = await world.say(ALICE, "/balance", expect=4)
    assert texts[3].startswith("Before we can help, please confirm it is you")
    keyboard = world.sandbox.transcript(BOT, ALICE["id"])["reply_keyboard"]
    assert keyboard["keyboard"][0][0] == {"text": "Share my phone number", "request_contact": True}
    world.sandbox.share_contact(BOT, ALICE, phone_number="14155550132")
    texts = await world.texts(ALICE, 5)
    assert texts[4].startswith("Sorry, that does not match our records")
    _no_debt_detail(texts[3:])

    world.sandbox.share_contact(BOT, ALICE, phone_number="14155550177")
    texts = await world.texts(ALICE, 7)

    assert texts[5].startswith("Thank you, Alice. You are confirmed")
    assert "Total: $1,324.49" in texts[6]
    async with world.sessions() as s:
        link = (await s.execute(select(ChannelLink))).scalar_one()
    assert (link.verify_method, link.verified_phone) == ("contact", "+14155550177")
