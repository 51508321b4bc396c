"""Every figure of the results page on a small portfolio lived through November 2026 day by day
(buckets recorded each night, payments imported when they come, one of them late), against
answers worked out by hand in the comments below — not by the code under test."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.db.models import (
    Account,
    AuditEvent,
    ChannelLink,
    ContactLog,
    Debtor,
    HandoffTicket,
    LinkToken,
    PlanInstallment,
    Promise,
    ReminderOutbox,
    RepaymentPlan,
)
from bot.handoff import claims
from bot.handoff.tickets import open_ticket
from bot.policy import load_policy
from bot.results.buckets import record_buckets
from bot.results.dashboard import TABLES, figures
from bot.results.period import Period, Table
from bot.services.payments import import_payments
from tests.helpers import add_debtor, add_staff, write_csv

POLICY = load_policy()
NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 30))


def t(day: int, hour: int = 12, minute: int = 0, month: int = 11) -> datetime:
    """An instant of November 2026 (UTC)."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# The portfolio (every debtor in UTC; amounts in minor units):
#   D1 en  ACC-1 USD 100.00 due Oct 25  Nov 1: mid (7 days)   link, verified, reminded Nov 3
#          (stage_mid en v2), replies, promises 100.00 for Nov 10, pays it Nov 9: kept, paid.
#   D2 en  ACC-2 USD 200.00 due Oct 30  Nov 1: early (2)      link, verified, reminded Nov 5,
#          replies Nov 6, promises 200.00 for Nov 12, pays 50.00 Nov 11: partial; a dispute
#          ticket Nov 12; a reminder failed Nov 20; the chat blocked the bot Nov 25.
#   D3 zh  ACC-3 CNY 300.00 due Oct 20  Nov 1: mid (12)       link, verified, reminded Nov 4
#          (stage_mid zh_CN v0), writes STOP Nov 6 (opted out), pays CNY 30.00 Nov 20.
#   D4 en  ACC-4 EUR 400.00 due Nov 20  Nov 1: current (-19)  link sent, never opened.
#   D5 en  ACC-5 USD 500.00 due Oct 10  Nov 1: late (22)      link, verified, reminded Nov 2,
#          replies, plan of 200/150/150 due Nov 9/16/23: first on time, second late (Nov 18),
#          third missed: broken; a ticket Nov 20 nobody claims.
#   D6 en  ACC-6 USD 600.00 due Oct 1   Nov 1: final (31)     no link; a final-stage ticket
#          Nov 2 10:00, claimed 10:30, released 11:00, claimed 12:00, answered 12:10, resolved
#          13:00 paid in full; a payment made Nov 15 is only recorded Nov 25 (back-dated).
#   D7 en  ACC-7 USD 700.00 paid Oct 20: never in November's book.
#   D8 en  ACC-8 USD 800.00 due Nov 10, placed Nov 15 (early, 5), late by Nov 30 (20).


async def build(sessions, tmp_path) -> None:
    """Live November: each day's events at their instants, the buckets recorded each night."""
    staff = await add_staff(sessions, "ada", "agent", now=t(1, 8, month=10))
    ids: dict[str, int] = {}
    async with sessions.begin() as s:
        for ref, account, due, amount, currency, locale in (
            ("D1", "ACC-1", date(2026, 10, 25), 10_000, "USD", "en_US"),
            ("D2", "ACC-2", date(2026, 10, 30), 20_000, "USD", "en_US"),
            ("D3", "ACC-3", date(2026, 10, 20), 30_000, "CNY", "zh_CN"),
            ("D4", "ACC-4", date(2026, 11, 20), 40_000, "EUR", "en_US"),
            ("D5", "ACC-5", date(2026, 10, 10), 50_000, "USD", "en_US"),
            ("D6", "ACC-6", date(2026, 10, 1), 60_000, "USD", "en_US"),
            ("D7", "ACC-7", date(2026, 9, 20), 70_000, "USD", "en_US"),
        ):
            chat = 100 + int(ref[1]) if ref in ("D1", "D2", "D3", "D5") else None
            debtor = await add_debtor(
                s, ref, accounts=[(account, due, amount, currency)], timezone="UTC",
                locale=locale, chat_id=chat, at=t(28, 9, month=10),
            )  # fmt: skip
            ids[ref] = debtor.id
            if ref in ("D1", "D2", "D3", "D4", "D5"):
                s.add(
                    LinkToken(
                        debtor_id=debtor.id, token_hash=f"{ref:0>64}", created_at=t(28, month=10),
                        expires_at=t(28, month=12),
                    )
                )  # fmt: skip
    await pay(sessions, tmp_path, "P-7,ACC-7,700.00,2026-10-20T10:00:00Z", t(20, 11, month=10))
    await night(sessions, t(31, month=10))

    timeline: dict[int, list[Callable[[], Awaitable[None]]]] = {}

    def on(day: int, action: Callable[[], Awaitable[None]]) -> None:
        timeline.setdefault(day, []).append(action)

    async def remind(ref: str, day: int, key: str, locale: str, version: int, **extra) -> None:
        async with sessions.begin() as s:
            log = ContactLog(
                debtor_id=ids[ref], channel="telegram", chat_id=100 + int(ref[1]),
                direction="out", kind="reminder", template_key=key, template_locale=locale,
                template_version=version, text="…", status="sent", created_at=t(day, 10),
                sent_at=t(day, 10),
            )  # fmt: skip
            s.add(log)
            await s.flush()
            s.add(
                ReminderOutbox(
                    dedupe_key=f"stage:{ref}:{day}", debtor_id=ids[ref], kind="stage",
                    stage=key.removeprefix("stage_"), template_key=key, planned_at=t(day, 9),
                    not_before=t(day, 9), status="sent", attempts=1, sent_at=t(day, 10),
                    contact_log_id=log.id, **extra,
                )
            )  # fmt: skip

    async def wrote(ref: str, day: int, hour: int, text: str = "hello") -> None:
        async with sessions.begin() as s:
            s.add(
                ContactLog(
                    debtor_id=ids[ref], channel="telegram", chat_id=100 + int(ref[1]),
                    direction="in", kind="text", text=text, status="received",
                    update_id=day * 100 + hour * 10 + int(ref[1]), created_at=t(day, hour),
                )
            )  # fmt: skip
            if text == "STOP":
                s.add(AuditEvent(debtor_id=ids[ref], kind="opted_out", actor="debtor",
                                 created_at=t(day, hour)))  # fmt: skip
                (await s.get(Debtor, ids[ref])).opted_out_at = t(day, hour)

    async def promise(ref: str, day: int, amount: int, on_date: date, status: str) -> None:
        async with sessions.begin() as s:
            account = await s.scalar(select(Account).where(Account.debtor_id == ids[ref]))
            s.add(
                Promise(
                    debtor_id=ids[ref], account_id=account.id, amount_minor=amount,
                    currency="USD", promised_date=on_date, status=status, source="debtor",
                    created_at=t(day, 12), updated_at=t(day, 12),
                )
            )  # fmt: skip

    async def plan() -> None:
        async with sessions.begin() as s:
            account = await s.scalar(select(Account).where(Account.debtor_id == ids["D5"]))
            agreed = RepaymentPlan(
                debtor_id=ids["D5"], account_id=account.id, status="broken", total_minor=50_000,
                currency="USD", installment_count=3, source="debtor", activated_at=t(2, 12),
                created_at=t(2, 12), updated_at=t(2, 12),
            )  # fmt: skip
            for seq, (day, amount, state, paid) in enumerate(
                [(9, 20_000, "paid", t(9, 15)), (16, 15_000, "paid", t(18, 15)),
                 (23, 15_000, "missed", None)], start=1,
            ):  # fmt: skip
                agreed.installments.append(
                    PlanInstallment(seq=seq, due_date=date(2026, 11, day), amount_minor=amount,
                                    paid_minor=amount if paid else 0, status=state, paid_at=paid)
                )  # fmt: skip
            s.add(agreed)

    async def ticket(ref: str, reason: str, day: int, hour: int) -> None:
        async with sessions.begin() as s:
            await open_ticket(s, ids[ref], reason, now=t(day, hour), actor="system")

    async def work_ticket(ref: str, steps: list[tuple[str, datetime]]) -> None:
        for step, at in steps:
            async with sessions.begin() as s:
                tid = await s.scalar(
                    select(HandoffTicket.id).where(HandoffTicket.debtor_id == ids[ref])
                )
                if step == "claim":
                    assert (await claims.claim(s, tid, staff, at, POLICY)).won
                elif step == "release":
                    assert await claims.release(s, tid, staff, at)
                elif step == "reply":
                    (await s.get(HandoffTicket, tid)).first_reply_at = at
                else:
                    await claims.resolve(s, tid, staff, step, "", at)

    async def unreachable(ref: str, day: int) -> None:
        async with sessions.begin() as s:
            link = await s.scalar(select(ChannelLink).where(ChannelLink.debtor_id == ids[ref]))
            link.unreachable_at = t(day, 10)

    async def outbox_row(ref: str, day: int, status: str, reason: str) -> None:
        async with sessions.begin() as s:
            s.add(
                ReminderOutbox(
                    dedupe_key=f"x:{ref}:{day}", debtor_id=ids[ref], kind="stage", stage="late",
                    template_key="stage_late", planned_at=t(day, 9), not_before=t(day, 9),
                    status=status, reason=reason, attempts=1,
                )
            )  # fmt: skip

    async def placed() -> None:
        async with sessions.begin() as s:
            await add_debtor(
                s, "D8", accounts=[("ACC-8", date(2026, 11, 10), 80_000, "USD")],
                timezone="UTC", at=t(15, 9),
            )  # fmt: skip

    on(2, lambda: remind("D5", 2, "stage_late", "en", 0, gap_deferrals=2))
    on(2, lambda: wrote("D5", 2, 11))
    on(2, plan)
    on(2, lambda: ticket("D6", "final_stage", 2, 10))
    on(2, lambda: work_ticket("D6", [("claim", t(2, 10, 30)), ("release", t(2, 11)),
                                     ("claim", t(2, 12)), ("reply", t(2, 12, 10)),
                                     ("paid_in_full", t(2, 13))]))  # fmt: skip
    on(3, lambda: remind("D1", 3, "stage_mid", "en", 2, window_deferrals=1))
    on(3, lambda: wrote("D1", 3, 11))
    on(3, lambda: promise("D1", 3, 10_000, date(2026, 11, 10), "kept"))
    on(4, lambda: remind("D3", 4, "stage_mid", "zh_CN", 0))
    on(5, lambda: remind("D2", 5, "stage_early", "en", 0))
    on(6, lambda: wrote("D2", 6, 11))
    on(6, lambda: promise("D2", 6, 20_000, date(2026, 11, 12), "partial"))
    on(6, lambda: wrote("D3", 6, 18, "STOP"))
    on(8, lambda: outbox_row("D3", 8, "skipped", "opted_out"))
    on(9, lambda: pay(sessions, tmp_path, "P-1,ACC-1,100.00,2026-11-09T14:00:00Z\n"
                      "P-5a,ACC-5,200.00,2026-11-09T15:00:00Z", t(9, 16)))  # fmt: skip
    on(11, lambda: pay(sessions, tmp_path, "P-2,ACC-2,50.00,2026-11-11T09:00:00Z", t(11, 10)))
    on(12, lambda: wrote("D2", 12, 7, "I dispute this"))
    on(12, lambda: ticket("D2", "dispute", 12, 7))
    on(12, lambda: work_ticket("D2", [("claim", t(12, 7, 15)), ("reply", t(12, 7, 20)),
                                      ("dispute_rejected", t(12, 8))]))  # fmt: skip
    on(15, placed)
    on(18, lambda: pay(sessions, tmp_path, "P-5b,ACC-5,150.00,2026-11-18T15:00:00Z", t(18, 16)))
    on(20, lambda: outbox_row("D2", 20, "failed", "refused: Bad Request: can't parse entities"))
    on(20, lambda: pay(sessions, tmp_path, "P-3,ACC-3,30.00,2026-11-20T08:00:00Z", t(20, 9)))
    on(20, lambda: ticket("D5", "broken_promises", 20, 9))
    on(25, lambda: unreachable("D2", 25))
    on(25, lambda: pay(sessions, tmp_path, "P-6,ACC-6,600.00,2026-11-15T10:00:00Z", t(25, 10)))
    for day in range(1, 31):
        for action in timeline.get(day, []):
            await action()
        await night(sessions, t(day, 23, 30))


async def pay(sessions, tmp_path, rows: str, now: datetime) -> None:
    """Import a payments file at ``now``."""
    path = write_csv(tmp_path / "payments.csv", "payment_ref,account_ref,amount,paid_at\n" + rows)
    report = await import_payments(sessions, path, POLICY, clock=lambda: now)
    assert report.errors == []


async def night(sessions, now: datetime) -> None:
    async with sessions.begin() as s:
        await record_buckets(s, POLICY, now)


def rows_of(tables: dict[str, list[Table]], name: str) -> list[list[object]]:
    """The rows of the table called ``name``, ratios rounded to 4 places."""
    table = next(tb for section in tables.values() for tb in section if tb.name == name)
    return [[round(v, 4) if isinstance(v, float) else v for v in row] for row in table.rows]


async def test_every_figure_of_november(sessions, tmp_path) -> None:
    """November is built once (it takes seconds), then each part of the page is checked."""
    await build(sessions, tmp_path)
    async with sessions.begin() as s:
        november = await figures(s, POLICY, NOVEMBER)
    # What a CSV download looks for is what each section returns.
    assert {n: tuple(t.name for t in tables) for n, tables in november.items()} == TABLES
    await check_the_funnel_and_the_promise_rates(november)
    await check_the_book_rolls_cures_and_recovers_by_currency(november)
    await check_channel_health_and_template_versions(november)
    await check_the_queue(november, sessions)


async def check_the_funnel_and_the_promise_rates(november) -> None:
    # Book: D1–D6 and D8 owed in November (7); links: D1–D5 (5); opened and verified: D1, D2,
    # D3, D5 (4); reminded: the same 4; wrote after the reminder: all 4 (D3's STOP is a reply);
    # agreed: D1, D2 (promises), D5 (plan): 3; kept: D1's promise (D2 partial, D5's plan
    # broken): 1; paid in full among those: D1: 1.
    assert rows_of(november, "funnel") == [
        ["In the portfolio", 7, None, 1.0],
        ["Sent a link", 5, round(5 / 7, 4), round(5 / 7, 4)],
        ["Opened the link", 4, 0.8, round(4 / 7, 4)],
        ["Verified (right party)", 4, 1.0, round(4 / 7, 4)],
        ["Reached by a reminder", 4, 1.0, round(4 / 7, 4)],
        ["Replied", 4, 1.0, round(4 / 7, 4)],
        ["Promised or agreed a plan", 3, 0.75, round(3 / 7, 4)],
        ["Kept it", 1, round(1 / 3, 4), round(1 / 7, 4)],
        ["Paid in full", 1, 1.0, round(1 / 7, 4)],
    ]
    # 2 promises + 1 plan ÷ 4 verified debtors reached; promises due in November: D1's (kept)
    # and D2's (partial); D5's installments due: Nov 9 on time, Nov 16 paid Nov 18, Nov 23
    # missed.
    assert rows_of(november, "rates") == [
        ["Promise-to-pay", 3, 4, 0.75],
        ["Promises kept", 1, 2, 0.5],
        ["Promises kept in part", 1, 2, 0.5],
        ["Promises broken", 0, 2, 0.0],
        ["Promises not yet judged", 0, None, None],
        ["Installments paid on time", 1, 3, round(1 / 3, 4)],
        ["Installments paid late", 1, 3, round(1 / 3, 4)],
        ["Installments not yet judged", 0, None, None],
    ]


async def check_the_book_rolls_cures_and_recovers_by_currency(november) -> None:
    # Nov 1 → Nov 30: D4 current → mid (due Nov 20, 10 days); D2 early → final (31 days, paid
    # in part); D1 mid → paid; D3 mid → final; D5 late → final; D6 final → paid (Nov 15, recorded
    # late); D7 paid → paid. D8 came later and is not in the roll.
    assert rows_of(november, "roll_rates") == [
        # to: current, early, mid, late, final, paid
        ["current", 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1],
        ["early", 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1],
        ["mid", 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 2],
        ["late", 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1],
        ["final", 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1],
        ["paid", 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1],
    ]
    table = next(tb for tb in november["book"] if tb.name == "roll_rates")
    assert table.columns == ["bucket on the first day", "current", "early", "mid", "late",
                             "final", "paid", "accounts"]  # fmt: skip
    # Overdue Nov 1: D2 (early), D1 and D3 (mid), D5 (late), D6 (final); paid by Nov 30: D1, D6.
    assert rows_of(november, "cure") == [
        ["early", 1, 0, 0.0],
        ["mid", 2, 1, 0.5],
        ["late", 1, 0, 0.0],
        ["final", 1, 1, 1.0],
        ["all overdue", 5, 2, 0.4],
    ]
    # By the day each payment was made; D6's, recorded Nov 25, on Nov 15. Never summed across
    # currencies.
    assert rows_of(november, "recovered") == [
        ["2026-11-09", "USD", 30_000, "$300.00"],
        ["2026-11-11", "USD", 5_000, "$50.00"],
        ["2026-11-15", "USD", 60_000, "$600.00"],
        ["2026-11-18", "USD", 15_000, "$150.00"],
        ["2026-11-20", "CNY", 3_000, "CN¥30.00"],
    ]
    # Owed Nov 1: USD 100+200+500+600, CNY 300, EUR 400; placed since: D8's USD 800.
    # Recovered: USD 1,100 of 2,200; CNY 30 of 300; EUR nothing of 400.
    assert rows_of(november, "liquidation") == [
        ["CNY", "CN¥300.00", "CN¥0.00", "CN¥30.00", 0.1],
        ["EUR", "€400.00", "€0.00", "€0.00", 0.0],
        ["USD", "$1,400.00", "$800.00", "$1,100.00", 0.5],
    ]


async def check_channel_health_and_template_versions(november) -> None:
    # Sent: 4 reminders; failed: D2's on Nov 20 (refused); skipped: D3's on Nov 8 (opted out);
    # put off: D1's once by the window, D5's twice by the gap; blocked: D2 (1 of 4 reached);
    # opt-outs: D3 (1 of 4).
    assert rows_of(november, "channel") == [
        ["Proactive messages sent", 4, None],
        ["Failed: refused", 1, None],
        ["Skipped: opted_out", 1, None],
        ["Put off by the contact window", 1, None],
        ["Put off by the gap or the time of day", 2, None],
        ["Chats that blocked the bot", 1, 0.25],
        ["Opted out", 1, 0.25],
    ]
    # D3's STOP came two days after stage_mid zh_CN v0: that version's one send, one opt-out.
    assert sorted(map(tuple, rows_of(november, "versions"))) == [
        ("stage_early", "en", 0, 1, 0, 0, 0.0),
        ("stage_late", "en", 0, 1, 0, 0, 0.0),
        ("stage_mid", "en", 2, 1, 0, 0, 0.0),
        ("stage_mid", "zh_CN", 0, 1, 0, 1, 1.0),
    ]


async def check_the_queue(november, sessions) -> None:
    assert rows_of(november, "tickets_opened") == [
        ["2026-11-02", 0, 0, 1, 1],
        ["2026-11-12", 0, 1, 0, 1],
        ["2026-11-20", 1, 0, 0, 1],
    ]
    assert next(tb for tb in november["queue"] if tb.name == "tickets_opened").columns == [
        "day", "broken_promises", "dispute", "final_stage", "all",
    ]  # fmt: skip
    # D6: claimed after 30 min, answered after 130, with people 10:30–13:00 less the hour it
    # was back in the queue = 90. D2: 15, 20, 45. Medians and 90th percentiles of two values
    # (linear between them): 22.5 / 28.5, 75 / 119, 67.5 / 85.5.
    assert rows_of(november, "queue_times") == [
        ["Time to claim", 2, 22.5, 28.5],
        ["Time to the first agent reply", 2, 75.0, 119.0],
        ["Time to resolve (with people only)", 2, 67.5, 85.5],
    ]
    async with sessions() as s:
        back = await s.scalar(
            select(HandoffTicket.bot_seconds).where(HandoffTicket.outcome == "paid_in_full")
        )
    assert back == 3600
    assert sorted(rows_of(november, "outcomes")) == [["dispute_rejected", 1], ["paid_in_full", 1]]
    # Wrote in November: D1, D2, D3, D5; a ticket opened for D2 and D5.
    assert rows_of(november, "containment") == [
        ["Wrote to the bot", 4, None],
        ["Handed to a person", 2, 0.5],
        ["Settled by the bot alone", 2, 0.5],
    ]


async def test_a_stage_and_a_language_narrow_every_figure(sessions, tmp_path) -> None:
    await build(sessions, tmp_path)
    async with sessions.begin() as s:
        chinese = await figures(s, POLICY, Period(NOVEMBER.start, NOVEMBER.end, locale="zh_CN"))
        mid = await figures(s, POLICY, Period(NOVEMBER.start, NOVEMBER.end, stage="mid"))
    # Only D3 writes Chinese: in the book, linked, reached, replied; no promise; paid in part.
    assert [row[1] for row in rows_of(chinese, "funnel")] == [1, 1, 1, 1, 1, 1, 0, 0, 0]
    assert rows_of(chinese, "recovered") == [["2026-11-20", "CNY", 3_000, "CN¥30.00"]]
    assert rows_of(chinese, "cure") == [["mid", 1, 0, 0.0], ["all overdue", 1, 0, 0.0]]
    # In mid at some time in November: D1 (until paid), D2 (Nov 5–17), D3 (until Nov 7), D4
    # (from Nov 26), D8 (Nov 16–28); D5 and D6 never.
    assert rows_of(mid, "funnel")[0] == ["In the portfolio", 5, None, 1.0]
    assert rows_of(mid, "cure") == [["mid", 2, 1, 0.5], ["all overdue", 2, 1, 0.5]]
