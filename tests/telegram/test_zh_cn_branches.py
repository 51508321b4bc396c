"""Every dialogue branch in Simplified Chinese, through the real bot.

王小明 (D-002) owes ¥5,600.00 on ACC-2001 and lives in Asia/Shanghai. The texts asserted are the
zh_CN catalog's and templates' own; each test also checks what the database holds afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlalchemy import select, update
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.app import make_dispatcher, running
from bot.channels.telegram.ratelimit import ChatRateLimiter
from bot.db.models import (
    Account,
    AuditEvent,
    ContactLog,
    Debtor,
    DialogueState,
    PlanInstallment,
    Promise,
    RepaymentPlan,
)
from bot.policy import load_policy
from bot.sandbox import BotApiServer, RateLimits
from bot.services.cycle import run_cycle
from bot.services.payments import record_payments
from tests.telegram.conftest import BOT, TOKEN, WANG, World, bot_settings, seed
from tests.telegram.test_plan_and_reasons import tickets
from tests.telegram.test_promise import buttons, local_today, press, promises, verify

FAST = 1000.0  # sends per second: Telegram's own pace is tested elsewhere, the branches here
POLICY = load_policy()
ZONE = "Asia/Shanghai"
LATE = timedelta(days=10)


def summary(amount: str = "¥5,600.00", due: str = "2026年11月10日") -> str:
    """What is open with Acme Lending, shown above the menu."""
    return (
        f"以下是您在Acme Lending目前未结清的款项：\n\n• {amount}（消费贷），编号 ACC-2001，"
        f"到期日 {due}\n\n"
        "您可以点击下方按钮还款。如果目前有困难，请告诉我们，我们会和您一起找到可行的办法。"
    )


SUMMARY = summary()
HOME = ["支付 ACC-2001", "我的欠款", "承诺还款日期", "申请分期还款", "我暂时无法还款",
        "异议或投诉", "联系人工客服", "语言", "停止接收消息"]  # fmt: skip
NOTHING_OWED_SUMMARY = "好消息：您目前在Acme Lending没有待还款项。谢谢您！"
CANCELLED = "已取消，没有做任何更改。"
STALE = "这个按钮来自之前的消息，现在已不再适用。以下是当前的进度。"
TIMED_OUT = "刚才的对话已经搁置了一段时间，我们重新开始吧。"
NOT_UNDERSTOOD = "抱歉，我没有理解您的意思。我可以帮您处理以下事项："
OFFER_PERSON = "抱歉，这个问题我没能帮上忙。需要我们的工作人员来回复您吗？"
HANDOFF_ACK = (
    "感谢您告诉我们。Acme Lending的工作人员会亲自查看并在这里回复您。"
    "在此期间，我们不会向您发送自动提醒。"
)
OPTED_OUT = (
    "好的。您将不会再在此对话中收到Acme Lending的提醒，我们的工作人员也不会在这里联系您。"
    "如需再次接收我们的消息，请发送 /start。"
)
DISPUTE_ACK = (
    "感谢您告知。我们已停止关于这笔欠款的提醒，Acme Lending的工作人员将进行核查并在这里回复您。"
    "如果您有相关证明材料，可以在此对话中说明。"
)
COMPLAINT_ACK = (
    "感谢您告诉我们，给您带来不好的体验，我们深表歉意。"
    "您的投诉已转交Acme Lending的工作人员，他们会进行调查并在这里回复您。"
)
DECEASED_ACK = (
    "对您的失去，我们深表哀悼。我们已停止发送关于该账户的所有消息。Acme Lending的工作人员会在这里"
    "与您联系，说明所需的材料（例如死亡证明复印件）。您现在无需再做任何事情。"
)
SITUATION_ASK = "听到这个消息我们很遗憾。是什么原因让您难以还款？"
SITUATIONS = ["我能还，但暂时还不了", "我很长一段时间都无法还款", "我认为我不欠这笔钱",
              "我要投诉", "账户持有人已去世", "取消"]  # fmt: skip
DISPUTE_OR_COMPLAINT = "您是对这笔欠款本身有异议，还是想投诉我们的处理方式？"
DISPUTE_BUTTONS = ["我认为我不欠这笔钱", "我要投诉", "取消"]
SOON_OPTIONS = (
    "感谢您告诉我们。您可以承诺一个还款日期、申请分期还款，或将我们的提醒暂停最多 30 天。"
)
LONG_OPTIONS = (
    "感谢您告诉我们。分期小额还款或许能有所帮助，您也可以让我们的工作人员与您一起看看具体情况。"
)
PLAN_HOW = (
    "您的欠款为 ¥5,600.00。您希望分几期还清？请在下方选择，或输入您每期能支付的金额（例如 80.5）。"
)
PLAN_OPTIONS = ["2 期，每期 ¥2,800.00", "3 期，每期 ¥1,866.67", "4 期，每期 ¥1,400.00",
                "6 期，每期 ¥933.34", "取消"]  # fmt: skip
LANGUAGE_CHOOSE = "您希望我使用哪种语言？"
LANGUAGES = ["English", "简体中文", "取消"]
CONFIRM_ROW = ["确认", "修改", "取消"]
DATE_PICKS = ["今天", "明天", "3天后", "2周后", "取消"]  # and 本周末 when it is another day
UNREADABLE_AMOUNT = "抱歉，我没有看懂这个金额。请输入数字，例如 80.5。"
OPT_OUT_LINE = "\n\n如需停止接收提醒，请回复“退订”。"


def today() -> date:
    """王小明's date in Shanghai."""
    return local_today(ZONE)


def zh(day: date) -> str:
    """A date as the zh_CN templates and prompts write it (2026年12月5日)."""
    return format_date(day, "long", locale="zh_CN")


def when_prompt() -> str:
    """The promise flow's date question."""
    example = zh(today() + timedelta(days=7))
    return f"您什么时候可以还款？请选择一个日期，或直接输入（例如 {example}）。"


def how_much(offset: int, minimum: str = "¥560.00") -> str:
    """The promise flow's amount question for the day ``offset`` days from today."""
    day = zh(today() + timedelta(days=offset))
    return f"您将在{day}前还款多少？请选择全额，或输入不少于 {minimum} 的金额。"


def promise_summary(offset: int, amount: str, account: str = "ACC-2001") -> str:
    """The summary shown before a promise is stored."""
    day = zh(today() + timedelta(days=offset))
    return (
        f"请确认您的还款承诺：\n\n您将在 {day} 前为账户 {account} 还款 {amount}。\n\n"
        "以上信息是否正确？"
    )


def date_picks(labels: list[str]) -> list[str]:
    """The quick picks without "本周末", which is left out when Friday is already offered."""
    return [label for label in labels if label != "本周末"]


@pytest.fixture
async def sandbox() -> AsyncIterator[BotApiServer]:
    """A local Telegram whose flood limits stay out of the way of many short conversations."""
    limits = RateLimits(
        global_per_second=FAST, global_burst=FAST, chat_per_second=FAST, chat_burst=FAST
    )
    server = BotApiServer(rate_limits=limits)
    server.add_bot(TOKEN, username=BOT, first_name="Acme Assistant")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def world(sandbox, sessions, database_url, tmp_path) -> AsyncIterator[World]:
    """The bot (long polling) with the sample debtors, sending as fast as the sandbox allows."""
    tokens = await seed(sessions, tmp_path)
    settings = bot_settings(database_url, sandbox)
    async with AsyncExitStack() as stack:
        process = await stack.enter_async_context(
            running(settings, rate_limiter=ChatRateLimiter(FAST, FAST), reminders=False)
        )
        yield World(sandbox, process, sessions, tokens, settings, stack)


@dataclass
class Chat:
    """王小明's chat: counts the bot's messages so each step returns exactly its own replies."""

    world: World
    seen: int = 0

    async def say(self, text: str, replies: int = 1) -> list[str]:
        """Write; return the bot's ``replies`` answers."""
        self._nothing_unexpected()
        self.seen += replies
        return self._new(await self.world.say(WANG, text, expect=self.seen), replies)

    async def press(self, label: str, replies: int = 1) -> list[str]:
        """Press the newest button with this label; return the bot's ``replies`` answers."""
        self._nothing_unexpected()
        self.seen += replies
        return self._new(await press(self.world, WANG, label, expect=self.seen), replies)

    async def share_contact(self, phone: str) -> list[str]:
        """Share one's own contact; return the bot's answer."""
        self._nothing_unexpected()
        self.seen += 1
        self.world.sandbox.share_contact(BOT, WANG, phone)
        return self._new(await self.world.texts(WANG, self.seen), 1)

    async def arrived(self, count: int) -> list[str]:
        """Messages the bot sent on its own (follow-ups), exactly ``count`` since the last step."""
        self.seen += count
        return self._new(await self.world.texts(WANG, self.seen), count)

    def buttons(self) -> list[str]:
        """The labels under the newest message."""
        return buttons(self.world, WANG)

    def _new(self, texts: list[str], replies: int) -> list[str]:
        assert len(texts) == self.seen, (
            f"more replies than expected: {texts[self.seen - replies :]}"
        )
        return texts[-replies:]

    def _nothing_unexpected(self) -> None:
        """The previous step's replies were all expected (none came late)."""
        late = self.world.sandbox.bot_texts(BOT, WANG["id"])[self.seen :]
        assert late == [], f"more replies than expected: {late}"


@pytest.fixture
async def wang(world: World) -> Chat:
    """王小明, verified by the last 4 characters of ACC-2001, looking at the summary."""
    chat = Chat(world)
    chat.seen = await verify(world, WANG, "D-002", "2001")
    assert world.sandbox.bot_texts(BOT, WANG["id"])[-1] == SUMMARY
    return chat


# -- database ------------------------------------------------------------------------------


async def wang_row(world: World) -> Debtor:
    async with world.sessions() as s:
        return (await s.execute(select(Debtor).where(Debtor.debtor_ref == "D-002"))).scalar_one()


async def state_of(world: World) -> DialogueState:
    async with world.sessions() as s:
        return (
            await s.execute(select(DialogueState).where(DialogueState.chat_id == WANG["id"]))
        ).scalar_one()


async def audit_trail(world: World) -> list[tuple[str, str | None]]:
    async with world.sessions() as s:
        rows = await s.execute(
            select(AuditEvent.kind, AuditEvent.detail)
            .join(Debtor, Debtor.id == AuditEvent.debtor_id)
            .where(Debtor.debtor_ref == "D-002")
            .order_by(AuditEvent.id)
        )
        return [tuple(r) for r in rows]


async def plans(world: World) -> list[tuple]:
    """(account, status, count, [(due date, amount)]) of every plan."""
    async with world.sessions() as s:
        found = []
        for plan in (await s.execute(select(RepaymentPlan).order_by(RepaymentPlan.id))).scalars():
            await s.refresh(plan, ["installments"])
            account = await s.get(Account, plan.account_id)
            parts = [(i.due_date, i.amount_minor) for i in plan.installments]
            found.append((account.account_ref, plan.status, plan.installment_count, parts))
        return found


async def change_account(world: World, **values: object) -> None:
    """Change ACC-2001 behind the bot's back (a payment, a correction by the creditor)."""
    async with world.sessions.begin() as s:
        await s.execute(update(Account).where(Account.account_ref == "ACC-2001").values(**values))


async def add_second_account(world: World) -> None:
    """ACC-2002: ¥300.00 due 2026-11-20, also 王小明's."""
    async with world.sessions.begin() as s:
        debtor = (await s.execute(select(Debtor).where(Debtor.debtor_ref == "D-002"))).scalar_one()
        s.add(
            Account(
                account_ref="ACC-2002", debtor_id=debtor.id, currency="CNY",
                amount_due_minor=30000, due_date=date(2026, 11, 20), status="open",
                created_at=datetime.now(UTC), updated_at=datetime.now(UTC),
            )
        )  # fmt: skip


async def nothing_stored(world: World) -> None:
    assert await promises(world) == []
    assert await plans(world) == []
    assert await tickets(world) == []
    debtor = await wang_row(world)
    assert (debtor.hardship_until, debtor.opted_out_at, debtor.deceased_at) == (None, None, None)


# -- the summary and the menu --------------------------------------------------------------


async def test_the_summary_has_a_pay_link_and_the_whole_menu(wang: Chat):
    assert wang.buttons() == HOME
    first = wang.world.sandbox.bot_messages(BOT, WANG["id"])[-1]["reply_markup"]
    assert first["inline_keyboard"][0] == [
        {"text": "支付 ACC-2001", "url": "https://pay.example/acme/ACC-2001"}
    ]


@pytest.mark.parametrize(
    ("how", "what"),
    [("press", "我的欠款"), ("say", "/balance"), ("say", "/menu"),
     ("say", "/help"),  # an unknown command gets the menu too
     ("say", "我还欠多少钱？"), ("say", "余额"), ("say", "怎么付款"), ("say", "我要还款")],
    ids=["button", "/balance", "/menu", "/help", "how much", "balance", "how to pay", "pay"],
)  # fmt: skip
async def test_what_is_owed_by_button_command_or_words(wang: Chat, how: str, what: str):
    assert await getattr(wang, how)(what) == [SUMMARY]
    assert wang.buttons() == HOME
    assert (await state_of(wang.world)).unrecognised_count == 0


@pytest.mark.parametrize(
    ("what", "answer", "labels"),
    [
        pytest.param("/promise", "when", None, id="/promise"),
        pytest.param("我下周还", "when", None, id="promise next week"),
        pytest.param("我保证月底前还清", "when", None, id="promise by month end"),
        pytest.param("可以分期吗", PLAN_HOW, PLAN_OPTIONS, id="plan installments"),
        pytest.param("每月还一点行吗", PLAN_HOW, PLAN_OPTIONS, id="plan monthly"),
        pytest.param("我失业了，还不起", SITUATION_ASK, SITUATIONS, id="cant pay jobless"),
        pytest.param("最近没钱", SITUATION_ASK, SITUATIONS, id="cant pay no money"),
        pytest.param(
            "这不是我的欠款", DISPUTE_OR_COMPLAINT, DISPUTE_BUTTONS, id="dispute not mine"
        ),
        pytest.param("我要投诉你们", DISPUTE_OR_COMPLAINT, DISPUTE_BUTTONS, id="complain"),
        pytest.param("/language", LANGUAGE_CHOOSE, LANGUAGES, id="/language"),
        pytest.param("我想换个语言", LANGUAGE_CHOOSE, LANGUAGES, id="language"),
        pytest.param("English please", LANGUAGE_CHOOSE, LANGUAGES, id="english"),
    ],
)
async def test_chinese_words_and_commands_open_their_flow(wang: Chat, what, answer, labels):
    if answer == "when":
        assert await wang.say(what) == [when_prompt()]
        assert date_picks(wang.buttons()) == DATE_PICKS
    else:
        assert await wang.say(what) == [answer]
        assert wang.buttons() == labels
    await nothing_stored(wang.world)


async def test_with_nothing_owed_there_is_no_promise_or_plan(wang: Chat):
    await change_account(wang.world, amount_due_minor=0)
    assert await wang.press("我的欠款") == [NOTHING_OWED_SUMMARY]
    assert wang.buttons() == ["我的欠款", "异议或投诉", "联系人工客服", "语言", "停止接收消息"]
    # The first summary's menu buttons carry no version, so they still answer.
    assert await wang.press("承诺还款日期") == ["您目前没有需要支付的款项。谢谢您！"]
    assert await wang.say("我想分期") == ["您目前没有需要支付的款项。谢谢您！"]
    await nothing_stored(wang.world)


async def test_a_balance_too_small_to_spread_is_paid_in_one_go(wang: Chat):
    await change_account(
        wang.world, amount_due_minor=1
    )  # ¥0.01: fewer minor units than installments
    assert await wang.press("申请分期还款", replies=2) == [
        "这笔金额不大，可以一次付清。您可以点击下方按钮付款。",
        summary("¥0.01"),
    ]
    assert wang.buttons() == HOME
    await nothing_stored(wang.world)


# -- promise to pay ------------------------------------------------------------------------


async def test_a_promise_for_the_second_account_typed_in_chinese_then_changed(wang: Chat):
    world = wang.world
    await add_second_account(world)
    assert await wang.press("承诺还款日期") == ["您要为哪个账户作出还款承诺？"]
    assert wang.buttons() == ["ACC-2001 · ¥5,600.00", "ACC-2002 · ¥300.00", "取消"]
    assert await wang.say("随便") == ["您要为哪个账户作出还款承诺？"]  # typing does not choose
    assert await wang.press("ACC-2002 · ¥300.00") == [when_prompt()]

    assert await wang.say(written(5, "{m}月{d}号")) == [how_much(5, minimum="¥30.00")]
    assert wang.buttons() == ["全额：¥300.00", "取消"]
    assert await wang.say("１２０块") == [promise_summary(5, "¥120.00", account="ACC-2002")]
    assert wang.buttons() == CONFIRM_ROW
    assert await wang.press("修改") == [when_prompt()]
    assert await wang.say("明天") == [how_much(1, minimum="¥30.00")]
    assert await wang.say("150元") == [promise_summary(1, "¥150.00", account="ACC-2002")]
    assert await promises(world) == []  # nothing before confirming

    tomorrow = today() + timedelta(days=1)
    assert await wang.press("确认") == [
        f"谢谢您，王小明！您的还款承诺已记录：在 {zh(tomorrow)} 前还款 ¥150.00（编号 ACC-2002）。"
        "\n\n在此之前，我们不会就该账户向您发送提醒，并会在前一天提醒您。如果到 "
        f"{zh(tomorrow + timedelta(days=2))} 仍未收到款项，我们的记录将显示此承诺未履行，"
        "提醒将重新开始。如有任何变化，请随时在这里告诉我们。"
    ]
    assert await promises(world) == [(15000, "CNY", tomorrow, "open")]
    async with world.sessions() as s:
        account = (await s.execute(select(Account.account_ref).join(Promise))).scalar_one()
    assert account == "ACC-2002"
    assert ("promise_made", f"promise 1: 15000 CNY by {tomorrow}") in await audit_trail(world)
    # The flow is over; the menu is under its last message.
    assert (await state_of(world)).flow is None
    assert wang.buttons() == [
        "支付 ACC-2001", "支付 ACC-2002", "我的欠款", "承诺还款日期", "申请分期还款",
        "我暂时无法还款", "异议或投诉", "联系人工客服", "语言", "停止接收消息",
    ]  # fmt: skip


def written(offset: int, pattern: str) -> str:
    """The date ``offset`` days from today as a person types it: ``{y}``, ``{m}``, ``{d}``,
    ``{mm}``/``{dd}`` (two digits), ``{M}``/``{D}`` (full-width digits)."""
    day = today() + timedelta(days=offset)
    wide = str.maketrans("0123456789", "０１２３４５６７８９")
    return pattern.format(
        y=day.year, m=day.month, d=day.day, mm=f"{day.month:02}", dd=f"{day.day:02}",
        M=str(day.month).translate(wide), D=str(day.day).translate(wide),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "offset"),
    [("今天", 0), ("明天", 1), ("后天", 2), ("{m}月{d}日", 5), ("{y}年{m}月{d}号", 6),
     ("{y}-{mm}-{dd}", 9), ("{m}/{d}", 4), ("{M}月{D}日", 8), ("我{m}月{d}号能还", 7)],
    ids=["today", "tomorrow", "day after", "month day", "year month day", "iso", "slash",
         "full width", "in a sentence"],
)  # fmt: skip
async def test_a_promise_date_typed_the_chinese_way(wang: Chat, pattern: str, offset: int):
    await wang.press("承诺还款日期")
    assert await wang.say(written(offset, pattern)) == [how_much(offset)]
    assert (await state_of(wang.world)).step == "amount"


@pytest.mark.parametrize(
    ("pattern", "offset", "replies"),
    [
        pytest.param("{m}月{d}日还款", 5, lambda: [how_much(5)], id="date"),
        pytest.param("{m}月{d}号还1000元", 5, lambda: [promise_summary(5, "¥1,000.00")],
                     id="date and amount"),
        pytest.param("后天还100元", 2, lambda: [
            "我们可以记录的最低金额为 ¥560.00。请输入更大的金额，或选择全额。", how_much(2)
        ], id="amount too small"),
        pytest.param("{m}月{d}日还", 40, lambda: [
            f"请选择不晚于{zh(today() + timedelta(days=30))}的日期。", when_prompt()
        ], id="date too late"),
        pytest.param("2月30日还", 0, lambda: ["抱歉，我没有看懂您消息中的日期。", when_prompt()],
                     id="no such day"),
    ],
)  # fmt: skip
async def test_a_promise_said_in_words_skips_what_it_says(wang: Chat, pattern, offset, replies):
    expected = replies()
    assert await wang.say(written(offset, pattern), replies=len(expected)) == expected
    assert await promises(wang.world) == []  # the summary is always shown before storing


@pytest.mark.parametrize(
    ("step", "typed", "answer"),
    [
        pytest.param("date", "下个月吧", "抱歉，我没有看懂这个日期。请按 {example} 的格式输入，"
                     "或点击按钮选择。", id="date unreadable"),
        pytest.param("date", "2020年1月1日", "该日期已经过去。请选择今天或之后的日期。",
                     id="date past"),
        pytest.param("date", "2099年1月1日", "请选择不晚于{last}的日期。", id="date too late"),
        pytest.param("amount", "10000", "该金额超过了您的欠款（¥5,600.00）。请输入较小的金额，"
                     "或选择全额。", id="amount above balance"),
        pytest.param("amount", "100元", "我们可以记录的最低金额为 ¥560.00。请输入更大的金额，"
                     "或选择全额。", id="amount below minimum"),
        pytest.param("amount", "很多", UNREADABLE_AMOUNT, id="amount unreadable"),
        pytest.param("amount", "-5", UNREADABLE_AMOUNT, id="amount negative"),
    ],
)  # fmt: skip
async def test_a_promise_refuses_what_it_cannot_record(wang: Chat, step, typed, answer):
    await wang.press("承诺还款日期")
    if step == "amount":
        await wang.press("今天")
    expected = answer.format(
        example=zh(today() + timedelta(days=7)), last=zh(today() + timedelta(days=30))
    )
    assert await wang.say(typed) == [expected]
    if step == "date":
        assert date_picks(wang.buttons()) == DATE_PICKS
    else:
        assert wang.buttons() == ["全额：¥5,600.00", "取消"]
    assert (await state_of(wang.world)).step == step
    await nothing_stored(wang.world)


async def test_a_new_promise_replaces_the_open_one(wang: Chat):
    for pick, amount in (("明天", None), ("2周后", "1,000")):
        await wang.press("承诺还款日期")
        await wang.press(pick)
        await (wang.press("全额：¥5,600.00") if amount is None else wang.say(amount))
        assert (await wang.press("确认"))[0].startswith("谢谢您，王小明！您的还款承诺已记录：")
    assert await promises(wang.world) == [
        (560000, "CNY", today() + timedelta(days=1), "cancelled"),
        (100000, "CNY", today() + timedelta(days=14), "open"),
    ]


@pytest.mark.parametrize("what_changed", ["balance", "midnight"])
async def test_a_confirmation_after_something_changed_asks_again(wang: Chat, what_changed):
    await wang.press("承诺还款日期")
    await wang.press("今天")
    await wang.press("全额：¥5,600.00")
    if what_changed == "balance":  # a payment came in while the summary was on screen
        await change_account(wang.world, amount_due_minor=100000)
        first = "在您选择之后情况有了变化。我们再核对一下细节。"
    else:  # the chosen day is over by the time the debtor confirms
        async with wang.world.sessions.begin() as s:
            state = (await s.execute(select(DialogueState))).scalar_one()
            yesterday = (today() - timedelta(days=1)).isoformat()
            state.data = {**state.data, "date": yesterday}
        first = "该日期已经过去。请选择今天或之后的日期。"
    assert await wang.press("确认", replies=2) == [first, when_prompt()]
    assert ((await state_of(wang.world)).step, await promises(wang.world)) == ("date", [])


async def test_a_stale_button_in_a_flow_shows_the_current_step(wang: Chat):
    await wang.press("承诺还款日期")
    await wang.press("明天")
    assert await wang.press("3天后", replies=2) == [STALE, how_much(1)]
    await wang.press("全额：¥5,600.00")
    await wang.press("确认")
    # The summary's Confirm is pressed again after the promise was stored: stale, no second one.
    assert await wang.press("确认", replies=2) == [STALE, SUMMARY]
    assert len(await promises(wang.world)) == 1


async def test_a_stale_language_button_changes_nothing(wang: Chat):
    await wang.press("语言")
    await wang.press("取消", replies=2)
    assert await wang.press("English", replies=2) == [STALE, SUMMARY]
    assert (await wang_row(wang.world)).locale == "zh_CN"


@pytest.mark.parametrize("how", ["say", "press"])
async def test_an_idle_flow_starts_over_politely(wang: Chat, how: str):
    await wang.press("承诺还款日期")
    async with wang.world.sessions.begin() as s:
        await s.execute(
            update(DialogueState).values(updated_at=datetime.now(UTC) - timedelta(minutes=31))
        )
    # Typed, "明天" alone is no request; pressed, the old date button no longer applies.
    second = NOT_UNDERSTOOD if how == "say" else STALE
    assert await getattr(wang, how)("明天", replies=3) == [TIMED_OUT, second, SUMMARY]
    assert ((await state_of(wang.world)).flow, await promises(wang.world)) == (None, [])


CANCEL_FROM = {
    "nothing": [],
    "promise date": ["承诺还款日期"],
    "promise amount": ["承诺还款日期", "明天"],
    "promise confirm": ["承诺还款日期", "明天", "全额：¥5,600.00"],
    "plan count": ["申请分期还款"],
    "plan confirm": ["申请分期还款", "2 期，每期 ¥2,800.00"],
    "reason": ["我暂时无法还款"],
    "can pay soon": ["我暂时无法还款", "我能还，但暂时还不了"],
    "dispute or complaint": ["异议或投诉"],
    "language": ["语言"],
}


@pytest.mark.parametrize(
    ("where", "how"),
    [*((where, "button") for where in CANCEL_FROM if where != "nothing"),
     ("nothing", "/cancel"), ("promise amount", "/cancel"), ("plan confirm", "/cancel"),
     ("reason", "/cancel")],
)  # fmt: skip
async def test_cancel_at_any_step_stores_nothing(wang: Chat, where: str, how: str):
    for label in CANCEL_FROM[where]:
        await wang.press(label)
    cancelled = await (wang.press("取消", 2) if how == "button" else wang.say("/cancel", 2))
    assert cancelled == [CANCELLED, SUMMARY]
    assert (await state_of(wang.world)).flow is None
    await nothing_stored(wang.world)


# -- repayment plans -----------------------------------------------------------------------


def schedule_lines(amounts: list[str]) -> str:
    first = today() + timedelta(days=7)
    return "\n".join(
        f"• {zh(first + timedelta(days=30 * i))}：{amount}" for i, amount in enumerate(amounts)
    )


async def test_a_plan_by_number_of_installments(wang: Chat):
    assert await wang.press("申请分期还款") == [PLAN_HOW]
    assert wang.buttons() == PLAN_OPTIONS
    six = ["¥933.34", "¥933.34", "¥933.33", "¥933.33", "¥933.33", "¥933.33"]
    assert await wang.press("6 期，每期 ¥933.34") == [
        f"以下是账户 ACC-2001 的分期还款计划：\n\n{schedule_lines(six)}\n\n是否确认？"
    ]
    assert wang.buttons() == CONFIRM_ROW
    assert await wang.press("确认") == [
        f"谢谢您，王小明！您与Acme Lending的分期还款计划已确认：\n\n{schedule_lines(six)}\n\n"
        "每期还款前我们都会提醒您。"
    ]
    first = today() + timedelta(days=7)
    assert await plans(wang.world) == [
        ("ACC-2001", "active", 6,
         [(first + timedelta(days=30 * i), 93334 if i < 2 else 93333) for i in range(6)]),
    ]  # fmt: skip
    assert await tickets(wang.world) == []
    assert ("plan_active", "plan 1: 6 installments") in await audit_trail(wang.world)


@pytest.mark.parametrize(
    ("typed", "count", "status"),
    [("2,000", 3, "active"), ("1000元", 6, "active"), ("6000", 2, "active"),
     ("￥500", 12, "review")],
    ids=["3 installments", "6 installments", "fewest is 2", "12 go to review"],
)  # fmt: skip
async def test_a_plan_by_what_can_be_paid_each_time(wang: Chat, typed, count, status):
    await wang.press("申请分期还款")
    summary = (await wang.say(typed))[0]
    lines = summary.splitlines()
    assert lines[0] == "以下是账户 ACC-2001 的分期还款计划："
    assert sum(line.startswith("• ") for line in lines) == count
    review_note = "该计划的期数超出了可自动批准的范围，我们的工作人员将进行审核。"
    assert (review_note in lines) == (status == "review")
    assert lines[-1] == "是否确认？"

    done = (await wang.press("确认"))[0]
    if status == "review":
        assert done == (
            f"谢谢您，王小明！我们已将您提出的计划（共 12 期）转交工作人员，他们将在 "
            f"{zh(today() + timedelta(days=2))} 前在这里回复您。"
            "在此之前，我们不会向您发送自动提醒。"
        )
        assert await tickets(wang.world) == [(["plan_review"], "open")]
    else:
        assert done.startswith("谢谢您，王小明！您与Acme Lending的分期还款计划已确认：")
        assert await tickets(wang.world) == []
    [(_, stored, stored_count, parts)] = await plans(wang.world)
    assert (stored, stored_count, sum(a for _, a in parts)) == (status, count, 560000)


@pytest.mark.parametrize(
    ("typed", "answer"),
    [("50", "这样需要超过 60 期才能还清。请输入更大的金额。"),
     ("看情况吧", UNREADABLE_AMOUNT), ("0", UNREADABLE_AMOUNT)],
    ids=["more than 60", "unreadable", "zero"],
)  # fmt: skip
async def test_a_plan_amount_that_cannot_work_is_asked_again(wang: Chat, typed, answer):
    await wang.press("申请分期还款")
    assert await wang.say(typed, replies=2) == [answer, PLAN_HOW]
    assert wang.buttons() == PLAN_OPTIONS
    await nothing_stored(wang.world)


async def test_a_plan_changed_at_the_summary(wang: Chat):
    await wang.press("申请分期还款")
    await wang.press("2 期，每期 ¥2,800.00")
    assert await wang.press("修改") == [PLAN_HOW]
    four = ["¥1,400.00"] * 4
    summary = f"以下是账户 ACC-2001 的分期还款计划：\n\n{schedule_lines(four)}\n\n是否确认？"
    assert await wang.say("1400") == [summary]
    assert await wang.say("好的") == [summary]  # typing at the summary shows it again
    await wang.press("确认")
    assert [(status, count) for _, status, count, _ in await plans(wang.world)] == [("active", 4)]


async def test_a_plan_for_the_second_account(wang: Chat):
    await add_second_account(wang.world)
    assert await wang.press("申请分期还款") == ["您希望将哪个账户分期还款？"]
    assert wang.buttons() == ["ACC-2001 · ¥5,600.00", "ACC-2002 · ¥300.00", "取消"]
    assert await wang.say("第二个") == ["您希望将哪个账户分期还款？"]
    assert await wang.press("ACC-2002 · ¥300.00") == [PLAN_HOW.replace("¥5,600.00", "¥300.00")]
    await wang.press("3 期，每期 ¥100.00")
    await wang.press("确认")
    assert [(ref, status, count) for ref, status, count, _ in await plans(wang.world)] == [
        ("ACC-2002", "active", 3)
    ]


# -- the reasons behind a delay ------------------------------------------------------------


@pytest.mark.parametrize(
    "choice", ["暂停提醒 30 天", "承诺还款日期", "申请分期还款"], ids=["pause", "promise", "plan"]
)
async def test_can_pay_but_not_yet(wang: Chat, choice: str):
    assert await wang.press("我暂时无法还款") == [SITUATION_ASK]
    assert wang.buttons() == SITUATIONS
    assert await wang.press("我能还，但暂时还不了") == [SOON_OPTIONS]
    assert wang.buttons() == ["承诺还款日期", "申请分期还款", "暂停提醒 30 天", "取消"]
    answer = (await wang.press(choice))[0]
    until = today() + timedelta(days=30)
    if choice == "暂停提醒 30 天":
        assert answer == (
            f"感谢您告诉我们，王小明。我们已暂停提醒，直到 {zh(until)}。"
            "如果您的情况有变化，或希望与工作人员沟通，请随时在这里留言。"
        )
        assert (await wang_row(wang.world)).hardship_until == until
        assert ("hardship_pause", f"until {until}") in await audit_trail(wang.world)
    else:
        assert answer == (when_prompt() if choice == "承诺还款日期" else PLAN_HOW)
        assert (await wang_row(wang.world)).hardship_until is None
    assert ("delay_reason", "soon") in await audit_trail(wang.world)


@pytest.mark.parametrize("choice", ["申请分期还款", "联系人工客服"], ids=["plan", "person"])
async def test_cannot_pay_for_a_long_time(wang: Chat, choice: str):
    await wang.press("我暂时无法还款")
    assert await wang.press("我很长一段时间都无法还款") == [LONG_OPTIONS]
    assert wang.buttons() == ["申请分期还款", "联系人工客服"]
    if choice == "申请分期还款":
        assert await wang.press(choice) == [PLAN_HOW]
        assert await tickets(wang.world) == []
    else:
        assert await wang.press(choice) == [HANDOFF_ACK]
        assert await tickets(wang.world) == [(["person_requested"], "open")]
    assert ("delay_reason", "long") in await audit_trail(wang.world)


@pytest.mark.parametrize(
    ("menu", "reason", "ack", "ticket"),
    [("我暂时无法还款", "我认为我不欠这笔钱", DISPUTE_ACK, "dispute"),
     ("异议或投诉", "我认为我不欠这笔钱", DISPUTE_ACK, "dispute"),
     ("我暂时无法还款", "我要投诉", COMPLAINT_ACK, "complaint"),
     ("异议或投诉", "我要投诉", COMPLAINT_ACK, "complaint"),
     ("我暂时无法还款", "账户持有人已去世", DECEASED_ACK, "deceased")],
    ids=["dispute from cant pay", "dispute", "complaint from cant pay", "complaint",
         "deceased"],
)  # fmt: skip
async def test_a_reason_a_person_must_handle(wang: Chat, menu, reason, ack, ticket):
    await wang.press(menu)
    assert await wang.press(reason) == [ack]
    assert await tickets(wang.world) == [([ticket], "open")]
    async with wang.world.sessions() as s:
        disputed_at = (
            await s.execute(select(Account.dispute_at).where(Account.account_ref == "ACC-2001"))
        ).scalar_one()
    assert (disputed_at is not None) == (ticket == "dispute")
    assert ((await wang_row(wang.world)).deceased_at is not None) == (ticket == "deceased")
    assert ("delay_reason", ticket) in await audit_trail(wang.world)
    assert (await state_of(wang.world)).flow is None
    # No buttons to pay under a dispute, a complaint or a reported death.
    assert wang.buttons() == []


async def test_after_a_reported_death_nothing_about_the_debt_is_said(wang: Chat):
    summary = wang.world.sandbox.bot_messages(BOT, WANG["id"])[-1]
    owed = next(
        b["callback_data"]
        for row in summary["reply_markup"]["inline_keyboard"]
        for b in row
        if b["text"] == "我的欠款"
    )
    await wang.press("我暂时无法还款")
    await wang.press("账户持有人已去世")
    assert await wang.say("我还欠多少钱？") == [DECEASED_ACK]
    # A button still on an older message (a reminder's, say), pressed now.
    older = InlineKeyboardMarkup([[InlineKeyboardButton("我的欠款", callback_data=owed)]])
    await wang.world.process.telegram.bot.send_message(
        WANG["id"], "（较早的消息）", reply_markup=older
    )
    wang.seen += 1
    assert await wang.press("我的欠款") == [DECEASED_ACK]
    assert await wang.say("/promise") == [DECEASED_ACK]
    assert await tickets(wang.world) == [(["deceased"], "open")]


@pytest.mark.parametrize("how", ["/start", "contact"])
async def test_start_or_contact_after_a_reported_death_discloses_nothing(wang: Chat, how: str):
    await wang.press("我暂时无法还款")
    await wang.press("账户持有人已去世")
    if how == "contact":
        assert await wang.share_contact("+86 138 0013 8000") == [DECEASED_ACK]
    else:
        assert await wang.say("/start") == [DECEASED_ACK]


async def test_typed_words_while_choosing_a_reason_are_kept_for_people(wang: Chat):
    await wang.press("我暂时无法还款")
    assert await wang.say("我上个月刚做完手术，住院了") == [SITUATION_ASK]
    assert wang.buttons() == SITUATIONS
    assert ("delay_reason_text", "我上个月刚做完手术，住院了") in await audit_trail(wang.world)
    assert (await state_of(wang.world)).flow == "situation"
    await nothing_stored(wang.world)


async def test_typed_words_while_disputing_ask_the_dispute_question_again(wang: Chat):
    await wang.press("异议或投诉")
    assert await wang.say("这笔钱我早就还清了") == [DISPUTE_OR_COMPLAINT]


# -- a person, stop, language, not understood ----------------------------------------------


@pytest.mark.parametrize(
    ("how", "what"),
    [("press", "联系人工客服"), ("say", "我要找人工客服"), ("say", "能让真人跟我说吗"),
     ("say", "请工作人员联系我")],
    ids=["button", "human service", "real person", "staff"],
)  # fmt: skip
async def test_talk_to_a_person(wang: Chat, how: str, what: str):
    assert await getattr(wang, how)(what) == [HANDOFF_ACK]
    assert await wang.say("客服") == [HANDOFF_ACK]  # asking again joins the same ticket
    assert await tickets(wang.world) == [(["person_requested"], "open")]


@pytest.mark.parametrize(
    ("command", "answer"),
    [("/plan", PLAN_HOW), ("/person", HANDOFF_ACK)],
    ids=["/plan", "/person"],
)
async def test_plan_and_person_commands(wang: Chat, command: str, answer: str):
    assert await wang.say(command) == [answer]


@pytest.mark.parametrize(
    ("how", "what", "via"),
    [("press", "停止接收消息", "button"), ("say", "退订", "text"), ("say", "停止", "text"),
     ("say", "取消订阅。", "text"), ("say", "不要再发", "text"), ("say", "/stop", "/stop")],
    ids=["button", "tuiding", "tingzhi", "unsubscribe", "dont send", "/stop"],
)  # fmt: skip
async def test_stop_then_start_again(wang: Chat, how: str, what: str, via: str):
    assert await getattr(wang, how)(what) == [OPTED_OUT]
    assert (await wang_row(wang.world)).opted_out_at is not None
    assert await wang.say("/start") == [SUMMARY]
    assert (await wang_row(wang.world)).opted_out_at is None
    kinds = [k for k in await audit_trail(wang.world) if k[0] in ("opted_out", "opted_in")]
    assert kinds == [("opted_out", via), ("opted_in", "/start")]


@pytest.mark.parametrize(
    "what",
    ["请停止", "不要再发了", "别再给我发消息了"],
    ids=["please stop", "dont send", "no more"],
)
async def test_natural_chinese_stop_requests(wang: Chat, what: str):
    assert await wang.say(what) == [OPTED_OUT]


async def test_switch_to_english_and_back(wang: Chat):
    assert await wang.press("语言") == [LANGUAGE_CHOOSE]
    assert wang.buttons() == LANGUAGES
    english = await wang.press("English", replies=2)
    assert english[0] == "Done. I will write in English from now on."
    assert english[1].startswith("Here is what is currently open with Acme Lending:")
    assert (await wang_row(wang.world)).locale == "en"
    assert await wang.say("中文") == ["Which language would you like me to use?"]
    assert wang.buttons() == ["English", "简体中文", "Cancel"]
    assert await wang.press("简体中文", replies=2) == [
        "好的。从现在起我会用简体中文和您交流。",
        SUMMARY,
    ]
    assert (await wang_row(wang.world)).locale == "zh_CN"


async def test_three_messages_not_understood_offer_a_person(wang: Chat):
    assert await wang.say("嗯嗯", replies=2) == [NOT_UNDERSTOOD, SUMMARY]
    assert await wang.say("哈哈", replies=2) == [NOT_UNDERSTOOD, SUMMARY]
    assert await wang.say("？？") == [OFFER_PERSON]
    assert wang.buttons() == ["联系人工客服"]
    assert await wang.press("联系人工客服") == [HANDOFF_ACK]
    assert await tickets(wang.world) == [(["person_requested"], "open")]


async def test_a_message_understood_in_between_starts_the_count_again(wang: Chat):
    await wang.say("嗯嗯", replies=2)
    await wang.say("哈哈", replies=2)
    assert await wang.say("我欠多少钱") == [SUMMARY]
    assert await wang.say("？？", replies=2) == [NOT_UNDERSTOOD, SUMMARY]
    assert (await state_of(wang.world)).unrecognised_count == 1
    assert await tickets(wang.world) == []


async def test_a_failure_on_our_side_is_apologised_for_in_chinese(wang: Chat):
    await wang.press("承诺还款日期")
    await wang.press("今天")
    # The flow's date is unreadable (as a broken migration might leave it).
    async with wang.world.sessions.begin() as s:
        state = (await s.execute(select(DialogueState))).scalar_one()
        state.data = {**state.data, "date": "the day after"}
    assert await wang.say("1000") == [
        "抱歉，我们这边出现了问题，您的消息未能处理。请过一分钟再试一次。"
    ]
    async with wang.world.sessions() as s:
        heard = await s.execute(
            select(ContactLog.text).where(ContactLog.direction == "in").order_by(ContactLog.id)
        )
    assert heard.scalars().all()[-1] == "1000"  # on record, though it could not be handled
    assert ((await state_of(wang.world)).step, await promises(wang.world)) == ("amount", [])


# -- follow-ups the bot sends on its own, in Chinese ---------------------------------------


def local(day: date, hour: int = 10) -> datetime:
    """An instant in 王小明's contact window."""
    return datetime.combine(day, time(hour), ZoneInfo(ZONE)).astimezone(UTC)


async def follow_up(world: World, at: datetime) -> None:
    """One reminder cycle at ``at``, sending through the running bot (as its ticker would)."""
    dispatcher = make_dispatcher(world.settings, world.sessions, world.process.telegram, POLICY)
    await run_cycle(world.sessions, dispatcher, POLICY, at)


async def pay(world: World, minor: int, at: datetime) -> None:
    """The creditor reports a payment on ACC-2001."""
    async with world.sessions.begin() as s:
        account_id = (
            await s.execute(select(Account.id).where(Account.account_ref == "ACC-2001"))
        ).scalar_one()
        await record_payments(
            s, [{"payment_ref": f"P-{minor}", "account_id": account_id, "amount_minor": minor,
                 "currency": "CNY", "paid_at": at, "source": "test"}],
            POLICY, at,
        )  # fmt: skip


@pytest.fixture
async def late(wang: Chat) -> Chat:
    """王小明 with ACC-2001 ten days late, so the weeks these tests cover stay short of the final
    stage (whose ticket would hold every message) whatever today's date is."""
    await change_account(wang.world, due_date=today() - LATE)
    return wang


async def promise_1000_in_3_days(wang: Chat) -> date:
    await wang.press("承诺还款日期")
    await wang.press("3天后")
    await wang.say("1000")
    await wang.press("确认")
    return today() + timedelta(days=3)


async def test_a_kept_promise_is_reminded_the_day_before_then_thanked(late: Chat):
    wang, world = late, late.world
    day = await promise_1000_in_3_days(wang)

    await follow_up(world, local(day - timedelta(days=1)))
    assert await wang.arrived(1) == [
        f"王小明，您好！Acme Lending提醒您：明天（{zh(day)}）是您约定还款 ¥1,000.00 的日期"
        f"（编号 ACC-2001）。感谢您信守承诺。{OPT_OUT_LINE}"
    ]
    assert wang.buttons() == ["支付 ACC-2001", "我的欠款"]
    await pay(world, 100000, local(day, 9))
    await follow_up(world, local(day))
    assert await wang.arrived(1) == [
        f"谢谢您，王小明！我们已按您的承诺收到 ¥1,000.00 的还款（编号 ACC-2001）。{OPT_OUT_LINE}"
    ]
    assert [p[-1] for p in await promises(world)] == ["kept"]
    # "What I owe" under a follow-up shows what is left.
    assert await wang.press("我的欠款") == [summary("¥4,600.00", zh(today() - LATE))]


@pytest.mark.parametrize(("paid", "status"), [(0, "broken"), (30000, "partial")], ids=str)
async def test_a_promise_not_kept_says_so_in_chinese(late: Chat, paid: int, status: str):
    wang, world = late, late.world
    day = await promise_1000_in_3_days(wang)
    if paid:
        await pay(world, paid, local(day, 9))
    await follow_up(world, local(day + timedelta(days=3)))
    [text] = await wang.arrived(1)
    assert text.startswith("王小明，您好。" if status == "broken" else "王小明，谢谢您。")
    assert text.endswith(OPT_OUT_LINE)
    if status == "broken":
        assert text == (
            f"王小明，您好。我们尚未收到您计划于 {zh(day)} 支付的 ¥1,000.00（编号 ACC-2001）。"
            "我们的记录将显示此承诺未履行，提醒将重新开始。\n\n"
            f"如果情况有变，这很正常：您随时可以重新选择日期或申请分期还款。{OPT_OUT_LINE}"
        )
    async with world.sessions() as s:
        promise = (await s.execute(select(Promise))).scalar_one()
    assert (promise.status, promise.paid_minor) == (status, paid)


async def test_a_partly_kept_promise_acknowledges_what_was_paid(late: Chat):
    day = await promise_1000_in_3_days(late)
    await pay(late.world, 30000, local(day, 9))
    await follow_up(late.world, local(day + timedelta(days=3)))
    [text] = await late.arrived(1)
    assert text == (
        f"王小明，谢谢您。我们已收到您计划于 {zh(day)} 前支付的 ¥1,000.00 中的 ¥300.00"
        "（编号 ACC-2001）。我们的记录将显示此承诺部分履行，剩余款项的提醒将重新开始。\n\n"
        f"如果一次付清剩余款项有困难，您随时可以重新选择日期或申请分期还款。{OPT_OUT_LINE}"
    )


async def test_a_plan_installment_is_reminded_then_missed_then_the_plan_breaks(late: Chat):
    wang, world = late, late.world
    await wang.press("申请分期还款")
    await wang.press("2 期，每期 ¥2,800.00")
    await wang.press("确认")
    due = today() + timedelta(days=7)

    await follow_up(world, local(due - timedelta(days=2)))
    assert await wang.arrived(1) == [
        f"王小明，您好！Acme Lending提醒您：您的分期计划第 1/2 期 ¥2,800.00 将于 {zh(due)} 到期。"
        f"{OPT_OUT_LINE}"
    ]
    await follow_up(world, local(due + timedelta(days=1)))
    assert await wang.arrived(1) == [
        f"王小明，您好。我们尚未收到您分期计划的第 1 期（¥2,800.00，到期日 {zh(due)}）。"
        f"如果您在 {zh(due + timedelta(days=5))} 前付款，分期计划将继续有效。"
        f"如果情况有变，请告诉我们，我们一起商量。{OPT_OUT_LINE}"
    ]
    await follow_up(world, local(due + timedelta(days=6)))
    async with world.sessions() as s:
        plan = (await s.execute(select(RepaymentPlan))).scalar_one()
        states = (
            (await s.execute(select(PlanInstallment.status).order_by(PlanInstallment.seq)))
            .scalars()
            .all()
        )
    assert (plan.status, states) == ("broken", ["missed", "pending"])
