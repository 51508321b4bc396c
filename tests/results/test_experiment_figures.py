"""How two arms of a template experiment compare: a hand-made set of debtors with replies,
promises, plans and payments just inside and just outside their 7 days, and the intervals
against figures worked out by hand and published ones."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.db.models import (
    Account,
    ContactLog,
    Payment,
    Promise,
    ReminderOutbox,
    RepaymentPlan,
    TemplateExperiment,
)
from bot.results.experiments import experiment_figures
from bot.results.intervals import Z95, newcombe, proportion, wilson
from tests.helpers import add_debtor

T0 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
AS_OF = T0 + timedelta(days=10)
DAY, SECOND = timedelta(days=1), timedelta(seconds=1)
WEEK = timedelta(days=7)


def test_wilson_for_two_in_four_worked_out_by_hand():
    # p = 1/2, n = 4: the centre (p + z²/2n) / (1 + z²/n) is 1/2 by symmetry; the half-width
    # z·√(p(1−p)/n + z²/4n²) / (1 + z²/n) = 1.96·√(0.0625 + 0.0600) / 1.9604 = 0.34996.
    low, high = wilson(2, 4)
    assert (round(low, 4), round(high, 4)) == (0.1500, 0.8500)
    # None of n: the lower end is 0 and the upper z² / (n + z²); all of n mirrors it.
    assert wilson(0, 20) == (0.0, pytest.approx(Z95**2 / (20 + Z95**2)))
    assert wilson(20, 20) == (pytest.approx(20 / (20 + Z95**2)), 1.0)
    assert round(Z95**2 / (20 + Z95**2), 4) == 0.1611


@pytest.mark.parametrize(
    ("hits", "total", "expected"),
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", table I.
    [(81, 263, (0.2553, 0.3662)), (15, 148, (0.0624, 0.1605)), (1, 29, (0.0061, 0.1718))],
)
def test_wilson_against_published_intervals(hits, total, expected):
    assert tuple(round(x, 4) for x in wilson(hits, total)) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected", "significant"),
    # Newcombe (1998), "Interval estimation for the difference between independent
    # proportions", method 10, examples (a), (b), (d), (e), (f).
    [
        ((56, 70), (48, 80), (0.0524, 0.3339), True),
        ((9, 10), (3, 10), (0.1705, 0.8090), True),
        ((5, 56), (0, 29), (-0.0381, 0.1926), False),
        ((0, 10), (0, 20), (-0.1611, 0.2775), False),
        ((0, 10), (0, 10), (-0.2775, 0.2775), False),
    ],
)
def test_newcombe_against_published_intervals(a, b, expected, significant):
    found = newcombe(*a, *b)
    assert (round(found.low, 4), round(found.high, 4)) == expected
    assert found.value == pytest.approx(a[0] / a[1] - b[0] / b[1])
    assert found.significant is significant


def test_newcombe_by_hand_for_two_in_four_against_one_in_four():
    # Wilson 1/4: centre (0.25 + 0.48018) / 1.96036 = 0.37247, half 1.96·√(0.046875 +
    # 0.060023) / 1.96036 = 0.32689, so 0.04559 to 0.69936 (and 2/4: 0.15004 to 0.84996).
    # The difference 0.25 has low = 0.25 − √((0.5 − 0.15004)² + (0.69936 − 0.25)²)
    # = 0.25 − 0.56956 = −0.31956, high = 0.25 + √((0.84996 − 0.5)² + (0.25 − 0.04559)²)
    # = 0.25 + 0.40529 = 0.65529.
    assert tuple(round(x, 4) for x in wilson(1, 4)) == (0.0456, 0.6994)
    found = newcombe(2, 4, 1, 4)
    assert (found.value, round(found.low, 3), round(found.high, 3)) == (0.25, -0.320, 0.655)
    assert not found.significant
    assert newcombe(1, 4, 0, 0) is None
    assert proportion(0, 0).rate is None


async def test_rates_count_what_each_debtor_did_within_7_days_of_their_first_message(sessions):
    async with sessions.begin() as s:
        x = _experiment(s, "stage_early")
        other = _experiment(s, "stage_mid")
        await s.flush()
        people = {}
        for ref in ("C1", "C2", "C3", "C4", "C5", "C6", "H1", "H2", "H3", "H4", "N1"):
            people[ref] = await add_debtor(
                s, ref, at=T0 - DAY,
                accounts=[(f"{ref}-a", T0.date(), 10000, "USD"),
                          (f"{ref}-b", T0.date(), 5000, "USD")],
            )  # fmt: skip
        accounts = {a.account_ref: a.id for a in await s.scalars(select(Account))}
        d = {ref: p.id for ref, p in people.items()}

        # Control. C1: a second message later changes nothing; replied 1 s inside its week,
        # promised an hour in; paid a minute after its week.
        _sent(s, x, "control", d["C1"], T0)
        _sent(s, x, "control", d["C1"], T0 + 2 * DAY)
        _said(s, d["C1"], T0 + WEEK - SECOND)
        _promised(s, d["C1"], accounts["C1-a"], T0 + timedelta(hours=1))
        _paid(s, accounts["C1-a"], T0 + WEEK + timedelta(minutes=1))
        # C2: wrote an hour before the message (not a reply); agreed a plan; paid on day 6.
        _sent(s, x, "control", d["C2"], T0)
        _said(s, d["C2"], T0 - timedelta(hours=1))
        _planned(s, d["C2"], accounts["C2-a"], T0 + 3 * DAY)
        _paid(s, accounts["C2-b"], T0 + 6 * DAY)
        # C3: only the bot wrote to them.
        _sent(s, x, "control", d["C3"], T0)
        _said(s, d["C3"], T0 + DAY, direction="out")
        # C4: a reply exactly 7 days on and a promise 1 s after are outside; a payment recorded
        # on day 9 but made on day 2 (back-dated) is inside.
        _sent(s, x, "control", d["C4"], T0)
        _said(s, d["C4"], T0 + WEEK)
        _promised(s, d["C4"], accounts["C4-a"], T0 + WEEK + SECOND)
        _paid(s, accounts["C4-b"], T0 + 2 * DAY, recorded=T0 + 9 * DAY)
        # C5: reached 3 days before AS_OF, so not yet counted in the rates; it replied at once.
        _sent(s, x, "control", d["C5"], AS_OF - 3 * DAY)
        _said(s, d["C5"], AS_OF - 3 * DAY + SECOND)
        # C6: the message failed: never reached.
        _sent(s, x, "control", d["C6"], T0, status="failed")
        _said(s, d["C6"], T0 + DAY)

        # Challenger. H1 did everything on day 1-2; H2 replied the very instant it was sent;
        # H3 paid on its second account on day 5; H4 did nothing.
        _sent(s, x, "challenger", d["H1"], T0 + DAY)
        _said(s, d["H1"], T0 + 2 * DAY)
        _promised(s, d["H1"], accounts["H1-a"], T0 + 2 * DAY)
        _paid(s, accounts["H1-a"], T0 + 3 * DAY)
        _sent(s, x, "challenger", d["H2"], T0)
        _said(s, d["H2"], T0)
        _sent(s, x, "challenger", d["H3"], T0)
        _paid(s, accounts["H3-b"], T0 + 5 * DAY)
        _sent(s, x, "challenger", d["H4"], T0)
        # N1 got the text outside any experiment, and one message of the other experiment.
        _sent(s, None, None, d["N1"], T0)
        _said(s, d["N1"], T0 + DAY)
        _sent(s, other, "challenger", d["H4"], T0)
        _said(s, d["H4"], T0 - DAY)

    async with sessions() as s:
        figures = await experiment_figures(s, [x, other], as_of=AS_OF)

    f = figures[x.id]
    control, challenger = f.control, f.challenger
    assert (control.version, control.exposed, control.measured) == (0, 5, 4)
    assert (challenger.version, challenger.exposed, challenger.measured) == (3, 4, 4)
    counted = {arm.name: {k: (p.hits, p.total) for k, p in arm.rates.items()}
               for arm in (control, challenger)}  # fmt: skip
    assert counted == {
        "control": {"replied": (1, 4), "promised": (2, 4), "paid": (2, 4)},
        "challenger": {"replied": (2, 4), "promised": (1, 4), "paid": (2, 4)},
    }
    low, high = control.rates["replied"].low, control.rates["replied"].high
    assert (control.rates["replied"].rate, round(low, 4), round(high, 4)) == (0.25, 0.0456, 0.6994)
    replied = f.differences["replied"]
    assert (replied.value, round(replied.low, 3), round(replied.high, 3)) == (0.25, -0.32, 0.655)
    assert not replied.significant
    assert f.differences["paid"].value == 0.0
    assert math.isclose(f.differences["promised"].value, -0.25)

    g = figures[other.id]
    assert (g.control.exposed, g.challenger.exposed, g.challenger.measured) == (0, 1, 1)
    assert g.challenger.rates["replied"].hits == 0
    assert g.control.rates["replied"].rate is None
    assert g.differences == {"replied": None, "promised": None, "paid": None}


def _experiment(s, key: str) -> TemplateExperiment:
    row = TemplateExperiment(
        key=key, locale="en", control_version=0, challenger_version=3, challenger_percent=50,
        status="running", note="", started_at=T0 - DAY,
    )  # fmt: skip
    s.add(row)
    return row


_serial = iter(range(1, 1_000_000))


def _sent(s, x, arm, debtor_id: int, at: datetime, status: str = "sent") -> None:
    n = next(_serial)
    s.add(
        ReminderOutbox(
            dedupe_key=f"test:{n}", debtor_id=debtor_id, kind="stage", stage="early",
            template_key="stage_early", planned_at=at, not_before=at, status=status,
            sent_at=at if status == "sent" else None, attempts=1,
            experiment_id=x.id if x is not None else None, arm=arm,
        )
    )  # fmt: skip


def _said(s, debtor_id: int, at: datetime, direction: str = "in") -> None:
    s.add(
        ContactLog(
            debtor_id=debtor_id, channel="telegram", chat_id=1, direction=direction,
            kind="text" if direction == "in" else "reminder", text="hello",
            status="received" if direction == "in" else "sent", created_at=at,
        )
    )  # fmt: skip


def _promised(s, debtor_id: int, account_id: int, at: datetime) -> None:
    s.add(
        Promise(
            debtor_id=debtor_id, account_id=account_id, amount_minor=5000, currency="USD",
            promised_date=(at + 3 * DAY).date(), status="open", paid_minor=0, source="debtor",
            created_at=at, updated_at=at,
        )
    )  # fmt: skip


def _planned(s, debtor_id: int, account_id: int, at: datetime) -> None:
    s.add(
        RepaymentPlan(
            debtor_id=debtor_id, account_id=account_id, status="active", total_minor=10000,
            currency="USD", installment_count=3, source="debtor", created_at=at, updated_at=at,
        )
    )  # fmt: skip


def _paid(s, account_id: int, at: datetime, recorded: datetime | None = None) -> None:
    s.add(
        Payment(
            payment_ref=f"P-{next(_serial)}", account_id=account_id, amount_minor=2500,
            currency="USD", paid_at=at, source="file", created_at=recorded or at,
        )
    )  # fmt: skip
