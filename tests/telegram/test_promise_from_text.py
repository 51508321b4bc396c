"""A promise asked for in free text ("I can pay 50 on Friday", "我下周五还"), through the real bot:
the date (and an amount) in the words skip their questions, the summary always comes first."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from babel.dates import format_date

from tests.telegram.conftest import ALICE, WANG, World
from tests.telegram.test_promise import buttons, local_today, press, promises, verify

# The flows' steps do not depend on the database: CI runs these on PostgreSQL only.
pytestmark = [pytest.mark.parametrize("world", ["polling"], indirect=True), pytest.mark.once]

BOB = {"id": 7003, "first_name": "Bob", "language_code": "en"}
NEW_YORK, LOS_ANGELES, SHANGHAI = "America/New_York", "America/Los_Angeles", "Asia/Shanghai"


def coming_friday(zone: str) -> date:
    """Friday of this week, or today when it is Friday."""
    today = local_today(zone)
    return today + timedelta(days=(4 - today.weekday()) % 7)


def next_weeks_friday(zone: str) -> date:
    """Friday of next week (weeks start on Monday)."""
    today = local_today(zone)
    return today + timedelta(days=7 - today.weekday() + 4)


def en(day: date) -> str:
    return format_date(day, "long", locale="en")


def zh(day: date) -> str:
    return format_date(day, "long", locale="zh_CN")


async def test_a_date_and_an_amount_in_the_words_lead_to_the_summary(world: World):
    n = await verify(world, BOB, "D-003", "3001")
    friday = coming_friday(NEW_YORK)

    texts = await world.say(BOB, "I can pay 50 on Friday", expect=n + 1)

    assert texts[-1].splitlines() == [
        "Please check your promise:",
        "",
        f"You will pay $50.00 towards account ACC-3001 by {en(friday)}.",
        "",
        "Is that right?",
    ]
    assert buttons(world, BOB) == ["Confirm", "Change", "Cancel"]
    assert await promises(world) == []  # nothing is stored before confirming
    texts = await press(world, BOB, "Confirm", expect=n + 2)
    assert texts[-1].startswith("Thank you, Bob. Your promise is recorded: $50.00 by ")
    assert await promises(world) == [(5000, "USD", friday, "open")]


async def test_a_date_in_the_words_skips_the_date_question(world: World):
    n = await verify(world, BOB, "D-003", "3001")
    friday = coming_friday(NEW_YORK)

    texts = await world.say(BOB, "I will pay on Friday", expect=n + 1)

    assert texts[-1] == (
        f"How much will you pay by {en(friday)}? Choose the full amount, or type an amount of"
        " at least $31.00."
    )
    assert buttons(world, BOB) == ["Full amount: $310.00", "Cancel"]
    texts = await world.say(BOB, "100", expect=n + 2)
    assert f"You will pay $100.00 towards account ACC-3001 by {en(friday)}." in texts[-1]
    assert await promises(world) == []
    await press(world, BOB, "Confirm", expect=n + 3)
    assert await promises(world) == [(10000, "USD", friday, "open")]


async def test_with_several_accounts_the_account_comes_first_and_the_date_is_kept(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    target = local_today(LOS_ANGELES) + timedelta(days=5)

    texts = await world.say(ALICE, f"I can pay {target.month}/{target.day}", expect=n + 1)

    assert texts[-1] == "Which account is your promise for?"
    texts = await press(world, ALICE, "ACC-1002 · $89.99", expect=n + 2)
    assert texts[-1].startswith(f"How much will you pay by {en(target)}? ")
    texts = await press(world, ALICE, "Full amount: $89.99", expect=n + 3)
    assert f"You will pay $89.99 towards account ACC-1002 by {en(target)}." in texts[-1]
    await press(world, ALICE, "Confirm", expect=n + 4)
    assert await promises(world) == [(8999, "USD", target, "open")]


async def test_a_date_that_is_no_day_is_said_and_the_date_question_asked(world: World):
    n = await verify(world, BOB, "D-003", "3001")

    texts = await world.say(BOB, "I can pay on 13/45", expect=n + 2)

    assert texts[-2] == "Sorry, I could not read the date in your message."
    assert texts[-1].startswith("When can you pay? Choose a date, or type one (for example ")
    texts = await press(world, BOB, "Tomorrow", expect=n + 3)
    tomorrow = local_today(NEW_YORK) + timedelta(days=1)
    assert texts[-1].startswith(f"How much will you pay by {en(tomorrow)}? ")
    assert await promises(world) == []


async def test_a_past_date_in_the_words_is_said_politely(world: World):
    n = await verify(world, BOB, "D-003", "3001")

    texts = await world.say(BOB, "I will pay on 2020-01-01", expect=n + 2)

    assert texts[-2] == "That date has already passed. Please choose today or a later date."
    assert texts[-1].startswith("When can you pay?")
    assert await promises(world) == []


async def test_a_date_too_far_is_said_after_the_account_is_chosen(world: World):
    n = await verify(world, ALICE, "D-001", "1001")
    today = local_today(LOS_ANGELES)
    far = today + timedelta(days=45)

    texts = await world.say(ALICE, f"I'll pay {en(far)}", expect=n + 1)

    assert texts[-1] == "Which account is your promise for?"
    texts = await press(world, ALICE, "ACC-1001 · $1,234.50", expect=n + 3)
    assert texts[-2] == f"Please choose a date no later than {en(today + timedelta(days=30))}."
    assert texts[-1].startswith("When can you pay?")
    assert await promises(world) == []


async def test_an_amount_above_the_balance_is_said_and_the_amount_question_asked(world: World):
    n = await verify(world, BOB, "D-003", "3001")
    friday = coming_friday(NEW_YORK)

    texts = await world.say(BOB, "I can pay $5,000 on Friday", expect=n + 2)

    assert texts[-2] == (
        "That is more than you owe ($310.00). Please type a smaller amount, or choose the full"
        " amount."
    )
    assert texts[-1].startswith(f"How much will you pay by {en(friday)}? ")
    assert await promises(world) == []


async def test_chinese_next_friday_skips_the_date_question(world: World):
    n = await verify(world, WANG, "D-002", "2001")
    friday = next_weeks_friday(SHANGHAI)

    texts = await world.say(WANG, "我下周五还", expect=n + 1)

    assert texts[-1] == f"您将在{zh(friday)}前还款多少？请选择全额，或输入不少于 ¥560.00 的金额。"
    texts = await press(world, WANG, "全额：¥5,600.00", expect=n + 2)
    assert f"您将在 {zh(friday)} 前为账户 ACC-2001 还款 ¥5,600.00。" in texts[-1]
    assert await promises(world) == []
    texts = await press(world, WANG, "确认", expect=n + 3)
    assert texts[-1].startswith("谢谢您，王小明！您的还款承诺已记录")
    assert await promises(world) == [(560000, "CNY", friday, "open")]


async def test_chinese_month_day_and_amount_lead_to_the_summary(world: World):
    n = await verify(world, WANG, "D-002", "2001")
    target = local_today(SHANGHAI) + timedelta(days=10)

    texts = await world.say(WANG, f"{target.month}月{target.day}日还款1000元", expect=n + 1)

    assert texts[-1].splitlines() == [
        "请确认您的还款承诺：",
        "",
        f"您将在 {zh(target)} 前为账户 ACC-2001 还款 ¥1,000.00。",
        "",
        "以上信息是否正确？",
    ]
    assert buttons(world, WANG) == ["确认", "修改", "取消"]
    assert await promises(world) == []
    await press(world, WANG, "确认", expect=n + 2)
    assert await promises(world) == [(100000, "CNY", target, "open")]


async def test_chinese_amount_below_the_minimum_is_said(world: World):
    n = await verify(world, WANG, "D-002", "2001")
    friday = coming_friday(SHANGHAI)

    texts = await world.say(WANG, "周五还100元", expect=n + 2)

    assert texts[-2] == "我们可以记录的最低金额为 ¥560.00。请输入更大的金额，或选择全额。"
    assert texts[-1].startswith(f"您将在{zh(friday)}前还款多少？")
    assert await promises(world) == []


async def test_chinese_date_that_is_no_day_is_said(world: World):
    n = await verify(world, WANG, "D-002", "2001")

    texts = await world.say(WANG, "2月30日还款", expect=n + 2)

    assert texts[-2] == "抱歉，我没有看懂您消息中的日期。"
    assert texts[-1].startswith("您什么时候可以还款？请选择一个日期，或直接输入")
    assert await promises(world) == []
