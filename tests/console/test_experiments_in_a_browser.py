"""An admin gives stage_mid a challenger from its editor in Chromium, reads how the two arms
compare after three weeks of sends, and stops it keeping the challenger.

With ``DOCS_SCREENSHOTS=1`` the comparison is also saved as docs/console-experiments.png.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select, update

from bot.db.base import utcnow
from bot.db.models import (
    Account,
    AuditEvent,
    ContactLog,
    Debtor,
    Payment,
    Promise,
    ReminderOutbox,
    TemplateExperiment,
)
from bot.templates import versions
from bot.templates.experiments import arm_for
from tests.console.conftest import Console

pytestmark = [
    pytest.mark.parametrize("world", ["polling"], indirect=True),
    pytest.mark.once,
    pytest.mark.timeout(240),
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
WARMER = (
    "Hello {{ first_name }}, this is {{ creditor }}. Your payment is now a little overdue, and"
    " we would like to help you settle it in a way that works for you.\n\n{{ accounts_block }}"
    "\n\nIf something has changed, tell us: we can agree a date, or a plan that fits your"
    " budget."
)
# Per arm, out of every 100 debtors reached: replied, promised, paid within 7 days.
OUTCOMES = {"control": (15, 9, 6), "challenger": (31, 11, 6)}


async def _three_weeks_of_sends(sessions, experiment_id: int) -> dict[str, tuple[int, ...]]:
    """600 debtors reached over three weeks, each in the arm the experiment gives them, and
    what they did; per arm: reached, counted (7 days since), replied, promised, paid."""
    now = utcnow()
    async with sessions.begin() as s:
        await s.execute(
            update(TemplateExperiment)
            .where(TemplateExperiment.id == experiment_id)
            .values(started_at=now - timedelta(days=21))
        )
        debtors = [
            Debtor(
                debtor_ref=f"X-{i:04d}", full_name=f"Debtor {i}", locale="en_US",
                timezone="America/New_York", created_at=now, updated_at=now,
            )
            for i in range(600)
        ]  # fmt: skip
        s.add_all(debtors)
        await s.flush()
        accounts = [
            Account(
                account_ref=f"XA-{d.id}", debtor_id=d.id, currency="USD", amount_due_minor=40000,
                due_date=(now - timedelta(days=30)).date(), status="open", created_at=now,
                updated_at=now,
            )
            for d in debtors
        ]  # fmt: skip
        s.add_all(accounts)
        await s.flush()
        seen: dict[str, list[int]] = {"control": [], "challenger": []}
        for i, (d, a) in enumerate(zip(debtors, accounts, strict=True)):
            arm = arm_for(experiment_id, d.id, 50)
            # From three weeks ago to six days ago: the last day's are not counted yet.
            sent = now - timedelta(days=21) + timedelta(hours=i * 15 * 24 / 600)
            s.add(
                ReminderOutbox(
                    dedupe_key=f"x:{d.id}", debtor_id=d.id, kind="stage", stage="mid",
                    template_key="stage_mid", planned_at=sent, not_before=sent, status="sent",
                    sent_at=sent, attempts=1, experiment_id=experiment_id, arm=arm,
                )
            )  # fmt: skip
            if sent > now - timedelta(days=7):
                seen[arm].append(-1)
                continue
            k = sum(1 for x in seen[arm] if x >= 0) % 100
            seen[arm].append(k)
            replied, promised, paid = OUTCOMES[arm]
            later = sent + timedelta(days=2)
            if k < replied:
                s.add(
                    ContactLog(
                        debtor_id=d.id, channel="telegram", chat_id=d.id, direction="in",
                        kind="text", text="Can we talk about a plan?", status="received",
                        created_at=later,
                    )
                )  # fmt: skip
            if k < promised:
                s.add(
                    Promise(
                        debtor_id=d.id, account_id=a.id, amount_minor=20000, currency="USD",
                        promised_date=(later + timedelta(days=5)).date(), status="open",
                        paid_minor=0, source="debtor", created_at=later, updated_at=later,
                    )
                )  # fmt: skip
            if k < paid:
                s.add(
                    Payment(
                        payment_ref=f"XP-{d.id}", account_id=a.id, amount_minor=40000,
                        currency="USD", paid_at=later, source="api", created_at=later,
                    )
                )  # fmt: skip
    figures = {}
    for arm, ks in seen.items():
        counted = [k for k in ks if k >= 0]
        hits = (sum(1 for k in counted if k < limit) for limit in OUTCOMES[arm])
        figures[arm] = (len(ks), len(counted), *hits)
    return figures


async def test_an_admin_starts_an_experiment_compares_the_arms_and_keeps_the_challenger(
    console: Console,
):
    world = console.world
    grace_id = console.staff["grace"]
    async with world.sessions.begin() as s:
        await versions.save_draft(
            s, "stage_mid", "en", WARMER, comment="A warmer opening", staff_id=grace_id,
            now=utcnow(), based_on=0,
        )  # fmt: skip

    grace = await console.signed_in("grace")
    dialogs: list[str] = []
    grace.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.accept())))
    await grace.get_by_role("link", name="Templates").click()
    await expect(grace.get_by_role("link", name="Experiments")).to_be_visible()
    await grace.get_by_role("link", name="Edit stage_mid in en").click()
    panel = grace.locator("#experiment")
    await expect(panel).to_contain_text("The version in use, version 0, is the control.")
    await panel.get_by_label("Challenger").select_option(
        label="Version 1 (draft) · A warmer opening"
    )
    await panel.get_by_label("Debtors who get it (%)").fill("50")
    await panel.get_by_label("Note").fill("A warmer opening gets more replies")
    await console.shoot(grace, "experiment-panel")
    await panel.get_by_role("button", name="Start experiment").click()
    await expect(panel.get_by_role("status")).to_have_text(
        "Experiment #1 started. Each debtor reads one of the two versions from their next"
        " reminder on."
    )
    await expect(panel).to_contain_text("version 1 (challenger) to 50%")
    async with world.sessions() as s:
        x = await s.scalar(select(TemplateExperiment))
    assert (x.key, x.locale, x.control_version, x.challenger_version, x.started_by) == (
        "stage_mid", "en", 0, 1, grace_id,
    )  # fmt: skip

    figures = await _three_weeks_of_sends(world.sessions, x.id)
    await panel.get_by_role("link", name="Compare the two versions").click()
    await expect(grace.get_by_role("heading", name="Template experiments")).to_be_visible()
    card = grace.locator("#experiment-1")
    for arm in ("control", "challenger"):
        reached, counted, replied, promised, paid = figures[arm]
        row = card.locator(f'tr[data-arm="{arm}"]')
        cells = row.locator("td")
        await expect(cells.nth(0)).to_have_text(str(reached))
        await expect(cells.nth(1)).to_have_text(str(counted))
        for n, hits in enumerate((replied, promised, paid), start=2):
            await expect(cells.nth(n)).to_contain_text(f"{hits / counted * 100:.1f}%")
            await expect(cells.nth(n)).to_contain_text(f"{hits} of {counted}")
    verdicts = card.locator("tr.diff .verdict")
    await expect(verdicts).to_have_text(
        ["Challenger better", "Not yet significant", "Not yet significant"]
    )
    await expect(card.locator("svg rect.bar")).to_have_count(6)
    waiting = sum(figures[arm][0] - figures[arm][1] for arm in figures)
    assert 30 < waiting < 50
    await expect(card).to_contain_text(
        f"{waiting} more debtors will count once their 7 days have passed."
    )
    await grace.set_viewport_size({"width": 1366, "height": 900})
    shot = await console.shoot(grace, "experiments")
    if os.environ.get("DOCS_SCREENSHOTS"):
        shutil.copyfile(shot, DOCS / "console-experiments.png")

    await card.get_by_role("button", name="Stop, keep challenger").click()
    await expect(grace.get_by_role("status")).to_have_text(
        "Experiment #1 is stopped; the version kept is in use for everyone."
    )
    assert dialogs == ["Stop experiment #1 and send version 1 (challenger) to every debtor?"]
    await expect(card).to_contain_text("Stopped · kept version 1")
    await expect(card.get_by_role("button")).to_have_count(0)
    async with world.sessions() as s:
        live = await versions.live(s, "stage_mid", "en")
        stopped = await s.scalar(select(TemplateExperiment))
        kinds = list(
            await s.scalars(
                select(AuditEvent.kind)
                .where(AuditEvent.actor == f"staff:{grace_id}")
                .order_by(AuditEvent.id)
            )
        )
    assert (live.version, stopped.status, stopped.kept_version) == (1, "stopped", 1)
    assert kinds[-3:] == ["experiment_started", "template_published", "experiment_stopped"]
