"""Two real bot processes behind one webhook URL, on one PostgreSQL, lose and double nothing.

Each process is what ``nudgebot run`` builds (its own engine, session factory, services and
python-telegram-bot Application, in webhook mode). The local Bot API server posts every update to
a small reverse proxy written here, which hands the updates to the processes in turn. A process
answers an update only once it has handled it, so Telegram posts it again (to either process)
when no answer came: each process recognises an update already on record and leaves it alone.

Told to, the proxy holds one update back and delivers it together with the next, so that a
double press reaches both processes at the same moment; or it refuses or loses an answer, as a
load balancer may, also while the process is still at work. A process can be stopped gracefully
or killed: what it has in hand then stops where it is, unanswered. A test can hold Alice's
dialogue row, so that a turn of hers waits mid-transaction where it locks that row.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Update
from telegram.ext import TypeHandler

from bot.app import Running, make_dispatcher, running
from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.db.engine import is_sqlite
from bot.db.models import (
    ChannelLink,
    ContactLog,
    DialogueState,
    HandoffTicket,
    Promise,
    ReminderOutbox,
    RepaymentPlan,
    StaffUser,
)
from bot.handoff import claims
from bot.policy import load_policy
from bot.sandbox import BotApiServer, RateLimits
from bot.services.cycle import run_cycle
from bot.settings import Settings
from tests.telegram.conftest import ALICE, BOT, bot_settings, seed

_URL = os.environ.get("NUDGEBOT_TEST_DATABASE_URL", "")
pytestmark = [
    pytest.mark.skipif(
        not _URL or is_sqlite(_URL),
        reason="two processes sharing one database is a PostgreSQL property (row locks)",
    ),
    pytest.mark.timeout(60),
]

SECRET = "s3cret-Token_for-two-processes"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HOOK_PATH = "/telegram/webhook"
CHAT = ALICE["id"]
ALICE_PHONE = "14155550132"
STALE = (
    "That button belongs to an earlier message and no longer applies. Here is where we are now."
)
SUMMARY = "Here is what is currently open with Acme Lending:"
# The bot's log line when an update it has on record is delivered again (the pipeline's turn).
HANDLERS_LOG = "bot.conversation.pipeline"
DELIVERED_AGAIN = "delivered again"
# What a turn waits on, as PostgreSQL shows it: another turn's new contact-log key (the same
# update, in hand elsewhere), or the chat's dialogue row (held by a test, or another turn).
CONTACT_LOG_KEY = "INSERT INTO contact_log"
DIALOGUE_ROW = "FROM dialogue_state"


@dataclass
class Balancer:
    """The webhook URL the Bot API server posts to: a reverse proxy in front of the processes."""

    backends: list[str] = field(default_factory=list)
    url: str = ""
    # (update_id, process) of every hand-over begun; of every one the process answered with a
    # 2xx (only once it has handled the update); and of every one refused or left unanswered.
    started: list[tuple[int, int]] = field(default_factory=list)
    delivered: list[tuple[int, int]] = field(default_factory=list)
    refused: list[tuple[int, int]] = field(default_factory=list)
    # (update_id, status) of every answer the balancer gave Telegram.
    told: list[tuple[int, int]] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    pairs: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    forced: list[int] = field(default_factory=list)
    hold_next: bool = False
    held: tuple[int, bytes] | None = None
    # One entry per answer to lose, for the next updates to arrive: None to lose the answer the
    # process gives, or an event upon which the balancer stops waiting for it.
    losing: list[asyncio.Event | None] = field(default_factory=list)
    busy: int = 0  # posts from Telegram not answered yet
    background: set[asyncio.Task[bool]] = field(default_factory=set)
    turn: int = 0
    http: aiohttp.ClientSession | None = None

    def route(self, *processes: int) -> None:
        """Hand the next updates to these processes, whatever the rotation says."""
        self.forced.extend(processes)

    def together(self) -> None:
        """Deliver the next two updates at the same moment, one to each of two processes."""
        self.hold_next = True

    def lose_answer(self, until: asyncio.Event | None = None) -> None:
        """Tell Telegram 504 for the next update to arrive, as a timed-out balancer would: once
        the process has answered, or, given ``until``, as soon as it is set, while the process
        may still be at work on the update (it goes on; its answer then goes nowhere)."""
        self.losing.append(until)

    async def handle(self, request: web.Request) -> web.Response:
        """Take one update from Telegram, hand it to a process, and pass on its answer."""
        if request.headers.get(SECRET_HEADER) != SECRET:
            return web.Response(status=403)
        body = await request.read()
        update_id = json.loads(body)["update_id"]
        self.busy += 1
        try:
            status = await self._handle(update_id, body)
        finally:
            self.busy -= 1
        self.told.append((update_id, status))
        return web.Response(status=status)

    async def _handle(self, update_id: int, body: bytes) -> int:
        if self.hold_next:
            # Accepted now; it travels with the next update (nothing else is queued meanwhile).
            self.hold_next, self.held = False, (update_id, body)
            return 200
        if self.held is not None:
            (first_id, first_body), self.held = self.held, None
            first, second = self._pick(), self._pick()
            ok_first, ok = await asyncio.gather(
                self._forward(first, first_id, first_body), self._forward(second, update_id, body)
            )
            for _ in self.backends[1:]:
                if ok_first:
                    break
                # The balancer answered for this one already, so it must place it itself.
                ok_first = await self._forward(self._pick(), first_id, first_body)
            if not ok_first:
                self.lost.append(first_id)
            self.pairs.append(((first_id, first), (update_id, second)))
            return 200 if ok else 502
        index = self._pick()
        if not self.losing:
            return 200 if await self._forward(index, update_id, body) else 502
        until = self.losing.pop(0)
        # The hand-over runs on its own: a balancer that gives up does not stop the process.
        forward = asyncio.create_task(self._forward(index, update_id, body))
        self.background.add(forward)
        forward.add_done_callback(self.background.discard)
        if until is None:
            await asyncio.wait({forward})
        else:
            given_up = asyncio.ensure_future(until.wait())
            await asyncio.wait({forward, given_up}, return_when=asyncio.FIRST_COMPLETED)
            given_up.cancel()
        if forward.done() and not forward.result():
            return 502
        self.turn = index + 1  # Telegram's retry goes to the next process
        return 504

    def _pick(self) -> int:
        if self.forced:
            return self.forced.pop(0)
        index = self.turn % len(self.backends)
        self.turn += 1
        return index

    async def _forward(self, index: int, update_id: int, body: bytes) -> bool:
        assert self.http is not None
        headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
        self.started.append((update_id, index))
        try:
            async with self.http.post(self.backends[index], data=body, headers=headers) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
        except aiohttp.ClientError:
            ok = False
        (self.delivered if ok else self.refused).append((update_id, index))
        if not ok:
            self.turn = index + 1  # Telegram's retry goes to the next process
        return ok


class DeliveredAgain(logging.Handler):
    """Notes, per task, the update the bot found on record already and left alone."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.by_task: dict[asyncio.Task, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if DELIVERED_AGAIN in str(record.msg) and record.args:
            task = asyncio.current_task()
            if task is not None:
                self.by_task[task] = record.args[0]  # type: ignore[index]


class GatedLimiter(ChatRateLimiter):
    """The rate limiter, and a gate before every message a process sends: closed, the process
    stops right before sending, with its turn committed."""

    def __init__(self) -> None:
        # Both processes talk to one chat; the sandbox's flood limits are off below.
        super().__init__(global_rate=1000, per_chat_rate=1000)
        self.gate = asyncio.Event()
        self.gate.set()
        self.stopped_at_gate = asyncio.Event()

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
        """Wait at the gate before a message, then go on as the rate limiter does."""
        if endpoint == "sendMessage" and not self.gate.is_set():
            self.stopped_at_gate.set()
            await self.gate.wait()
        return await super().process_request(
            callback, args, kwargs, endpoint, data, rate_limit_args
        )


@dataclass
class Duo:
    """Bot processes sharing one database and one webhook URL, and the sandbox Telegram."""

    sandbox: BotApiServer
    balancer: Balancer
    sessions: async_sessionmaker[AsyncSession]
    tokens: dict[str, str]
    settings: Settings
    again: DeliveredAgain = field(default_factory=DeliveredAgain)
    stacks: list[AsyncExitStack] = field(default_factory=list)
    # Per process: the updates it handled to the end (replies out), and the deliveries it found
    # on record already and left alone, in the order it finished them.
    handled: list[list[int]] = field(default_factory=list)
    skipped: list[list[int]] = field(default_factory=list)
    # Per process: the task of each update in hand; and, when set, an event its answers wait on.
    in_hand: list[dict[int, asyncio.Task]] = field(default_factory=list)
    answers_held: list[asyncio.Event | None] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    caplog: pytest.LogCaptureFixture | None = None
    processes: list[Running] = field(default_factory=list)
    limiters: list[GatedLimiter] = field(default_factory=list)

    async def start(self) -> None:
        """Start one more process, as ``nudgebot run`` would (it registers the same webhook)."""
        index = len(self.stacks)
        stack = AsyncExitStack()
        limiter = GatedLimiter()
        process = await stack.enter_async_context(
            running(self.settings, rate_limiter=limiter, reminders=False)
        )
        handled: list[int] = []
        skipped: list[int] = []
        in_hand: dict[int, asyncio.Task] = {}

        # The webhook route handles an update in the task of its request, before answering.
        async def taken(update: Update, context: object) -> None:
            task = asyncio.current_task()
            assert task is not None
            in_hand[update.update_id] = task

        async def finished(update: Update, context: object) -> None:
            task = asyncio.current_task()
            again = self.again.by_task.pop(task, None) if task is not None else None
            (skipped if again == update.update_id else handled).append(update.update_id)
            hold = self.answers_held[index]
            if hold is not None:
                await hold.wait()
            in_hand.pop(update.update_id, None)

        async def failed(update: object, context) -> None:
            self.errors.append(context.error)

        # Group -1 runs before the bot's own handlers, group 1 once they are done.
        process.telegram.add_handler(TypeHandler(Update, taken), group=-1)
        process.telegram.add_handler(TypeHandler(Update, finished), group=1)
        process.telegram.add_error_handler(failed)
        self.stacks.append(stack)
        self.processes.append(process)
        self.limiters.append(limiter)
        self.handled.append(handled)
        self.skipped.append(skipped)
        self.in_hand.append(in_hand)
        self.answers_held.append(None)
        self.balancer.backends.append(process.web_url + HOOK_PATH)

    async def stop(self, index: int) -> None:
        """Stop a process gracefully: no more intake, updates in hand finished, then closed."""
        await self.stacks[index].aclose()

    async def kill(self, index: int) -> None:
        """Kill a process: what it has in hand stops where it is, unanswered, and its database
        transactions end uncommitted; then it no longer listens."""
        tasks = [task for task in self.in_hand[index].values() if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        await self.stacks[index].aclose()

    def hold_answers(self, index: int) -> asyncio.Event:
        """From now on, a process that handled an update does not answer until this is set."""
        hold = self.answers_held[index] = asyncio.Event()
        return hold

    def messages(self) -> list[dict]:
        """The bot's messages in Alice's chat."""
        return self.sandbox.bot_messages(BOT, CHAT)

    def last_update_id(self) -> int:
        """The id of the newest update Alice made."""
        return self.sandbox.bot(BOT).next_update_id - 1

    async def texts(self, count: int) -> list[str]:
        """Wait for the bot's ``count``-th message to Alice; return all texts."""
        found = await self.sandbox.wait_for_bot_messages(BOT, CHAT, count, within=10)
        return [m["text"] for m in found]

    async def say(self, text: str, expect: int) -> list[str]:
        """Alice writes; wait for the bot's ``expect``-th message."""
        self.sandbox.send_text(BOT, ALICE, text)
        return await self.texts(expect)

    def press_only(self, label: str, times: int = 1) -> None:
        """Alice presses the newest button with this label ``times`` times in a row."""
        for message in reversed(self.messages()):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"] == label and "callback_data" in button:
                        for _ in range(times):
                            self.sandbox.press_button(
                                BOT, ALICE, message["message_id"], button["callback_data"]
                            )
                        return
        raise AssertionError(f"no button {label!r} in {[m['text'][:30] for m in self.messages()]}")

    async def press(self, label: str, expect: int) -> list[str]:
        """Alice presses a button; wait for the bot's ``expect``-th message."""
        self.press_only(label)
        return await self.texts(expect)

    async def double_press(self, label: str) -> list[str]:
        """Alice presses a button twice, both at once; return the answers once all is handled."""
        before = len(self.messages())
        self.balancer.together()
        self.press_only(label, times=2)
        await self.settled()
        return [m["text"] for m in self.messages()[before:]]

    def handled_ids(self) -> list[int]:
        """The ids of the updates the processes handled to the end, once per handling."""
        return sorted(chain.from_iterable(self.handled))

    async def settled(self) -> None:
        """Wait until every update is handled to the end and answered, and every send is in the
        contact log. (A reply can be seen before its update is answered.)"""
        state = self.sandbox.bot(BOT)
        every = set(range(1, state.next_update_id))
        async with asyncio.timeout(10):
            while True:
                async with self.sessions() as s:
                    out = select(ContactLog.id).where(
                        ContactLog.direction == "out", ContactLog.status.in_(["sent", "failed"])
                    )
                    logged = len((await s.execute(out)).all())
                if (
                    every <= set(self.handled_ids())
                    and logged >= len(self.messages())
                    and not state.updates
                    and not self.balancer.busy
                    and not self.balancer.background
                ):
                    break
                await asyncio.sleep(0.05)
        # Anything doubled would show up now.
        await asyncio.sleep(0.3)

    async def waiting_on(self, what: str) -> int:
        """How many database sessions wait for a lock in a statement containing ``what``."""
        async with self.sessions() as s:
            queries = await s.execute(
                text(
                    "SELECT query FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
            return sum(what in query for query in queries.scalars())

    async def until_waiting_on(self, what: str, count: int = 1) -> None:
        """Wait until ``count`` sessions wait for a lock in a statement containing ``what``."""
        async with asyncio.timeout(5):
            while True:
                if await self.waiting_on(what) >= count:
                    return
                await asyncio.sleep(0.02)

    @staticmethod
    async def until(predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds (what it looks at is not the sandbox's)."""
        async with asyncio.timeout(5):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.01)

    async def logged_in(self, update_id: int) -> int:
        """How many committed contact-log rows record this update as received."""
        async with self.sessions() as s:
            rows = select(ContactLog.id).where(ContactLog.update_id == update_id)
            return len((await s.execute(rows)).all())

    @asynccontextmanager
    async def dialogue_held(self) -> AsyncIterator[None]:
        """Lock Alice's dialogue row meanwhile: a turn of hers, once it has logged its update,
        waits there in the middle of its transaction."""
        async with self.sessions.begin() as s:
            row = select(DialogueState.id).where(DialogueState.chat_id == CHAT)
            assert (await s.execute(row.with_for_update())).scalar_one_or_none() is not None
            yield


@pytest.fixture
async def balancer() -> AsyncIterator[Balancer]:
    """The proxy, listening on a free port."""
    proxy = Balancer()
    app = web.Application()
    app.router.add_post(HOOK_PATH, proxy.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    proxy.url = f"http://{host}:{port}{HOOK_PATH}"
    # A fresh connection per hand-over: a process closing an idle keep-alive connection must
    # not look like a lost answer (that case is tested on purpose below).
    proxy.http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True), timeout=aiohttp.ClientTimeout(total=5)
    )
    yield proxy
    await asyncio.gather(*proxy.background, return_exceptions=True)
    await proxy.http.close()
    await runner.cleanup()


@pytest.fixture
async def duo(
    sandbox: BotApiServer,
    balancer: Balancer,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> AsyncIterator[Duo]:
    """Two bot processes in webhook mode behind the proxy, with the sample debtors imported."""
    sandbox.set_rate_limits(RateLimits(enabled=False))
    tokens = await seed(sessions, tmp_path)
    settings = bot_settings(
        database_url, sandbox, web_port=0, webhook_url=balancer.url, webhook_secret=SECRET
    )
    pair = Duo(sandbox, balancer, sessions, tokens, settings, caplog=caplog)
    caplog.set_level(logging.INFO, logger=HANDLERS_LOG)
    logging.getLogger(HANDLERS_LOG).addHandler(pair.again)
    try:
        await pair.start()
        await pair.start()
        yield pair
    finally:
        for hold in pair.answers_held:
            if hold is not None:
                hold.set()
        for stack in reversed(pair.stacks):
            await stack.aclose()
        logging.getLogger(HANDLERS_LOG).removeHandler(pair.again)


def first_words(texts: list[str]) -> list[str]:
    """What each text says before its first colon (or line break): enough to tell them apart."""
    return [t.splitlines()[0].split(":")[0] for t in texts]


def local_today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("America/Los_Angeles")).date()


async def verify(duo: Duo) -> int:
    """Alice opens her link and shares her phone; return how many bot messages there are."""
    texts = await duo.say(f"/start {duo.tokens['D-001']}", expect=1)
    assert texts[0].startswith("Hello, and welcome. This is the assistant of Acme Lending.")
    duo.sandbox.share_contact(BOT, ALICE, phone_number=ALICE_PHONE)
    texts = await duo.texts(3)
    assert texts[1].startswith("Thank you, Alice. You are confirmed")
    assert texts[2].startswith(SUMMARY)
    # The replies are out before the contact's update is answered: wait for that too.
    await duo.settled()
    return 3


async def check_the_books(duo: Duo, skipped: Iterable[int] = ()) -> None:
    """Every update handled to the end once, by one process; ``skipped`` delivered again and
    then left alone; every message in and out logged exactly once."""
    await duo.settled()
    state = duo.sandbox.bot(BOT)
    every = list(range(1, state.next_update_id))
    assert duo.errors == []
    assert duo.caplog is not None
    assert [r.getMessage() for r in duo.caplog.records if r.levelno >= logging.ERROR] == []
    assert duo.handled_ids() == every  # each update handled, and by one process only
    assert sorted(chain.from_iterable(duo.skipped)) == sorted(skipped)
    answered = Counter(update_id for update_id, _ in duo.balancer.delivered)
    assert sorted(answered) == every
    # Only an update left alone the second time was answered twice.
    assert {u for u, times in answered.items() if times > 1} <= set(skipped)
    assert duo.balancer.lost == []
    assert state.updates == []  # nothing left pending at Telegram
    assert [q.answer is not None for q in state.callback_queries.values()] == [True] * len(
        state.callback_queries
    )

    transcript = duo.sandbox.transcript(BOT, CHAT)["messages"]
    sent_in = Counter(
        ("callback", q.data, None) for q in state.callback_queries.values()
    ) + Counter(
        (
            "contact" if m["contact"] else ("command" if m["text"].startswith("/") else "text"),
            f"[own contact ending {ALICE_PHONE[-2:]}]" if m["contact"] else m["text"],
            m["message_id"],
        )
        for m in transcript
        if m["from"] == "user"
    )
    sent_out = Counter((m["message_id"], m["text"]) for m in transcript if m["from"] == "bot")
    async with duo.sessions() as s:
        rows = (await s.execute(select(ContactLog).order_by(ContactLog.id))).scalars().all()
    logged_in = Counter(
        (r.kind, r.text, r.telegram_message_id) for r in rows if r.direction == "in"
    )
    # The log keeps the HTML the bot sent; the sandbox shows the text a person reads.
    logged_out = Counter(
        (r.telegram_message_id, html.unescape(re.sub(r"<[^>]*>", "", r.text)))
        for r in rows
        if r.direction == "out" and (r.status, r.error) == ("sent", None)
    )
    assert logged_in == sent_in
    assert sorted(r.update_id for r in rows if r.direction == "in") == every
    assert logged_out == sent_out
    assert len(rows) == sum(logged_in.values()) + sum(logged_out.values())
    assert {r.chat_id for r in rows} == {CHAT}


async def dialogue_state(duo: Duo) -> tuple:
    async with duo.sessions() as s:
        states = (await s.execute(select(DialogueState))).scalars().all()
        link = (await s.execute(select(ChannelLink))).scalar_one()
    assert [(st.chat_id, st.debtor_id) for st in states] == [(CHAT, link.debtor_id)]
    return states[0].flow, states[0].step


def pending(duo: Duo) -> list[int]:
    """The updates Telegram holds: not answered yet, or not posted yet."""
    return [u["update_id"] for u in duo.sandbox.bot(BOT).updates]


async def test_a_debtor_alternating_between_two_processes_loses_and_doubles_nothing(duo: Duo):
    # Alice taps her link twice: both /start reach the two processes at the same moment. Both
    # are answered, and the chat is linked once.
    duo.balancer.together()
    for _ in range(2):
        duo.sandbox.send_text(BOT, ALICE, f"/start {duo.tokens['D-001']}")
    await duo.settled()
    assert (
        first_words(duo.sandbox.bot_texts(BOT, CHAT))
        == ["Hello, and welcome. This is the assistant of Acme Lending."] * 2
    )
    duo.sandbox.share_contact(BOT, ALICE, phone_number=ALICE_PHONE)
    texts = await duo.texts(4)
    assert texts[2].startswith("Thank you, Alice. You are confirmed")
    assert texts[3].startswith(SUMMARY)
    n = 4
    texts = await duo.press("Promise to pay", expect=n + 1)
    assert texts[-1] == "Which account is your promise for?"
    texts = await duo.press("ACC-1001 · $1,234.50", expect=n + 2)
    assert texts[-1].startswith("When can you pay? Choose a date, or type one")
    target = local_today() + timedelta(days=5)
    texts = await duo.say(target.isoformat(), expect=n + 3)
    assert texts[-1].startswith("How much will you pay by ")
    texts = await duo.say("$500", expect=n + 4)
    assert "You will pay $500.00 towards account ACC-1001 by " in texts[-1]

    # Confirm pressed twice: one press reaches each process at the same moment. One press
    # records the promise; the other finds it done and says so, then shows the summary.
    texts = await duo.double_press("Confirm")
    assert sorted(first_words(texts)) == [
        "Here is what is currently open with Acme Lending",
        "Thank you, Alice. Your promise is recorded",
        STALE,
    ]
    assert texts[texts.index(STALE) + 1].startswith("Here is what is currently open")
    n += 7

    texts = await duo.press("Propose a plan", expect=n + 1)
    assert texts[-1] == "Which account would you like to spread over several payments?"
    texts = await duo.press("ACC-1002 · $89.99", expect=n + 2)
    assert texts[-1].startswith("You owe $89.99. In how many payments would you like to pay?")
    texts = await duo.say("30", expect=n + 3)
    assert texts[-1].startswith("Here is the plan for account ACC-1002:")
    texts = await duo.double_press("Confirm")
    assert sorted(first_words(texts)) == [
        "Here is what is currently open with Acme Lending",
        "Thank you, Alice. Your payment plan with Acme Lending is confirmed",
        STALE,
    ]
    assert texts[texts.index(STALE) + 1].startswith("Here is what is currently open")
    assert len(duo.messages()) == n + 6

    await check_the_books(duo)
    async with duo.sessions() as s:
        promises = (await s.execute(select(Promise))).scalars().all()
        plans = (await s.execute(select(RepaymentPlan))).scalars().all()
    assert [(p.amount_minor, p.promised_date, p.status) for p in promises] == [
        (50000, target, "open")
    ]
    assert [(p.status, p.installment_count, p.total_minor) for p in plans] == [("active", 3, 8999)]
    assert await dialogue_state(duo) == (None, None)
    # Both processes took part, and each double press reached both of them.
    assert [len(h) > 5 for h in duo.handled] == [True, True]
    assert [{a[1], b[1]} for a, b in duo.balancer.pairs] == [{0, 1}] * 3


async def test_a_process_stopping_mid_flow_loses_nothing(duo: Duo):
    n = await verify(duo)
    await duo.press("Promise to pay", expect=n + 1)

    # Process 0 gets the next update and is slow to answer it: it is still at work when told
    # to stop, and must finish it, and answer it, before it closes.
    duo.sandbox.inject_slow(BOT, 0.5, count=1, methods=["sendMessage"])
    duo.balancer.route(0)
    duo.press_only("ACC-1001 · $1,234.50")
    update_id = duo.last_update_id()
    await duo.until(lambda: (update_id, 0) in duo.balancer.started)
    await duo.until(lambda: update_id in duo.in_hand[0])
    stopping = asyncio.create_task(duo.stop(0))
    assert len(duo.messages()) == n + 1  # its answer is not out yet
    assert update_id in pending(duo)  # nor is the update answered: Telegram still holds it
    texts = await duo.texts(n + 2)
    assert texts[-1].startswith("When can you pay? Choose a date, or type one")
    await asyncio.wait_for(stopping, 10)
    # It answered before it closed, once its reply was out: Telegram posted the update once.
    assert [u for u, _ in duo.balancer.started].count(update_id) == 1
    assert (update_id, 0) in duo.balancer.delivered and update_id not in pending(duo)

    # Process 0 no longer listens: the next update is refused there and Telegram's retry
    # reaches process 1, which carries the debtor to the end.
    duo.balancer.route(0)
    target = local_today() + timedelta(days=3)
    texts = await duo.say(target.isoformat(), expect=n + 3)
    assert texts[-1].startswith("How much will you pay by ")
    texts = await duo.say("200", expect=n + 4)
    assert "You will pay $200.00 towards account ACC-1001 by " in texts[-1]
    duo.balancer.route(1, 1)  # both presses at once to the one process left
    texts = await duo.double_press("Confirm")
    assert first_words(texts) == [
        "Thank you, Alice. Your promise is recorded",
        STALE,
        "Here is what is currently open with Acme Lending",
    ]

    await check_the_books(duo)
    last = duo.last_update_id()
    assert duo.handled[0][-1] == update_id  # the update in hand when it was told to stop
    assert duo.handled[1][-4:-2] == [update_id + 1, update_id + 2]
    assert sorted(duo.handled[1][-2:]) == [last - 1, last]
    assert len(duo.messages()) == n + 7
    assert (update_id + 1, 0) in duo.balancer.refused
    async with duo.sessions() as s:
        promises = (await s.execute(select(Promise.amount_minor, Promise.status))).all()
    assert [tuple(p) for p in promises] == [(20000, "open")]
    assert await dialogue_state(duo) == (None, None)


async def test_an_update_delivered_again_after_a_lost_answer_is_handled_once(duo: Duo):
    n = await verify(duo)
    # Process 0 handles /balance to the end, but its answer never reaches Telegram (a balancer
    # timeout), so Telegram posts it again and the balancer hands it to process 1.
    duo.balancer.route(0, 1)
    duo.balancer.lose_answer()
    duo.sandbox.send_text(BOT, ALICE, "/balance")
    update_id = duo.last_update_id()
    await duo.texts(n + 1)
    await duo.settled()

    # The premise: both processes got it, and both answered it.
    assert duo.balancer.started[-2:] == [(update_id, 0), (update_id, 1)]
    assert duo.balancer.delivered[-2:] == [(update_id, 0), (update_id, 1)]
    assert duo.balancer.told[-2:] == [(update_id, 504), (update_id, 200)]
    # One reply, one record of it: process 1 found it on record and left it alone.
    texts = [m["text"] for m in duo.messages()]
    assert len(texts) == n + 1 and texts[-1].startswith(SUMMARY)
    assert await duo.logged_in(update_id) == 1
    assert (update_id in duo.handled[0], duo.skipped) == (True, [[], [update_id]])
    await check_the_books(duo, skipped=[update_id])


async def test_an_update_delivered_again_while_still_in_hand_waits_and_is_handled_once(
    duo: Duo,
):
    n = await verify(duo)
    await duo.say("/balance", expect=n + 1)  # Alice's dialogue row exists from here
    await duo.settled()
    first = duo.last_update_id() + 1

    timed_out = asyncio.Event()
    async with duo.dialogue_held():
        # Process 0 takes /balance, logs it, and waits for the dialogue row mid-transaction.
        duo.balancer.route(0, 1)
        duo.balancer.lose_answer(until=timed_out)
        duo.sandbox.send_text(BOT, ALICE, "/balance")
        update_id = duo.last_update_id()
        await duo.until_waiting_on(DIALOGUE_ROW)
        # The balancer gives up on it and tells Telegram 504; process 0 works on. Telegram
        # posts the update again, and process 1 waits on the contact-log key process 0 holds.
        timed_out.set()
        await duo.until_waiting_on(CONTACT_LOG_KEY)
        assert duo.balancer.started[-2:] == [(update_id, 0), (update_id, 1)]
        # Alice writes again meanwhile: Telegram holds her message until /balance is answered.
        duo.sandbox.send_text(BOT, ALICE, "/menu")
        await asyncio.sleep(0.3)
        assert pending(duo) == [update_id, update_id + 1]
        assert update_id + 1 not in {u for u, _ in duo.balancer.started}
        assert len(duo.messages()) == n + 1 and duo.handled_ids() == list(range(1, update_id))
    # Process 0 commits and replies; process 1 finds the update on record and leaves it alone.
    await duo.settled()

    # /balance answered once, then /menu: Telegram posted it only once /balance was answered.
    texts = [m["text"] for m in duo.messages()]
    assert len(texts) == n + 3 and all(t.startswith(SUMMARY) for t in texts[-3:])
    assert await duo.logged_in(update_id) == 1
    assert [u for u, _ in duo.balancer.started if u >= first] == [update_id] * 2 + [update_id + 1]
    assert duo.balancer.told[-3:-1] == [(update_id, 504), (update_id, 200)]
    assert {(update_id, 0), (update_id, 1)} <= set(duo.balancer.delivered)
    assert update_id in duo.handled[0] and duo.skipped == [[], [update_id]]
    await check_the_books(duo, skipped=[update_id])


@pytest.mark.parametrize("moment", ["before_its_commit", "after_its_reply"])
async def test_a_process_killed_with_an_update_in_hand_loses_and_doubles_nothing(
    duo: Duo, moment: str
):
    n = await verify(duo)
    await duo.say("/balance", expect=n + 1)  # Alice's dialogue row exists from here
    await duo.settled()

    duo.balancer.route(0, 1)
    if moment == "before_its_commit":
        async with duo.dialogue_held():
            # Process 0 takes /balance, logs it, and waits for the dialogue row: it dies there.
            duo.sandbox.send_text(BOT, ALICE, "/balance")
            update_id = duo.last_update_id()
            await duo.until_waiting_on(DIALOGUE_ROW)
            assert await duo.logged_in(update_id) == 0  # not committed
            await duo.kill(0)
            # Telegram got no answer and posts the update again, to process 1. Process 0's
            # transaction died with it, so the update is not on record: process 1 logs it and
            # waits for the dialogue row in turn.
            await duo.until(lambda: (update_id, 1) in duo.balancer.started)
            await duo.until_waiting_on(DIALOGUE_ROW)
            assert await duo.waiting_on(CONTACT_LOG_KEY) == 0
            assert len(duo.messages()) == n + 1
        await duo.settled()
        # Process 1 handled it fully; process 0 finished nothing of it.
        handled_by, skipped = [1], []
    else:
        # Process 0 handles /balance to the end, its reply out, and dies before it answers.
        duo.hold_answers(0)
        duo.sandbox.send_text(BOT, ALICE, "/balance")
        update_id = duo.last_update_id()
        await duo.until(lambda: update_id in duo.handled[0])
        assert len(duo.messages()) == n + 2 and update_id in pending(duo)
        await duo.kill(0)
        # Telegram got no answer and posts the update again, to process 1, which finds it on
        # record and leaves it alone.
        await duo.settled()
        handled_by, skipped = [0], [update_id]

    texts = [m["text"] for m in duo.messages()]
    assert len(texts) == n + 2 and texts[-1].startswith(SUMMARY)
    assert await duo.logged_in(update_id) == 1
    assert duo.balancer.started[-2:] == [(update_id, 0), (update_id, 1)]
    assert (update_id, 0) in duo.balancer.refused and (update_id, 1) in duo.balancer.delivered
    assert [i for i, ids in enumerate(duo.handled) if update_id in ids] == handled_by
    assert duo.skipped == [[], skipped]
    await check_the_books(duo, skipped=skipped)
    # Process 1 carries on alone.
    texts = await duo.press("Promise to pay", expect=n + 3)
    assert texts[-1] == "Which account is your promise for?"
    await check_the_books(duo, skipped=skipped)


async def test_a_reply_whose_process_died_after_the_commit_is_sent_by_the_other(duo: Duo):
    n = await verify(duo)
    await duo.say("/balance", expect=n + 1)
    await duo.settled()

    # Process 0 handles /balance and commits, and dies right before sending the answer.
    duo.balancer.route(0, 1)
    duo.limiters[0].gate.clear()
    duo.sandbox.send_text(BOT, ALICE, "/balance")
    update_id = duo.last_update_id()
    await asyncio.wait_for(duo.limiters[0].stopped_at_gate.wait(), 5)
    assert await duo.logged_in(update_id) == 1
    # While process 0 lives, the reply is its own: process 1's sweep leaves it alone, however
    # long it has waited (here: stored three minutes ago).
    async with duo.sessions.begin() as s:
        waiting = select(ContactLog).where(ContactLog.status == "pending")
        (stored,) = (await s.execute(waiting)).scalars().all()
        stored.created_at -= timedelta(minutes=3)
    assert stored.text.startswith(SUMMARY)
    assert await duo.processes[1].replies.sweep() == 0
    await duo.kill(0)
    # Its turn was committed: for the books, process 0 handled the update.
    duo.handled[0].append(update_id)
    # Telegram got no answer and posts the update again, to process 1, which finds it on
    # record and leaves it alone: the answer is stored, but nobody has sent it.
    await duo.until(lambda: (update_id, 1) in duo.balancer.delivered)
    assert len(duo.messages()) == n + 1
    # Process 0 is gone (its lease with it): process 1's sweep sends the reply, once.
    assert await duo.processes[1].replies.sweep() == 1

    texts = await duo.texts(n + 2)
    assert texts[-1].startswith(SUMMARY)
    await check_the_books(duo, skipped=[update_id])
    texts = await duo.press("Promise to pay", expect=n + 3)
    assert texts[-1] == "Which account is your promise for?"
    await check_the_books(duo, skipped=[update_id])


async def test_the_bot_stays_silent_in_a_claimed_chat_across_two_processes(duo: Duo):
    n = await verify(duo)
    await duo.say("I want to talk to a person", expect=n + 1)
    await duo.settled()
    now = datetime.now(UTC)
    async with duo.sessions.begin() as s:
        ada = StaffUser(
            username="ada", display_name="Ada Lovelace", password_hash="x", role="agent",
            failed_logins=0, created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(ada)
        await s.flush()
        ticket_id = await s.scalar(select(HandoffTicket.id))
        assert (await claims.claim(s, ticket_id, ada.id, now, load_policy())).won
    first = duo.last_update_id() + 1

    # Alice writes, asks for her balance and presses an old button; each process gets some.
    duo.balancer.route(0, 1, 0, 1, 0)
    for said in ("hello", "is anyone there?", "/balance", "what do I owe"):
        duo.sandbox.send_text(BOT, ALICE, said)
    duo.press_only("What I owe")
    await duo.settled()

    texts = [m["text"] for m in duo.messages()]
    assert texts[n + 1 :] == ["A member of our team is with you and will reply here shortly."]
    assert duo.last_update_id() == first + 4
    assert {p for u, p in duo.balancer.delivered if u >= first} == {0, 1}
    await check_the_books(duo)

    # Both processes run the reminders at an hour Alice may be reminded: the claim holds them,
    # whatever the policy says of open tickets.
    policy = load_policy()
    policy = policy.model_copy(
        update={"holds": policy.holds.model_copy(update={"open_ticket": False})}
    )
    at = datetime.combine(now.date(), datetime.min.time(), UTC) + timedelta(hours=19)
    reports = await asyncio.gather(
        *(
            run_cycle(p.sessions, make_dispatcher(duo.settings, p.sessions, p.telegram, policy),
                      policy, at)
            for p in duo.processes
        )
    )  # fmt: skip
    assert [r.sent for r in reports] == [0, 0]
    assert all(r.skipped["ticket_claimed"] == 1 for r in reports)
    async with duo.sessions() as s:
        assert (await s.scalars(select(ReminderOutbox))).all() == []
    assert len(duo.messages()) == n + 2
    await check_the_books(duo)
