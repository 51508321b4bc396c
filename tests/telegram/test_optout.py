"""STOP means stop, at once, in any spelling; /start brings reminders back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.compliance.optout import is_stop_request
from bot.db.models import AuditEvent, Debtor
from tests.telegram.conftest import ALICE, BOT, WANG, World


@pytest.mark.parametrize(
    "text",
    ["STOP", "stop", "Stop!", "ＳＴＯＰ", " stop. ", "/stop", "UNSUBSCRIBE", "退订", "退订！",
     "取消订阅", "Please stop", "TD", "请停止", "不要再发了", "别再给我发消息了",
     "请不要再发了，谢谢", "Please stop, thanks!", "Don’t contact me", "stop contacting me"],
)  # fmt: skip
def test_stop_requests_are_recognised(text):
    assert is_stop_request(text)


@pytest.mark.parametrize(
    "text",
    ["stopped paying because I lost my job", "2001", "pay", "", "我不想停止还款", "停止还款",
     "please", "谢谢", "了", "stop paying?"],
)  # fmt: skip
def test_other_messages_are_not_stop_requests(text):
    assert not is_stop_request(text)


async def _verify(world: World, user: dict, token: str, answer: str) -> int:
    await world.say(user, f"/start {token}", expect=1)
    texts = await world.say(user, answer, expect=3)
    return len(texts)


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_stop_and_start_again(world: World):
    count = await _verify(world, ALICE, world.tokens["D-001"], "1001")

    texts = await world.say(ALICE, "ＳＴＯＰ!", expect=count + 1)
    assert texts[-1] == (
        "Understood. You will not receive any more reminders from Acme Lending in this chat,"
        " and nobody from our team will write to you here. To hear from us again, send /start."
    )
    async with world.sessions() as s:
        assert (
            await s.execute(select(Debtor.opted_out_at).where(Debtor.debtor_ref == "D-001"))
        ).scalar_one()

    texts = await world.say(ALICE, "/start", expect=count + 2)
    assert texts[-1].startswith("Here is what is currently open with Acme Lending")
    async with world.sessions() as s:
        assert (
            await s.execute(select(Debtor.opted_out_at).where(Debtor.debtor_ref == "D-001"))
        ).scalar_one() is None
        kinds = (await s.execute(select(AuditEvent.kind).order_by(AuditEvent.id))).scalars().all()
    assert kinds[-2:] == ["opted_out", "opted_in"]


@pytest.mark.parametrize("world", ["polling"], indirect=True)
async def test_stop_command_and_chinese_unsubscribe(world: World):
    count = await _verify(world, WANG, world.tokens["D-002"], "2001")
    texts = await world.say(WANG, "退订", expect=count + 1)
    assert texts[-1].startswith("好的。您将不会再在此对话中收到Acme Lending的提醒，")
    texts = await world.say(ALICE, "/stop", expect=1)  # not linked: confirmed, nothing stored
    assert texts[0].startswith("Understood.")
    async with world.sessions() as s:
        opted = (
            (await s.execute(select(Debtor.debtor_ref).where(Debtor.opted_out_at.is_not(None))))
            .scalars()
            .all()
        )
    assert opted == ["D-002"]
    assert world.sandbox.transcript(BOT, WANG["id"])["reply_keyboard"] is None
