"""Two bot processes on one database answering the same chat at once lose and double nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from bot.db.engine import create_engine, session_factory
from bot.db.models import DialogueState, Promise
from bot.dialogues.engine import Input, Settings
from bot.dialogues.router import Dialogues
from bot.policy import load_policy
from tests.helpers import add_debtor

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
CHAT = 4242


def _confirm_data(replies) -> str:
    for message in replies:
        for row in message.buttons:
            for button in row:
                if button.data and button.data.startswith("p:yes|"):
                    return button.data
    raise AssertionError("no Confirm button")


async def test_a_double_confirm_from_two_processes_stores_one_promise(sessions, database_url):
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=CHAT, accounts=[("A-1", date(2026, 11, 20), 50000, "USD")]
        )
    dialogues = Dialogues(
        load_policy(), Settings("Acme Lending", "https://pay.example/{account_ref}")
    )

    async def turn(factory, inp: Input):
        async with factory.begin() as s:
            return await dialogues.handle(
                s, channel="telegram", chat_id=CHAT, debtor_id=debtor.id, inp=inp, now=NOW
            )

    await turn(sessions, Input("command", text="promise"))
    await turn(sessions, Input("text", text=(NOW.date() + timedelta(days=2)).isoformat()))
    confirm = _confirm_data(await turn(sessions, Input("text", text="500")))

    # Two processes: separate engines, separate connection pools.
    other = create_engine(database_url)
    try:
        results = await asyncio.gather(
            turn(sessions, Input("button", data=confirm)),
            turn(session_factory(other), Input("button", data=confirm)),
        )
    finally:
        await other.dispose()

    firsts = sorted(r[0].text[:39] for r in results)
    assert firsts == [
        "Thank you, Test. Your promise is record",
        "That button belongs to an earlier messa",
    ]
    async with sessions() as s:
        assert (await s.execute(select(func.count()).select_from(Promise))).scalar_one() == 1
        state = (await s.execute(select(DialogueState))).scalar_one()
    assert (state.flow, state.step) == (None, None)


async def test_consecutive_inputs_handled_by_two_processes_keep_their_order(
    sessions, database_url
):
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=CHAT, accounts=[("A-1", date(2026, 11, 20), 50000, "USD")]
        )
    dialogues = Dialogues(
        load_policy(), Settings("Acme Lending", "https://pay.example/{account_ref}")
    )
    other = create_engine(database_url)
    factories = [sessions, session_factory(other)]
    try:
        inputs = [
            Input("command", text="promise"),
            Input("text", text=(NOW.date() + timedelta(days=3)).isoformat()),
            Input("text", text="250"),
        ]
        for i, inp in enumerate(inputs):
            async with factories[i % 2].begin() as s:
                await dialogues.handle(
                    s, channel="telegram", chat_id=CHAT, debtor_id=debtor.id, inp=inp, now=NOW
                )
    finally:
        await other.dispose()
    async with sessions() as s:
        state = (await s.execute(select(DialogueState))).scalar_one()
    assert (state.flow, state.step, state.data["amount_minor"]) == ("promise", "confirm", 25000)
