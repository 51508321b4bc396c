"""Promise to pay, through the real bot: every step, its checks, and what is stored."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.app import running
from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.db.models import Account, ContactLog, Debtor, DialogueState, Promise, RepaymentPlan
from bot.policy import load_policy
from bot.services.payments import record_payments
from tests.telegram.conftest import ALICE, BOT, WANG, World

# The flows' steps do not depend on the database: CI runs these on PostgreSQL only.
pytestmark = [pytest.mark.parametrize("world", ["polling"], indirect=True), pytest.mark.once]


async def verify(world: World, user: dict, debtor_ref: str, answer: str) -> int:
    """Link and verify by knowledge question; return how many bot messages there are now."""
    await world.say(user, f"/start {world.tokens[debtor_ref]}", expect=1)
    await world.say(user, answer, expect=3)
    return 3


async def press(world: World, user: dict, label: str, expect: int) -> list[str]:
    """Press the newest button with this label; wait for the bot's ``expect``-th message."""
    for message in reversed(world.sandbox.bot_messages(BOT, user["id"])):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if button["text"] == label and "callback_data" in button:
                    world.sandbox.press_button(
                        BOT, user, message["message"]["message_id"], button["callback_data"]
                    )
                    return await world.texts(user, expect)
    raise AssertionError(f"no button {label!r}")


def buttons(world: World, user: dict) -> list[str]:
    """The labels of the newest message's inline buttons."""
    markup = world.sandbox.bot_messages(BOT, user["id"])[-1].get("reply_markup") or {}
    return [b["text"] for row in markup.get("inline_keyboard", []) for b in row]


async def promises(world: World) -> list[tuple]:
    async with world.sessions() as s:
        rows = await s.execute(
            select(Promise.amount_minor, Promise.currency, Promise.promised_date, Promise.status)
        )
        return [tuple(r) for r in rows]


def local_today(zone: str) -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(UTC).astimezone(ZoneInfo(zone)).date()


async def test_promise_in_english_with_a_typed_date_and_amount(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    texts = await press(world, ALICE, "Promise to pay", expect=n + 1)
    assert texts[-1] == "Which account is your promise for?"
    assert buttons(world, ALICE) == ["ACC-1001 · $1,234.50", "ACC-1002 · $89.99", "Cancel"]

    texts = await press(world, ALICE, "ACC-1001 · $1,234.50", expect=n + 2)
    assert texts[-1].startswith("When can you pay? Choose a date, or type one (for example ")
    target = local_today("America/Los_Angeles") + timedelta(days=5)
    texts = await world.say(ALICE, f"{target:%B} {target.day}", expect=n + 3)
    assert texts[-1].startswith("How much will you pay by ")
    assert texts[-1].endswith("or type an amount of at least $123.45.")
    texts = await world.say(ALICE, "$500", expect=n + 4)
    assert (
        texts[-1].splitlines()[2].startswith("You will pay $500.00 towards account ACC-1001 by ")
    )
    assert await promises(world) == []  # nothing is stored before confirming

    texts = await press(world, ALICE, "Confirm", expect=n + 5)

    assert texts[-1].startswith("Thank you, Alice. Your promise is recorded: $500.00 by ")
    assert await promises(world) == [(50000, "USD", target, "open")]
    async with world.sessions() as s:
        state = (await s.execute(select(DialogueState))).scalar_one()
    assert (state.flow, state.step) == (None, None)
    # Every message written from a template names it and its version in the contact log; the
    # steps' questions are short labels, not templates.
    async with world.sessions() as s:
        sent = (
            await s.execute(
                select(ContactLog.template_key, ContactLog.template_version, ContactLog.text)
                .where(ContactLog.direction == "out")
                .order_by(ContactLog.id)
            )
        ).all()
    named = {key: version for key, version, _ in sent if key is not None}
    assert {"link_greeting", "verified", "promise_confirmed"} <= set(named)
    assert set(named.values()) == {0}
    for key, _, text in sent:
        if text.startswith("Thank you, Alice. Your promise is recorded"):
            assert key == "promise_confirmed"
        if text == "Which account is your promise for?":
            assert key is None


async def test_promise_in_chinese_with_a_quick_pick_and_the_full_amount(world: World):
    n = await verify(world, WANG, "D-002", "2001")
    texts = await press(world, WANG, "承诺还款日期", expect=n + 1)
    assert texts[-1].startswith("您什么时候可以还款？")
    texts = await press(world, WANG, "3天后", expect=n + 2)
    assert texts[-1].startswith("您将在")
    texts = await press(world, WANG, "全额：¥5,600.00", expect=n + 3)
    assert "还款 ¥5,600.00" in texts[-1]
    texts = await press(world, WANG, "确认", expect=n + 4)
    assert texts[-1].startswith("谢谢您，王小明！您的还款承诺已记录")
    assert await promises(world) == [
        (560000, "CNY", local_today("Asia/Shanghai") + timedelta(days=3), "open")
    ]


async def test_bad_dates_and_amounts_get_polite_answers_and_store_nothing(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "Promise to pay", expect=n + 1)
    await press(world, ALICE, "ACC-1002 · $89.99", expect=n + 2)
    texts = await world.say(ALICE, "next blue moon", expect=n + 3)
    assert texts[-1].startswith("Sorry, I could not read that date.")
    texts = await world.say(ALICE, "2020-01-01", expect=n + 4)
    assert texts[-1] == "That date has already passed. Please choose today or a later date."
    texts = await world.say(ALICE, "2099-01-01", expect=n + 5)
    assert texts[-1].startswith("Please choose a date no later than ")
    await press(world, ALICE, "Tomorrow", expect=n + 6)
    texts = await world.say(ALICE, "1000", expect=n + 7)
    assert texts[-1].startswith("That is more than you owe ($89.99).")
    texts = await world.say(ALICE, "1", expect=n + 8)
    assert texts[-1].startswith("The smallest amount we can record is $8.99.")
    texts = await world.say(ALICE, "lots", expect=n + 9)
    assert texts[-1].startswith("Sorry, I could not read that amount.")
    texts = await world.say(ALICE, "/cancel", expect=n + 11)
    assert texts[-2] == "Cancelled. Nothing was changed."
    assert texts[-1].startswith("Here is what is currently open")
    assert await promises(world) == []


async def test_a_stale_button_says_so_and_shows_the_current_step(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "Promise to pay", expect=n + 1)
    question = world.sandbox.bot_messages(BOT, ALICE["id"])[-1]
    data = {
        b["text"]: b["callback_data"]
        for row in question["reply_markup"]["inline_keyboard"]
        for b in row
    }
    # Two presses on the account question before the first is answered (two taps, or two
    # devices): the second no longer applies once the first moved the conversation on.
    for label in ("ACC-1001 · $1,234.50", "ACC-1002 · $89.99"):
        world.sandbox.press_button(BOT, ALICE, question["message_id"], data[label])
    texts = await world.texts(ALICE, n + 4)
    assert texts[-2] == (
        "That button belongs to an earlier message and no longer applies."
        " Here is where we are now."
    )
    assert texts[-1].startswith("When can you pay?")
    # The answered question loses its buttons; the question now asked keeps its own.
    for _ in range(100):
        if world.sandbox.bot_messages(BOT, ALICE["id"])[n]["reply_markup"] is None:
            break
        await asyncio.sleep(0.05)
    messages = world.sandbox.bot_messages(BOT, ALICE["id"])
    assert messages[n]["message_id"] == question["message_id"]
    assert messages[n]["reply_markup"] is None
    assert messages[-1]["reply_markup"]["inline_keyboard"]


async def test_an_idle_flow_starts_over_politely(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "Promise to pay", expect=n + 1)
    async with world.sessions.begin() as s:
        await s.execute(
            update(DialogueState).values(updated_at=datetime.now(UTC) - timedelta(hours=2))
        )
    texts = await world.say(ALICE, "tomorrow", expect=n + 3)
    assert texts[-2] == "That conversation was left for a while, so let's start again."
    assert texts[-1].startswith("Sorry, I did not understand that.") or texts[-1].startswith(
        "Here is what"
    )


async def test_language_switch_is_kept(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "Language", expect=n + 1)
    texts = await press(world, ALICE, "简体中文", expect=n + 3)
    assert texts[-2] == "好的。从现在起我会用简体中文和您交流。"
    assert texts[-1].startswith("以下是您在Acme Lending目前未结清的款项")
    async with world.sessions() as s:
        assert (
            await s.execute(select(Debtor.locale).where(Debtor.debtor_ref == "D-001"))
        ).scalar_one() == "zh_CN"


async def test_a_restart_between_steps_loses_nothing(world: World, sandbox, database_url):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "Promise to pay", expect=n + 1)
    await press(world, ALICE, "ACC-1001 · $1,234.50", expect=n + 2)
    await press(world, ALICE, "Tomorrow", expect=n + 3)
    await world.process_stop()

    async with running(world.settings, rate_limiter=ChatRateLimiter(), reminders=False):
        texts = await world.say(ALICE, "200", expect=n + 4)
        assert "You will pay $200.00 towards account ACC-1001" in texts[-1]
        texts = await press(world, ALICE, "Confirm", expect=n + 5)
    assert texts[-1].startswith("Thank you, Alice. Your promise is recorded: $200.00")
    assert len(await promises(world)) == 1


async def test_an_account_paid_during_the_promise_flow_ends_it_politely(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "Promise to pay", expect=n + 1)
    await press(world, ALICE, "ACC-1002 · $89.99", expect=n + 2)
    texts = await press(world, ALICE, "Tomorrow", expect=n + 3)
    assert texts[-1].startswith("How much will you pay by ")
    # The payment provider reports ACC-1002 paid in full meanwhile.
    async with world.sessions.begin() as s:
        account_id = (
            await s.execute(select(Account.id).where(Account.account_ref == "ACC-1002"))
        ).scalar_one()
        await record_payments(
            s, [{"payment_ref": "PAY-1002", "account_id": account_id, "amount_minor": 8999,
                 "currency": "USD", "paid_at": datetime.now(UTC), "source": "test"}],
            load_policy(None), datetime.now(UTC),
        )  # fmt: skip

    texts = await press(world, ALICE, "Full amount: $89.99", expect=n + 5)
    assert texts[-2] == (
        "The account we were talking about has changed in the meantime (it may have been paid"
        " or closed), so I have stopped there. Here is where things stand now."
    )
    assert "ACC-1001" in texts[-1] and "ACC-1002" not in texts[-1]
    assert await promises(world) == []
    async with world.sessions() as s:
        state = (await s.execute(select(DialogueState))).scalar_one()
    assert (state.flow, state.step) == (None, None)


async def test_an_account_closed_during_the_plan_flow_ends_it_politely_in_chinese(world: World):
    n = await verify(world, WANG, "D-002", "2001")
    texts = await press(world, WANG, "申请分期还款", expect=n + 1)
    assert texts[-1].startswith("您的欠款为 ¥5,600.00。您希望分几期还清？")
    # The creditor withdraws the account meanwhile.
    async with world.sessions.begin() as s:
        await s.execute(
            update(Account).where(Account.account_ref == "ACC-2001").values(status="closed")
        )

    texts = await world.say(WANG, "3", expect=n + 3)
    assert texts[-2] == (
        "我们刚才说到的账户在此期间有了变化（可能已还清或已关闭），所以先停在这里。以下是目前的情况。"
    )
    assert "ACC-2001" not in texts[-1]
    async with world.sessions() as s:
        assert (await s.execute(select(RepaymentPlan))).scalars().all() == []


async def test_an_amount_in_another_currency_is_asked_for_again(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    await press(world, ALICE, "Promise to pay", expect=n + 1)
    await press(world, ALICE, "ACC-1002 · $89.99", expect=n + 2)
    await press(world, ALICE, "Tomorrow", expect=n + 3)
    other = "This account is in US dollars (USD), so please type the amount in US dollars (USD)."

    texts = await world.say(ALICE, "€50", expect=n + 4)
    assert texts[-1] == other
    assert buttons(world, ALICE) == ["Full amount: $89.99", "Cancel"]
    texts = await world.say(ALICE, "50 EUR", expect=n + 5)
    assert texts[-1] == other
    texts = await world.say(ALICE, "50 USD", expect=n + 6)
    assert texts[-1].startswith("Please check your promise")
    assert "$50.00" in texts[-1]


async def test_a_promise_written_with_another_currency_asks_for_the_amount(world: World):
    n = await verify(world, WANG, "D-002", "2001")
    texts = await world.say(WANG, "我明天还100美元", expect=n + 2)
    assert texts[-2] == "此账户以人民币 (CNY)计价，请用人民币 (CNY)输入金额。"
    assert texts[-1].startswith("您将在")
    texts = await world.say(WANG, "1000元", expect=n + 3)
    assert "¥1,000.00" in texts[-1]
    assert await promises(world) == []
