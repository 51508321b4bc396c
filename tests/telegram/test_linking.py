"""Debtors arrive through deep links and prove who they are before seeing anything."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from bot.db.base import utcnow
from bot.db.models import AuditEvent, ChannelLink, ContactLog, LinkToken
from tests.telegram.conftest import ALICE, BOT, STRANGER, WANG, World

GENERIC = "Hello, and thank you for getting in touch. This chat is run by Acme Lending."


async def eventually(world: World, done, within: float = 5.0) -> list[tuple[str, str]]:
    """The contact log (direction, kind) once ``done(rows)`` holds, or as it is at the end."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with world.sessions() as s:
            rows = [
                tuple(r)
                for r in await s.execute(
                    select(ContactLog.direction, ContactLog.kind).order_by(ContactLog.id)
                )
            ]
        if done(rows) or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.05)


def _no_debt_detail(texts: list[str]) -> None:
    for text in texts:
        for secret in ("1,234.50", "89.99", "Alice", "Martin", "ACC-", "5,600", "310.00"):
            assert secret not in text, (secret, text)


async def _link(world: World, debtor_ref: str) -> ChannelLink | None:
    async with world.sessions() as s:
        return (
            (
                await s.execute(
                    select(ChannelLink)
                    .join(LinkToken, LinkToken.id == ChannelLink.token_id)
                    .where(ChannelLink.chat_id.in_([ALICE["id"], WANG["id"], STRANGER["id"]]))
                )
            )
            .scalars()
            .first()
        )


async def test_link_and_verify_by_contact_shows_the_balance(world: World):
    texts = await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=1)
    assert texts[0].startswith("Hello, and welcome. This is the assistant of Acme Lending.")
    _no_debt_detail(texts)
    keyboard = world.sandbox.transcript(BOT, ALICE["id"])["reply_keyboard"]
    assert keyboard["keyboard"][0][0] == {"text": "Share my phone number", "request_contact": True}

    world.sandbox.share_contact(BOT, ALICE, phone_number="14155550132")
    texts = await world.texts(ALICE, 3)

    assert texts[1] == (
        "Thank you, Alice. You are confirmed, and this chat is now connected to your records"
        " with Acme Lending."
    )
    assert texts[2].splitlines()[:4] == [
        "Here is what is currently open with Acme Lending:",
        "",
        "• $1,234.50 – Personal loan (ref. ACC-1001), due November 20, 2026",
        "• $89.99 (ref. ACC-1002), due November 25, 2026",
    ]
    assert "Total: $1,324.49" in texts[2]
    last = world.sandbox.bot_messages(BOT, ALICE["id"])[-1]
    assert last["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "Pay ACC-1001",
        "url": "https://pay.example/acme/ACC-1001",
    }
    link = await _link(world, "D-001")
    assert (link.verify_method, link.verified_at is not None) == ("contact", True)
    async with world.sessions() as s:
        token = await s.get(LinkToken, link.token_id)
    # The bot logs a message right after Telegram accepts it, so the last row may lag a moment.
    log = await eventually(world, lambda rows: len(rows) == 5)
    assert token.used_at is not None
    assert log == [
        ("in", "command"),
        ("out", "reply"),
        ("in", "contact"),
        ("out", "reply"),
        ("out", "reply"),
    ]


async def test_verify_by_knowledge_question_in_chinese(world: World):
    await world.say(WANG, f"/start {world.tokens['D-002']}", expect=1)
    keyboard = world.sandbox.transcript(BOT, WANG["id"])["reply_keyboard"]["keyboard"]
    assert [row[0]["text"] for row in keyboard] == ["分享我的手机号码", "回答一个问题"]
    texts = await world.say(WANG, "改为回答问题", expect=2)  # not an answer: a nudge, no count
    assert texts[1].startswith("在为您提供帮助之前，请先确认身份")
    texts = await world.say(WANG, "回答一个问题", expect=3)  # the button's text
    assert texts[2].startswith("没问题。请输入您任一账户编号的最后 4 位字符。")
    texts = await world.say(WANG, "2001", expect=5)

    assert texts[3] == "谢谢您，王小明。身份已确认，本对话现已与您在Acme Lending的记录关联。"
    assert "• ¥5,600.00（消费贷），编号 ACC-2001，到期日 2026年11月10日" in texts[4]
    link = await _link(world, "D-002")
    assert link.verify_method == "knowledge"


async def test_someone_elses_contact_and_wrong_phone_fail_then_lock(world: World):
    await world.say(STRANGER, f"/start {world.tokens['D-001']}", expect=1)
    # Opening the link twice greets twice, and links the chat once.
    texts = await world.say(STRANGER, f"/start {world.tokens['D-001']}", expect=2)
    assert texts[1] == texts[0]
    world.sandbox.share_contact(BOT, STRANGER, phone_number="14155550132", contact_user_id=999)
    texts = await world.texts(STRANGER, 3)
    assert texts[2].startswith("That contact belongs to someone else.")
    assert "You have 2 attempts left." in texts[2]

    world.sandbox.share_contact(BOT, STRANGER, phone_number="+447700900123")
    texts = await world.texts(STRANGER, 4)
    assert texts[3].startswith("Sorry, that does not match our records")
    assert "You have 1 attempt left." in texts[3]

    texts = await world.say(STRANGER, "9999", expect=5)
    assert texts[4].startswith("For your security, we have paused this link")
    texts = await world.say(STRANGER, "1001", expect=6)  # right answer, too late
    assert texts[5].startswith("For your security, we have paused this link")
    _no_debt_detail(texts)

    async with world.sessions() as s:
        token = (
            await s.execute(select(LinkToken).where(LinkToken.failed_attempts > 0))
        ).scalar_one()
        kinds = (await s.execute(select(AuditEvent.kind).order_by(AuditEvent.id))).scalars().all()
    assert (token.failed_attempts, token.locked_at is not None, token.used_at) == (3, True, None)
    assert kinds == [
        "chat_linked",
        "link_opened_again",
        "verify_failed",
        "verify_failed",
        "verify_failed",
        "link_locked",
    ]

    # The real debtor, in their own chat, cannot use the locked link either.
    texts = await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=1)
    assert texts[0].startswith(GENERIC)


async def test_reused_expired_and_unknown_tokens_get_the_generic_answer(world: World):
    await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=1)
    world.sandbox.share_contact(BOT, ALICE, phone_number="+1 415 555 0132")
    await world.texts(ALICE, 3)

    reused = await world.say(STRANGER, f"/start {world.tokens['D-001']}", expect=1)
    unknown = await world.say(STRANGER, "/start AAAAbbbbCCCCddddEEEEffffGGGGhhhh", expect=2)
    malformed = await world.say(STRANGER, "/start ../../etc/passwd", expect=3)
    plain = await world.say(STRANGER, "/start", expect=4)
    async with world.sessions.begin() as s:
        await s.execute(update(LinkToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await world.say(WANG, f"/start {world.tokens['D-002']}", expect=1)

    for texts in (reused, unknown, malformed, plain):
        assert texts[-1].startswith(GENERIC)
    assert expired[0].startswith("您好，感谢您的联系。本对话由Acme Lending提供。")


async def test_garbage_and_buttons_before_verification_reveal_nothing(world: World):
    await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=1)
    texts = await world.say(ALICE, "how much do I owe?? " * 30, expect=2)
    assert texts[1].startswith("Before we can help, please confirm it is you")
    texts = await world.say(ALICE, "/balance", expect=3)
    assert texts[2].startswith("Before we can help, please confirm it is you")
    texts = await world.say(ALICE, "🙂🙂🙂", expect=4)
    _no_debt_detail(texts)
    stranger = await world.say(STRANGER, "hello", expect=1)
    assert stranger[0].startswith(GENERIC)


async def test_a_chat_linked_to_one_debtor_is_not_relinked_silently(world: World):
    await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=1)
    world.sandbox.share_contact(BOT, ALICE, phone_number="14155550132")
    await world.texts(ALICE, 3)

    texts = await world.say(ALICE, f"/start {world.tokens['D-003']}", expect=4)

    assert texts[3].startswith("This chat is already connected to other records")
    async with world.sessions() as s:
        links = (await s.execute(select(ChannelLink.debtor_id))).scalars().all()
        refused = (
            (await s.execute(select(AuditEvent.kind).where(AuditEvent.kind == "relink_refused")))
            .scalars()
            .all()
        )
    assert len(links) == 1
    assert refused == ["relink_refused"]


async def test_a_second_chat_may_verify_for_the_same_debtor(world: World):
    await world.say(ALICE, f"/start {world.tokens['D-001']}", expect=1)
    world.sandbox.share_contact(BOT, ALICE, phone_number="14155550132")
    await world.texts(ALICE, 3)
    async with world.sessions.begin() as s:
        from bot.linking.tokens import issue_links

        issued, _ = await issue_links(s, now=utcnow(), ttl=timedelta(days=1), rotate=True)
    second_token = next(i.token for i in issued if i.debtor_ref == "D-001")
    other_phone = {"id": 7009, "first_name": "Alice", "language_code": "en"}

    await world.say(other_phone, f"/start {second_token}", expect=1)
    texts = await world.say(other_phone, "1002", expect=3)

    assert texts[1].startswith("Thank you, Alice.")
    async with world.sessions() as s:
        detail = (
            (
                await s.execute(
                    select(AuditEvent.detail)
                    .where(AuditEvent.kind == "chat_verified")
                    .order_by(AuditEvent.id)
                )
            )
            .scalars()
            .all()
        )
    assert detail == ["by contact", "by knowledge; 1 other verified chat(s)"]
