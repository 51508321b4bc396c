"""The dialogues are registered in one place, and ``Dialogues.answer`` answers any chat."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

import bot.dialogues
from bot.channel import Chat
from bot.db.models import DialogueState
from bot.dialogues import registry
from bot.dialogues.engine import Input, Settings
from bot.dialogues.router import Dialogues
from bot.linking.tokens import issue_links
from bot.policy import load_policy
from tests.helpers import add_debtor

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
CHAT = Chat("telegram", 5151, 5151, "en")
DIALOGUES = Dialogues(load_policy(), Settings("Acme Lending", "https://pay.example/{account_ref}"))
SUMMARY = "Here is what is currently open with Acme Lending:"


def test_every_flow_and_the_identity_check_has_its_diagram_beside_it():
    here = Path(bot.dialogues.__file__).parent
    named = {d.name for d in registry.dialogues() if d.flow} | {"verify"}
    assert sorted(n for n in named if not (here / f"{n}.mmd").exists()) == []


def test_menu_buttons_commands_and_words_name_what_is_registered():
    keys = set(registry.openers())
    assert {b.key for row in registry.menu_rows() for b in row} <= keys
    assert {c.opens for c in registry.commands() if c.opens} <= keys
    assert {w.key for w in registry.intent_rules()} <= keys


async def answer(sessions, link_wanted: bool, inp: Input):
    async with sessions.begin() as s:
        link = await DIALOGUES.link_of(s, CHAT) if link_wanted else None
        return await DIALOGUES.answer(s, CHAT, link, inp, NOW)


async def test_a_sticker_or_an_unknown_command_of_a_verified_chat_goes_home(sessions):
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", chat_id=CHAT.chat_id, accounts=[("A-1", date(2026, 11, 20), 5000, "USD")]
        )
    for inp in (Input("other"), Input("command", text="help")):
        outcome = await answer(sessions, True, inp)
        assert outcome.debtor_id == debtor.id
        assert [m.text.split("\n")[0] for m in outcome.messages] == [SUMMARY]


async def test_an_unlinked_chat_gets_the_generic_greeting_for_anything(sessions):
    for inp in (Input("other"), Input("command", text="promise"), Input("text", text="hi")):
        outcome = await answer(sessions, True, inp)
        assert (outcome.debtor_id, [m.template_key for m in outcome.messages]) == (
            None,
            ["start_generic"],
        )
    async with sessions() as s:
        assert (await s.execute(select(DialogueState))).scalars().all() == []


async def state_row(sessions) -> tuple:
    async with sessions() as s:
        state = (await s.execute(select(DialogueState))).scalar_one()
        return state.debtor_id, state.flow, state.step, state.version


async def test_the_identity_check_keeps_its_step_in_dialogue_state_through_the_engine(sessions):
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", phone="+14155550123", accounts=[("A-1", date(2026, 11, 20), 5000, "USD")]
        )
        issued, _ = await issue_links(s, now=NOW, ttl=timedelta(days=30), rotate=False)

    outcome = await answer(sessions, True, Input("start", text=issued[0].token))
    assert [m.template_key for m in outcome.messages] == ["link_greeting"]
    assert await state_row(sessions) == (debtor.id, "verify", "contact", 1)

    shared = Input("contact", contact_user_id=CHAT.user_id, phone="14155550123")
    outcome = await answer(sessions, True, shared)
    assert [m.template_key for m in outcome.messages] == ["verified", "balance_summary"]
    assert await state_row(sessions) == (debtor.id, None, None, 2)
