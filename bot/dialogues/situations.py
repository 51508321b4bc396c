"""The reason behind a delay, as a good collector asks it (see situations.mmd): can pay soon,
cannot pay for a long time, disputes the debt, wants to complain, reports a death, or wants a
person. Each answer is recorded; the ones a person must handle open (or join) a ticket."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from bot import labels
from bot.channel import Button
from bot.compliance.records import audit
from bot.db.base import touch
from bot.db.models import Account, AccountStatus
from bot.dialogues.engine import Turn
from bot.dialogues.registry import Command, Dialogue, MenuButton, Words
from bot.handoff.tickets import open_ticket

FLOW = "situation"
KNOWN = ("soon", "pause", "long", "dispute", "complaint", "deceased")


async def ask(turn: Turn, said: str = "") -> None:
    """What is making it hard to pay?"""
    _ = turn._
    turn.goto(FLOW, "reason")
    options = [
        (labels.SITUATION_SOON, "s:soon"),
        (labels.SITUATION_LONG, "s:long"),
        (labels.SITUATION_DISPUTE, "s:dispute"),
        (labels.SITUATION_COMPLAINT, "s:complaint"),
        (labels.SITUATION_DECEASED, "s:deceased"),
    ]
    rows = [[turn.button(_(label), action)] for label, action in options]
    turn.say(_(labels.SITUATION_ASK), [*rows, turn.cancel_row()])


async def ask_dispute_or_complaint(turn: Turn, said: str = "") -> None:
    """Dispute the debt, or complain about how it was handled?"""
    _ = turn._
    turn.goto(FLOW, "dispute")
    rows = [
        [turn.button(_(labels.SITUATION_DISPUTE), "s:dispute")],
        [turn.button(_(labels.SITUATION_COMPLAINT), "s:complaint")],
    ]
    turn.say(_(labels.DISPUTE_OR_COMPLAINT), [*rows, turn.cancel_row()])


def _soon_options(turn: Turn) -> None:
    _ = turn._
    days = turn.policy.hardship.max_pause_days
    turn.goto(FLOW, "soon")
    turn.say(
        _(labels.SOON_OPTIONS, days=days),
        [
            [Button(_(labels.MENU["promise"]), data="menu:promise")],
            [Button(_(labels.MENU["plan"]), data="menu:plan")],
            [turn.button(_(labels.PAUSE, days=days), "s:pause")],
            turn.cancel_row(),
        ],
    )


async def prompt(turn: Turn) -> None:
    """Ask the question of the current step again."""
    if turn.state.step == "dispute":
        await ask_dispute_or_complaint(turn)
    elif turn.state.step == "soon":
        _soon_options(turn)
    else:
        await ask(turn)


async def on_text(turn: Turn, text: str) -> None:
    """Free text while choosing: keep it as a note for people, and ask to choose."""
    audit(turn.session, turn.debtor.id, "delay_reason_text", actor="debtor", at=turn.now,
          detail=text[:500])  # fmt: skip
    await prompt(turn)


async def on_button(turn: Turn, action: str) -> None:
    """One of the situations."""
    reason = action.removeprefix("s:")
    if reason not in KNOWN:
        await prompt(turn)
        return
    audit(turn.session, turn.debtor.id, "delay_reason", actor="debtor", at=turn.now, detail=reason)
    turn.goto(None, None)
    _ = turn._
    if reason == "soon":
        _soon_options(turn)
    elif reason == "pause":
        until = turn.today + timedelta(days=turn.policy.hardship.max_pause_days)
        turn.debtor.hardship_until = until
        touch(turn.debtor, turn.now)
        audit(turn.session, turn.debtor.id, "hardship_pause", actor="debtor", at=turn.now,
              detail=f"until {until}")  # fmt: skip
        await turn.say_template("hardship_paused", until=until)
        turn.offer_menu()
    elif reason == "long":
        turn.say(
            _(labels.LONG_OPTIONS),
            [
                [Button(_(labels.MENU["plan"]), data="menu:plan")],
                [Button(_(labels.MENU["person"]), data="menu:person")],
            ],
        )
    elif reason == "dispute":
        await turn.session.execute(
            update(Account)
            .where(Account.debtor_id == turn.debtor.id, Account.status == AccountStatus.OPEN)
            .where(Account.dispute_at.is_(None))
            .values(dispute_at=turn.now, updated_at=turn.now)
        )
        await hand_over(turn, "dispute", "dispute_ack")
    elif reason == "complaint":
        await hand_over(turn, "complaint", "complaint_ack")
    elif reason == "deceased":
        turn.debtor.deceased_at = turn.debtor.deceased_at or turn.now
        touch(turn.debtor, turn.now)
        await hand_over(turn, "deceased", "deceased_ack")


async def hand_over(turn: Turn, reason: str, template: str) -> None:
    """Open or join the debtor's ticket for people, and say so politely."""
    await open_ticket(turn.session, turn.debtor.id, reason, now=turn.now, actor="debtor")
    turn.goto(None, None)
    await turn.say_template(template)


async def person(turn: Turn, said: str = "") -> None:
    """Talk to a person: the ticket, and when to expect an answer."""
    await hand_over(turn, "person_requested", "handoff_ack")


# Words that ask for these, beside the menu's buttons.
_DISPUTE_EN = (
    "dispute", "not mine", "don't owe", "do not owe", "wrong amount", "complain", "fraud",
)  # fmt: skip
_CANT_PAY_EN = (
    "can't pay", "cannot pay", "can not pay", "unable to pay", "lost my job", "no money",
    "hardship",
)  # fmt: skip
_CANT_PAY_ZH = (
    "还不起", "还不了", "还不上", "付不起", "付不了", "没法还", "无法还", "不能还", "没钱",
    "失业", "困难",
)  # fmt: skip

DIALOGUE = Dialogue(
    name="situations",
    opens={"cant_pay": ask, "dispute": ask_dispute_or_complaint, "person": person},
    buttons=(
        MenuButton("cant_pay", labels.MENU["cant_pay"], row=20, column=0, owed_only=True),
        MenuButton("dispute", labels.MENU["dispute"], row=30, column=0),
        MenuButton("person", labels.MENU["person"], row=30, column=1),
    ),
    commands=(Command("person", labels.COMMANDS["person"], position=50, opens="person"),),
    words=(
        Words(
            "person",
            position=0,
            phrases={
                "en": ("person", "human", "agent", "someone real", "call me"),
                "zh": ("人工", "客服", "真人", "工作人员"),
            },
        ),
        Words(
            "dispute",
            position=10,
            phrases={
                "en": _DISPUTE_EN,
                "zh": ("异议", "投诉", "不是我的", "搞错"),
            },
        ),
        Words(
            "cant_pay",
            position=20,
            phrases={
                "en": _CANT_PAY_EN,
                "zh": _CANT_PAY_ZH,
            },
        ),
    ),
    prefix="s:",
    flow=FLOW,
    prompt=prompt,
    on_button=on_button,
    on_text=on_text,
)
