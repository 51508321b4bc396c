"""Properties of the conversation engine under random input, through the real router and database.

A hypothesis state machine plays one verified debtor (English or Chinese, any number of
accounts) and throws at the engine, in any order: presses of the buttons just shown, of
buttons shown earlier (stale), of crafted and garbage callback data, typed text of every kind
(unicode, emoji, whitespace, very long, numbers, dates in many formats), /commands, and time
passing. After every input it checks that:

- an answer exists, and every message is valid Telegram HTML with 1 to 4096 characters of text
  and every callback button carries at most 64 bytes of data;
- a promise is stored only by a press of the Confirm button shown with the chat's current
  version, such a press in the promise flow's last step stores exactly one, and what is stored
  is within the policy (amount between the minimum and the balance, date between the debtor's
  today and ``max_days_ahead`` later) with at most one open promise per account;
- likewise a repayment plan is stored only by a press of the current Confirm, and spreads
  exactly the account's balance over future, distinct dates in installments of at least one
  minor unit (in review when longer than the policy allows).

The product bugs it found (a to g) are kept as minimal examples at the end of this file.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from babel.numbers import format_decimal, get_currency_precision
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from bot import labels
from bot.channel import Button, OutMessage
from bot.channels.telegram import handlers
from bot.db.engine import create_engine, session_factory
from bot.db.models import Account, Debtor, DialogueState, Promise, RepaymentPlan
from bot.dialogues import promise as promise_flow
from bot.dialogues.engine import Input, Settings, idle_for, split_data
from bot.dialogues.router import Dialogues
from bot.i18n import SUPPORTED_LOCALES, translator
from bot.policy import load_policy
from bot.templates.telegram_html import parse_html, strip_text
from tests.helpers import add_debtor

T = TypeVar("T")
CHANNEL = "telegram"
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
POLICY = load_policy()
SETTINGS = Settings("Acme Lending", "https://pay.example/acme/{account_ref}")
CONFIRM_LABELS = frozenset(translator(loc)(labels.CONFIRM) for loc in SUPPORTED_LOCALES)
BACKWARD_LABELS = frozenset(
    translator(loc)(label) for loc in SUPPORTED_LOCALES for label in (labels.CANCEL, labels.CHANGE)
)
# Debtors of every example share one database, so each gets its own chat and references.
_SERIAL = itertools.count(1)
CHAT_BASE = 880_000_000_000

# --- what a debtor may type -------------------------------------------------------------

# Characters that trip up parsers: other scripts' digits, look-alike punctuation, invisibles.
TRICKY = (
    "٠١٢٣٤٥٦٧٨٩۰۱۲۳०१२३௧๑๒໑༡၁፩፪፫²³¹①②⑴⒈ⅠⅫ〇一二三十百千万亿"
    "０１２３４５６７８９．，／－：年月日号元块¥$€£₹"
    "\u00a0\u2007\u202f\u3000\u200b\u200d\u2028\u2029\ufeff\u0301\u20e3"
    "/.,-:'’|&<>\"\\%#@+*"
)
EMOJI = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF)
WHITESPACE = st.text(alphabet=" \t\n\r\u00a0\u3000\u2028\u200b", min_size=0, max_size=40)
KEYWORDS = st.sampled_from(
    [
        "STOP", "stop", "Stop!", "ＳＴＯＰ", "unsubscribe", "退订", "promise", "I will pay",
        "I'll pay on Friday", "承诺", "明天还", "balance", "how much do I owe", "余额", "language",
        "中文", "English", "today", "tomorrow", "今天", "明天", "后天", "cancel", "/cancel",
        "menu", "help", "yes", "no", "confirm", "Confirm", "确认", "0", "-1", "1e5", "NaN",
        "Infinity", "∞", "null", "None", "<b>", "</i>", "&amp;", "<a href='x'>x</a>",
        "{amount}", "%s", "{{ 1 }}", "{% raw %}",
        # A promise with a date (and an amount) in the words skips steps of the flow.
        "I can pay 50 on Friday", "I can pay $1,000,000 tomorrow", "我下周五还500元",
        "12月15日还款", "I can pay 13/45",
    ]
)  # fmt: skip
LONG_TEXT = st.builds(
    lambda piece, size: (piece * (size // max(1, len(piece)) + 1))[:size],
    st.text(min_size=1, max_size=8),
    st.integers(4000, 5000),
)
NUMBERS = st.one_of(
    st.integers(-(10**25), 10**25).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(min_value=0, max_value=10**9, places=3).map(
        lambda d: format_decimal(d, locale="en_US")
    ),
    st.decimals(min_value=0, max_value=10**9, places=2).map(
        lambda d: format_decimal(d, locale="de_DE")
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
TEXTS = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=TRICKY, max_size=20),
    st.text(alphabet=st.one_of(EMOJI, st.sampled_from(TRICKY)), max_size=12),
    WHITESPACE,
    KEYWORDS,
    LONG_TEXT,
    NUMBERS,
    st.tuples(KEYWORDS, WHITESPACE, NUMBERS).map("".join),
)
# How a date may be written; ``{m}`` and ``{d}`` are numbers without leading zeros.
DATE_FORMATS = (
    "iso", "long", "medium", "short", "{m}/{d}", "{d}/{m}", "{d}.{m}.{y}", "{y}/{m}/{d}",
    "{m}-{d}", "{y}年{m}月{d}日", "{m}月{d}号", "{d} {month}", "{month} {d}", "{month} {d}, {y}",
)  # fmt: skip
COMMANDS = st.one_of(
    st.sampled_from(sorted({*handlers.COMMANDS, "start", "stop", "help"})),
    st.from_regex(r"[a-z0-9_]{1,32}", fullmatch=True),
    st.text(max_size=40),
)


def clip(text: str, limit: int = MAX_CALLBACK_BYTES) -> str:
    """The longest start of ``text`` that fits in ``limit`` bytes of UTF-8."""
    return text.encode()[:limit].decode(errors="ignore")


def written_date(day: date, how: str, locale: str) -> str:
    """``day`` as a person might type it."""
    if how == "iso":
        return day.isoformat()
    if how in ("long", "medium", "short"):
        return format_date(day, how, locale=locale)
    month = format_date(day, "MMMM", locale=locale)
    return how.format(m=day.month, d=day.day, y=day.year, month=month)


def written_amount(minor: int, currency: str, style: int) -> str:
    """An amount of minor units as a person might type it."""
    value = Decimal(minor).scaleb(-get_currency_precision(currency))
    styles = (
        f"{value}",
        format_decimal(value, locale="en_US"),
        format_decimal(value, locale="de_DE"),
        f"${value}",
        f"{value}元",
        f"{currency} {value}",
        f"{value:,}",
        f"{value}.001",
    )
    return styles[style % len(styles)]


@dataclass
class Before:
    """What the database says just before an input."""

    version: int
    flow: str | None
    step: str | None
    promise_ids: frozenset[int]
    plan_ids: frozenset[int]
    # The flow was left longer than the policy allows: it starts over, so no button is current.
    idle: bool


class Conversation(RuleBasedStateMachine):
    """One verified debtor talking to the engine; the database URL is set by the test."""

    database_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.engine = create_engine(self.database_url)
        self.sessions = session_factory(self.engine)
        self.dialogues = Dialogues(POLICY, SETTINGS)
        self.debtor_id = 0
        self.chat_id = 0
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.shown: list[Button] = []
        self.ever_shown: list[str] = []

    def teardown(self) -> None:
        """Close the database and the event loop of this example."""
        try:
            self.run(self.engine.dispose())
        finally:
            self.loop.close()

    def run(self, coro: Awaitable[T]) -> T:
        """Run a coroutine on this example's event loop."""
        return self.loop.run_until_complete(coro)

    # --- set-up ------------------------------------------------------------------------

    @initialize(
        locale=st.sampled_from(["en_US", "zh_CN"]),
        zone=st.sampled_from(
            ["America/New_York", "Asia/Shanghai", "Asia/Kolkata", "Pacific/Kiritimati"]
        ),
        accounts=st.lists(
            st.tuples(
                st.integers(1, 10**10),
                st.sampled_from(["USD", "CNY", "JPY", "KWD"]),
                st.integers(-90, 10),
            ),
            max_size=3,
        ),
        start=st.datetimes(
            min_value=datetime(2026, 1, 1),
            max_value=datetime(2030, 12, 31),
            timezones=st.just(UTC),
        ),
    )
    def debtor(
        self, locale: str, zone: str, accounts: list[tuple[int, str, int]], start: datetime
    ) -> None:
        """A verified debtor with up to three open accounts."""
        serial = next(_SERIAL)
        self.chat_id, self.now = CHAT_BASE + serial, start
        today = start.astimezone(ZoneInfo(zone)).date()
        rows = [
            (f"PROP-{serial}-{n}", today + timedelta(days=due), amount, currency)
            for n, (amount, currency, due) in enumerate(accounts)
        ]

        async def add() -> int:
            async with self.sessions.begin() as s:
                debtor = await add_debtor(
                    s, f"PROP-{serial}", accounts=rows, timezone=zone, locale=locale,
                    chat_id=self.chat_id,
                )  # fmt: skip
                return debtor.id

        self.debtor_id = self.run(add())

    # --- inputs ------------------------------------------------------------------------

    @precondition(lambda self: any(b.data for b in self.shown))
    @rule(pick=st.integers(0, 99))
    def press_shown(self, pick: int) -> None:
        """Press one of the buttons of the last answer."""
        choices = [b.data for b in self.shown if b.data]
        self.press(choices[pick % len(choices)])

    @precondition(lambda self: any(b.data for b in self.shown))
    @rule(picks=st.lists(st.integers(0, 99), min_size=1, max_size=4))
    def walk_forward(self, picks: list[int]) -> None:
        """Press on through a flow: up to four buttons in a row, none of them Cancel or Change."""
        for pick in picks:
            choices = [b.data for b in self.shown if b.data and b.label not in BACKWARD_LABELS]
            if not choices:
                return
            self.press(choices[pick % len(choices)])

    @precondition(lambda self: self.ever_shown)
    @rule(pick=st.integers(0, 999))
    def press_earlier(self, pick: int) -> None:
        """Press a button of any earlier answer (usually stale)."""
        self.press(self.ever_shown[pick % len(self.ever_shown)])

    @precondition(lambda self: self.ever_shown)
    @rule(
        pick=st.integers(0, 999),
        tail=st.one_of(st.text(max_size=20), st.text(alphabet=TRICKY, max_size=10)),
        version=st.one_of(st.none(), st.just("current"), st.integers(-5, 10**12)),
    )
    def press_crafted(self, pick: int, tail: str, version: str | int | None) -> None:
        """Press data made from a real action with its argument replaced, at any version."""
        action, _ = split_data(self.ever_shown[pick % len(self.ever_shown)])
        head = action.rpartition(":")[0] + ":" if ":" in action else action
        if version == "current":
            version = self.run(self.before()).version
        suffix = "" if version is None else f"|{version}"
        self.press(clip(head + tail, MAX_CALLBACK_BYTES - len(suffix.encode())) + suffix)

    @rule(data=st.one_of(st.text(max_size=64), st.binary(max_size=64).map(
        lambda raw: raw.decode(errors="replace"))))  # fmt: skip
    def press_garbage(self, data: str) -> None:
        """Press callback data no button ever had."""
        self.press(clip(data))

    @rule(text=TEXTS)
    def type_text(self, text: str) -> None:
        """Type anything."""
        self.send(Input("text", text=text))

    @rule(days=st.integers(-400, 400), how=st.sampled_from(DATE_FORMATS), lang=st.booleans())
    def type_date(self, days: int, how: str, lang: bool) -> None:
        """Type a date near the debtor's today, in one of many ways."""
        debtor = self.run(self.load(Debtor, self.debtor_id))
        today = self.now.astimezone(ZoneInfo(debtor.timezone)).date()
        locale = debtor.locale if lang else "en_US"
        self.send(Input("text", text=written_date(today + timedelta(days=days), how, locale)))

    @rule(share=st.fractions(Fraction(-1, 10), Fraction(12, 10)), style=st.integers(0, 7))
    def type_amount(self, share: Fraction, style: int) -> None:
        """Type an amount near a share of the balance of an account of the debtor."""
        account = self.run(self.first_account())
        balance, currency = (
            (account.amount_due_minor, account.currency) if account else (100, "USD")
        )
        self.send(Input("text", text=written_amount(floor(balance * share), currency, style)))

    @rule(name=COMMANDS)
    def command(self, name: str) -> None:
        """Send a /command."""
        self.send(Input("command", text=name))

    @rule(minutes=st.sampled_from([1, 7, 29, 31, 60 * 5, 60 * 24, 60 * 24 * 40]))
    def time_passes(self, minutes: int) -> None:
        """Let time pass before the next input (flows time out, days change)."""
        self.now = self.now + timedelta(minutes=minutes)

    # --- one input and its checks ----------------------------------------------------------

    def press(self, data: str) -> None:
        """Press a button with this callback data."""
        self.send(Input("button", data=data))

    def send(self, inp: Input) -> None:
        """Hand one input to the engine, commit, and check every property."""
        before = self.run(self.before())
        confirm = (
            inp.kind == "button"
            and any(b.data == inp.data and b.label in CONFIRM_LABELS for b in self.shown)
            and split_data(inp.data)[1] == before.version
            and not before.idle
        )
        event(f"{inp.kind} at {before.flow or 'menu'}:{before.step or '-'}")
        replies = self.run(self.turn(inp))
        check_replies(replies)
        self.shown = [b for m in replies for row in m.buttons for b in row]
        self.ever_shown += [b.data for b in self.shown if b.data and b.data not in self.ever_shown]
        self.run(self.check_stored(before, confirm))

    async def turn(self, inp: Input) -> list[OutMessage]:
        async with self.sessions.begin() as s:
            return await self.dialogues.handle(
                s, channel=CHANNEL, chat_id=self.chat_id, debtor_id=self.debtor_id, inp=inp,
                now=self.now,
            )  # fmt: skip

    async def before(self) -> Before:
        async with self.sessions() as s:
            state = (
                await s.execute(
                    select(DialogueState).where(
                        DialogueState.channel == CHANNEL, DialogueState.chat_id == self.chat_id
                    )
                )
            ).scalar_one_or_none()
            promises = select(Promise.id).where(Promise.debtor_id == self.debtor_id)
            plans = select(RepaymentPlan.id).where(RepaymentPlan.debtor_id == self.debtor_id)
            return Before(
                state.version if state else 0,
                state.flow if state else None,
                state.step if state else None,
                frozenset((await s.execute(promises)).scalars()),
                frozenset((await s.execute(plans)).scalars()),
                state is not None and idle_for(state, self.now, POLICY),
            )

    async def load(self, model: type[T], key: int) -> T:
        async with self.sessions() as s:
            return await s.get(model, key)

    async def first_account(self) -> Account | None:
        async with self.sessions() as s:
            query = select(Account).where(Account.debtor_id == self.debtor_id).order_by(Account.id)
            return (await s.execute(query.limit(1))).scalar_one_or_none()

    async def check_stored(self, before: Before, confirm: bool) -> None:
        async with self.sessions() as s:
            debtor = await s.get(Debtor, self.debtor_id)
            today = self.now.astimezone(ZoneInfo(debtor.timezone)).date()
            promises = (
                (await s.execute(select(Promise).where(Promise.debtor_id == self.debtor_id)))
                .scalars()
                .all()
            )
            new = [p for p in promises if p.id not in before.promise_ids]
            if new:
                event("promise stored")
                assert confirm, f"a promise stored without a press of the current Confirm: {new}"
            if confirm and (before.flow, before.step) == (promise_flow.FLOW, promise_flow.CONFIRM):
                assert len(new) == 1, f"a confirmed promise was not stored once: {new}"
            for promise in new:
                await check_promise(s, promise, self.debtor_id, today)
            open_accounts = [p.account_id for p in promises if p.status == "open"]
            assert len(open_accounts) == len(set(open_accounts)), (
                "two open promises on one account"
            )
            plans = (
                (
                    await s.execute(
                        select(RepaymentPlan)
                        .where(RepaymentPlan.debtor_id == self.debtor_id)
                        .options(selectinload(RepaymentPlan.installments))
                    )
                )
                .scalars()
                .all()
            )
            new_plans = [p for p in plans if p.id not in before.plan_ids]
            if new_plans:
                event("plan stored")
                assert confirm, (
                    f"a plan stored without a press of the current Confirm: {new_plans}"
                )
            for plan in new_plans:
                await check_plan(s, plan, self.debtor_id, today)


async def check_promise(s: AsyncSession, promise: Promise, debtor_id: int, today: date) -> None:
    """A new promise is the debtor's, on their account, and within the policy."""
    account = await s.get(Account, promise.account_id)
    assert account.debtor_id == debtor_id
    assert (promise.currency, promise.status) == (account.currency, "open")
    low = minimum(account.amount_due_minor)
    assert low <= promise.amount_minor <= account.amount_due_minor, (promise.amount_minor, low)
    last = today + timedelta(days=POLICY.promises.max_days_ahead)
    assert today <= promise.promised_date <= last, (promise.promised_date, today, last)


async def check_plan(s: AsyncSession, plan: RepaymentPlan, debtor_id: int, today: date) -> None:
    """A new plan spreads exactly the balance of one of the debtor's accounts over the future."""
    account = await s.get(Account, plan.account_id)
    assert account.debtor_id == debtor_id
    assert plan.currency == account.currency
    assert plan.total_minor == account.amount_due_minor
    parts = plan.installments
    assert len(parts) == plan.installment_count >= POLICY.plans.min_installments
    assert sum(p.amount_minor for p in parts) == plan.total_minor
    assert all(p.amount_minor > 0 for p in parts), [p.amount_minor for p in parts]
    dates = [p.due_date for p in parts]
    assert dates == sorted(set(dates)) and dates[0] >= today, (dates, today)
    in_policy = plan.installment_count <= POLICY.plans.max_installments
    assert plan.status == ("active" if in_policy else "review"), (plan.status, len(parts))


def minimum(balance: int) -> int:
    """The smallest promise the policy allows on a balance, in minor units."""
    share = Fraction(str(POLICY.promises.min_percent)) / 100
    return max(1, min(balance, floor(balance * share)))


def check_replies(replies: list[OutMessage]) -> None:
    """Every input is answered with messages Telegram accepts."""
    assert replies, "no answer"
    for message in replies:
        assert message.text.strip(), "empty message"
        assert len(message.text) <= MAX_TEXT, f"{len(message.text)} characters"
        text, _ = strip_text(*parse_html(message.text))
        assert text, f"no visible text in {message.text!r}"
        for button in (b for row in message.buttons for b in row):
            assert button.label.strip(), f"a button without a label in {message.text!r}"
            assert (button.data is None) != (button.url is None), button
            if button.data is not None:
                size = len(button.data.encode())
                assert 1 <= size <= MAX_CALLBACK_BYTES, (button.data, size)


# The flows' rules do not depend on the database: CI runs this on PostgreSQL only.
@pytest.mark.once
def test_random_conversations_store_only_what_was_confirmed(database_url: str) -> None:
    """Thousands of random inputs through the engine break none of the properties."""

    class Machine(Conversation):
        pass

    Machine.database_url = database_url
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=100,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )


# --- minimal examples of product bugs the machine found, pinned until they are fixed -----


class Chat:
    """One verified debtor's chat with the engine, for the pinned examples."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
        self.sessions = sessions
        self.now = now
        self.debtor_id = 0
        self.replies: list[OutMessage] = []

    async def debtor(self, *amounts: int, zone: str = "UTC", locale: str = "en_US") -> Chat:
        """Add the debtor, with one USD account per amount (in cents)."""
        due = self.now.date() - timedelta(days=10)
        rows = [(f"A-{n}", due, amount, "USD") for n, amount in enumerate(amounts)]
        async with self.sessions.begin() as s:
            added = await add_debtor(
                s, "D-1", accounts=rows, timezone=zone, locale=locale, chat_id=PINNED_CHAT
            )
            self.debtor_id = added.id
        return self

    async def send(self, inp: Input) -> list[OutMessage]:
        """One input; the answer is checked like in the machine."""
        async with self.sessions.begin() as s:
            self.replies = await Dialogues(POLICY, SETTINGS).handle(
                s, channel=CHANNEL, chat_id=PINNED_CHAT, debtor_id=self.debtor_id, inp=inp,
                now=self.now,
            )  # fmt: skip
        check_replies(self.replies)
        return self.replies

    def shown(self) -> list[Button]:
        """The buttons of the last answer."""
        return [b for m in self.replies for row in m.buttons for b in row]

    async def press(self, label: str) -> list[OutMessage]:
        """Press the button of the last answer whose label starts with ``label``."""
        data = next(b.data for b in self.shown() if b.label.startswith(label.split("{")[0]))
        return await self.send(Input("button", data=data))

    async def stored_today(self) -> None:
        """Every promise and plan stored is within the policy as of now."""
        async with self.sessions() as s:
            today = self.now.astimezone(ZoneInfo((await s.get(Debtor, self.debtor_id)).timezone))
            for promise in (await s.execute(select(Promise))).scalars():
                await check_promise(s, promise, self.debtor_id, today.date())
            query = select(RepaymentPlan).options(selectinload(RepaymentPlan.installments))
            for plan in (await s.execute(query)).scalars():
                await check_plan(s, plan, self.debtor_id, today.date())


PINNED_CHAT = 424_242
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
_en = translator("en_US")


async def test_a_version_written_in_other_digits_is_answered(sessions) -> None:
    """``str.isdigit`` is true for "²" but ``int`` cannot read it."""
    chat = await Chat(sessions, NOON).debtor(10_000)
    await chat.send(Input("button", data="menu:balance|²"))


@pytest.mark.parametrize("menu", ["promise", "plan"])
async def test_b_forged_data_at_the_current_version_is_answered(sessions, menu: str) -> None:
    """Data of a current button with its argument replaced (a modified client can send it)."""
    chat = await Chat(sessions, NOON).debtor(10_000, 20_000)
    await chat.send(Input("command", text=menu))
    action, version = split_data(chat.shown()[0].data)
    await chat.send(Input("button", data=f"{action.rpartition(':')[0]}:x|{version}"))


async def test_c_forged_situation_is_answered(sessions) -> None:
    """A reason the situation step does not know gets no answer at all."""
    chat = await Chat(sessions, NOON).debtor(10_000)
    await chat.send(Input("command", text="menu"))
    await chat.press(_en(labels.MENU["dispute"]))
    action, version = split_data(chat.shown()[0].data)
    await chat.send(Input("button", data=f"{action.rpartition(':')[0]}:x|{version}"))


async def test_d_date_with_digits_of_another_script_is_answered(sessions) -> None:
    """Ethiopic digits survive NFKC, pass ``str.isdigit`` and break ``int``."""
    chat = await Chat(sessions, NOON).debtor(10_000)
    await chat.send(Input("command", text="promise"))
    await chat.send(Input("text", text="፩"))


@pytest.mark.parametrize(("balance", "each"), [(123_450, "1"), (10**9, "0.01")])
async def test_e_small_installments_typed_give_a_sendable_plan(
    sessions, balance: int, each: str
) -> None:
    """$1 a time on $1,234.50 is 1,235 installments (a 39,489-character message); $0.01 a time
    on $10,000,000 runs past the year 9999."""
    chat = await Chat(sessions, NOON).debtor(balance)
    await chat.send(Input("command", text="plan"))
    await chat.send(Input("text", text=each))


async def test_f_promise_confirmed_after_midnight_is_not_in_the_past(sessions) -> None:
    """ "Today" chosen at 23:50 and confirmed at 00:10 records a promise for yesterday."""
    chat = await Chat(sessions, datetime(2026, 12, 1, 23, 50, tzinfo=UTC)).debtor(10_000)
    await chat.send(Input("command", text="promise"))
    await chat.press(_en(labels.TODAY))
    await chat.press(_en(labels.FULL_AMOUNT))
    chat.now += timedelta(minutes=20)
    await chat.press(_en(labels.CONFIRM))
    await chat.stored_today()


async def test_g_plan_of_a_small_balance_has_no_empty_installment(sessions) -> None:
    """$0.01 cannot be spread over two payments: no plan is offered, and none is stored
    (it used to be stored as $0.01 and $0.00)."""
    chat = await Chat(sessions, NOON).debtor(1)
    replies = await chat.send(Input("command", text="plan"))
    assert replies[0].text == _en(labels.PLAN_TOO_SMALL)
    assert not any(b.data and b.data.startswith("n:count:") for b in chat.shown())
    await chat.stored_today()


@pytest.mark.parametrize("menu", ["cant_pay", "promise"])
async def test_h_a_nul_character_is_answered_and_stored(sessions, menu: str) -> None:
    """PostgreSQL refuses NUL in text: typed while choosing a reason (kept in the audit
    trail) it failed the whole turn."""
    chat = await Chat(sessions, NOON).debtor(10_000)
    await chat.send(Input("button", data=f"menu:{menu}"))
    await chat.send(Input("text", text="lost my job\x00"))
    await chat.send(Input("text", text="\x00"))
