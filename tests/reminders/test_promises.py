"""Every promise is followed up: reminded the day before, thanked when kept, and marked not
kept (with reminders resuming) when the money does not come."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from bot.db.models import HandoffTicket, Promise, ReminderOutbox
from bot.policy import load_policy
from bot.services.cycle import run_cycle
from bot.services.payments import record_payments
from tests.helpers import add_debtor
from tests.reminders.conftest import BOT

POLICY = load_policy()
MADE = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
DUE = date(2026, 12, 4)


async def _debtor_with_promise(sessions, post, amount: int = 20000) -> tuple[int, int]:
    post.started(701)
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-1", name="Alice Martin", chat_id=701,
            accounts=[("ACC-1", date(2026, 11, 25), 50000, "USD")],
        )  # fmt: skip
        await s.refresh(debtor, ["accounts"])
        promise = Promise(
            debtor_id=debtor.id, account_id=debtor.accounts[0].id, amount_minor=amount,
            currency="USD", promised_date=DUE, status="open", paid_minor=0, source="debtor",
            created_at=MADE, updated_at=MADE,
        )  # fmt: skip
        s.add(promise)
        await s.flush()
        return debtor.id, promise.id


async def _pay(sessions, account_ref: str, amount: int, at: datetime) -> None:
    async with sessions.begin() as s:
        from bot.db.models import Account

        account = (
            await s.execute(select(Account).where(Account.account_ref == account_ref))
        ).scalar_one()
        await record_payments(
            s, [{"payment_ref": f"P-{amount}-{at:%d%H}", "account_id": account.id,
                 "amount_minor": amount, "currency": "USD", "paid_at": at, "source": "test"}],
            POLICY, at,
        )  # fmt: skip


async def _cycle(sessions, post, at: datetime):
    return await run_cycle(sessions, post.dispatcher(), POLICY, at)


async def _status(sessions, promise_id: int) -> str:
    async with sessions() as s:
        return (await s.get(Promise, promise_id)).status


async def test_a_kept_promise_is_thanked_and_the_day_before_is_reminded(sessions, post):
    _, promise_id = await _debtor_with_promise(sessions, post)

    quiet = await _cycle(sessions, post, MADE)  # an open promise holds stage reminders
    eve = await _cycle(sessions, post, datetime(2026, 12, 3, 15, 0, tzinfo=UTC))
    await _pay(sessions, "ACC-1", 20000, datetime(2026, 12, 4, 14, 0, tzinfo=UTC))
    thanks = await _cycle(sessions, post, datetime(2026, 12, 4, 15, 0, tzinfo=UTC))

    assert (quiet.sent, dict(quiet.skipped)) == (0, {"open_promise": 1})
    assert eve.sent == 1
    # The thank-you goes now; the stage reminder for what is still owed waits for the gap.
    assert (thanks.sent, thanks.deferred) == (1, 1)
    assert await _status(sessions, promise_id) == "kept"
    texts = post.sandbox.bot_texts(BOT, 701)
    assert texts[0].startswith(
        "Hello Alice, a reminder from Acme Lending: tomorrow, December 4, 2026, is the date you"
        " chose to pay $200.00 (ref. ACC-1)."
    )
    assert texts[1].startswith(
        "Thank you, Alice. We have received your payment of $200.00 (ref. ACC-1), just as you"
        " promised."
    )
    assert all(t.endswith("To stop these reminders, reply STOP.") for t in texts)


async def test_a_broken_promise_says_so_and_reminders_resume(sessions, post):
    _, promise_id = await _debtor_with_promise(sessions, post)
    # The date was 4 December; with 2 grace days it is broken from 7 December on.
    still_open = await _cycle(sessions, post, datetime(2026, 12, 6, 15, 0, tzinfo=UTC))
    broken = await _cycle(sessions, post, datetime(2026, 12, 7, 15, 0, tzinfo=UTC))

    assert await _status(sessions, promise_id) == "broken"
    assert dict(still_open.promises) == {}
    assert dict(broken.promises) == {"broken": 1}
    texts = post.sandbox.bot_texts(BOT, 701)
    assert texts[-1].startswith("Hello Alice. We have not received the payment of $200.00")
    async with sessions() as s:
        kinds = (
            (await s.execute(select(ReminderOutbox.kind).order_by(ReminderOutbox.id)))
            .scalars()
            .all()
        )
    assert "promise_broken" in kinds and "stage" in kinds  # stage reminders are planned again


async def test_a_partial_payment_and_repeated_broken_promises_reach_a_person(sessions, post):
    debtor_id, first = await _debtor_with_promise(sessions, post)
    await _pay(sessions, "ACC-1", 5000, datetime(2026, 12, 4, 14, 0, tzinfo=UTC))
    await _cycle(sessions, post, datetime(2026, 12, 7, 15, 0, tzinfo=UTC))
    assert await _status(sessions, first) == "partial"
    async with sessions() as s:
        assert (await s.execute(select(HandoffTicket))).first() is None
    async with sessions.begin() as s:
        promise = await s.get(Promise, first)
        second = Promise(
            debtor_id=debtor_id, account_id=promise.account_id, amount_minor=10000,
            currency="USD", promised_date=date(2026, 12, 10), status="open", paid_minor=0,
            source="debtor", created_at=datetime(2026, 12, 7, 16, 0, tzinfo=UTC),
            updated_at=datetime(2026, 12, 7, 16, 0, tzinfo=UTC),
        )  # fmt: skip
        s.add(second)

    await _cycle(sessions, post, datetime(2026, 12, 13, 15, 0, tzinfo=UTC))

    async with sessions() as s:
        tickets = (await s.execute(select(HandoffTicket.reasons, HandoffTicket.status))).all()
    assert [tuple(t) for t in tickets] == [(["broken_promises"], "open")]
