"""An agent opens a debtor's page from a conversation in Chromium and reads why the bot will or
will not write to them, now and at another instant; finds another debtor by reference.

With ``DOCS_SCREENSHOTS=1`` the page is also saved as docs/console-debtor.png.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from bot.db.models import Debtor, OutboxStatus, ReminderOutbox
from tests.console.conftest import Console, ask_for_a_person

pytestmark = [
    pytest.mark.parametrize("world", ["polling"], indirect=True),
    pytest.mark.once,
    pytest.mark.timeout(240),
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
PHONE = {"width": 390, "height": 844}


async def _reminded(world, at: datetime) -> None:
    """Alice got a stage reminder at ``at`` (before she wrote to the bot)."""
    async with world.sessions.begin() as s:
        alice = await s.scalar(select(Debtor).where(Debtor.debtor_ref == "D-001"))
        s.add(
            ReminderOutbox(
                dedupe_key="stage:shot", debtor_id=alice.id, kind="stage", stage="mid",
                template_key="stage_mid", planned_at=at, not_before=at, status=OutboxStatus.SENT,
                sent_at=at, attempts=1,
            )
        )  # fmt: skip


async def test_an_agent_reads_why_the_bot_writes_or_not(console: Console):
    world = console.world
    await ask_for_a_person(world)
    await _reminded(world, datetime(2026, 11, 30, 17, 0, tzinfo=UTC))
    ada = await console.signed_in("ada")
    await ada.get_by_role("button", name="Take the next").click()
    await expect(ada.get_by_role("heading", name="Alice Martin")).to_be_visible()

    # From the conversation's side panel to the debtor's page: the agents' hold is listed.
    await ada.get_by_role("link", name="Why the bot writes or not").click()
    await expect(ada).to_have_url(console.url + "debtors/D-001")
    await expect(ada.get_by_role("heading", name="Alice Martin")).to_be_visible()
    await expect(ada.locator("#their-time")).to_contain_text("America/Los_Angeles")
    await expect(ada.locator(".trace-holds dt")).to_have_text(["Conversation with the agents"])

    # At 10:00 on 1 December in Los Angeles (18:00 UTC), as the planner and dispatcher see it.
    await ada.get_by_label("See it at").fill("2026-12-01T10:00")
    await ada.get_by_role("button", name="Show").click()
    await expect(ada).to_have_url(console.url + "debtors/D-001?at=2026-12-01T10%3A00")
    await expect(ada.locator("#verdict")).to_have_text(
        "The bot will not write: their conversation is with the agents."
    )
    await expect(ada.locator("#why-title")).to_have_text(
        "Why the bot writes or not · at Tue 1 Dec 10:00 their time"
    )
    await expect(ada.locator(".next-slot")).to_have_text(
        "The window, caps and gap alone would allow: Tue 1 Dec 10:00 their time · 1 Dec 18:00 UTC"
    )
    await expect(ada.locator(".trace-checks li")).to_have_text(
        [
            "✓ Stage most overdue 11 days past due: mid",
            "✕ Holds conversation with the agents",
            "✓ This step not planned yet",
            "✓ Contact window 08:00–21:00, open now",
            "✓ Weekly cap 1 of 7 in the last 7 days",
            "✓ Minimum gap 20 h after the last (Mon 30 Nov 09:00): passed",
            "✓ Time of day 0 of 2 unanswered in a row: any time of the window",
        ],
        use_inner_text=True,
    )
    await expect(ada.locator(".trace-checks li.decides .check-name")).to_have_text("Holds")
    rows = ada.locator("table.accounts tbody tr")
    await expect(rows).to_have_text(
        [
            "ACC-1001 Personal loan\t$1,234.50\t20 Nov 2026\t11\tmid\topen",
            "ACC-1002\t$89.99\t25 Nov 2026\t6\tmid\topen",
        ],
        use_inner_text=True,
    )
    await ada.set_viewport_size({"width": 1366, "height": 900})
    shot = await console.shoot(ada, "debtor")
    if os.environ.get("DOCS_SCREENSHOTS"):
        shutil.copyfile(shot, DOCS / "console-debtor.png")
    await ada.set_viewport_size(PHONE)
    await console.shoot(ada, "debtor-phone")
    width = await ada.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    await ada.set_viewport_size({"width": 1366, "height": 820})

    # Another debtor by exact reference; a reference nobody has gets a polite 404.
    await ada.get_by_label("Find a debtor").fill("D-002")
    await ada.get_by_role("button", name="Find").click()
    await expect(ada.get_by_role("heading", name="王小明")).to_be_visible()
    await expect(ada.locator("#their-time")).to_contain_text("Asia/Shanghai")
    await ada.get_by_label("Find a debtor").fill("D-999")
    await ada.get_by_role("button", name="Find").click()
    await expect(ada.get_by_role("heading", name="No such debtor")).to_be_visible()
    await expect(ada.locator("main")).to_contain_text("No debtor has the reference “D-999”.")
    # The 404 above was the point; the browser reports it as an error.
    console.problems[:] = [p for p in console.problems if "404 (Not Found)" not in p]
