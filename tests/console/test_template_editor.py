"""An admin edits what debtors read, in Chromium: live preview, checks, publish, revert; the
next reminder carries the text and its version."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select, update

from bot.cli import main
from bot.db.models import Account, AuditEvent, ContactLog
from bot.templates.renderer import default_body
from tests.console.conftest import Console
from tests.telegram.conftest import TOKEN, WANG

SHANGHAI = ZoneInfo("Asia/Shanghai")
SHIPPED = default_body("stage_mid", "zh_CN")
THREAT = "如果您不还款，我们将起诉您。"
KIND = "我们随时可以帮您一起想办法。"


def shanghai(day_offset: int) -> datetime:
    """10:00 in 王小明's time zone, some days from today: inside his contact window."""
    day = datetime.now(SHANGHAI).date() + timedelta(days=day_offset)
    return datetime.combine(day, time(10), SHANGHAI).astimezone(UTC)


async def remind(console: Console, at: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """``nudgebot remind --at`` against the running bot's database and the local Telegram."""
    monkeypatch.setenv("NUDGEBOT_DATABASE_URL", console.world.settings.database_url)
    monkeypatch.setenv("NUDGEBOT_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("NUDGEBOT_TELEGRAM_API_URL", console.world.sandbox.base_url)
    monkeypatch.setenv("NUDGEBOT_CREDITOR_NAME", "Acme Lending")
    assert await asyncio.to_thread(main, ["remind", "--at", at.isoformat()]) == 0


async def last_reminder(console: Console) -> ContactLog:
    async with console.world.sessions() as s:
        row = await s.scalar(
            select(ContactLog)
            .where(ContactLog.template_key == "stage_mid")
            .order_by(ContactLog.id.desc())
        )
    assert row is not None
    return row


async def type_text(page: Page, text: str) -> None:
    editor = page.get_by_label("Text", exact=True)
    await editor.fill(text)


async def test_an_admin_edits_stage_mid_in_chinese_publishes_and_reverts(
    console: Console, monkeypatch: pytest.MonkeyPatch
):
    world = console.world
    # 王小明 verifies in Telegram; his loan falls six days overdue (the mid stage) on the first
    # reminder below, ten days on the second.
    await world.say(WANG, f"/start {world.tokens['D-002']}", expect=1)
    await world.say(WANG, "2001", expect=3)
    first, second = shanghai(1), shanghai(5)
    async with world.sessions.begin() as s:
        await s.execute(
            update(Account)
            .where(Account.account_ref == "ACC-2001")
            .values(due_date=first.astimezone(SHANGHAI).date() - timedelta(days=6))
        )

    ada = await console.signed_in("ada")
    for path in ("templates", "templates/stage_mid/zh_CN"):
        answer = await ada.goto(console.url + path)
        assert answer is not None and answer.status == 403, path

    grace = await console.signed_in("grace")
    await grace.get_by_role("link", name="Templates").click()
    await expect(grace.get_by_role("heading", name="Message templates")).to_be_visible()
    await console.shoot(grace, "list")
    await grace.get_by_role("link", name="Edit stage_mid in zh_CN").click()
    await expect(grace.locator("#bubble")).to_contain_text("我们希望能帮您一起解决")
    await expect(grace.locator("#checks")).to_have_text("Every check passes: it can go live.")

    # A phrase on a later line is marked where it is (the browser sends line breaks as CRLF).
    await type_text(grace, "{{ first_name }}，您好！\n\n{{ accounts_block }}\n\n" + THREAT)
    await expect(grace.locator("#backdrop mark.tone")).to_have_text("起诉")

    # The preview follows the typing, rendered in Chinese for the sample debtor.
    await type_text(grace, SHIPPED.replace("我们希望能帮您一起解决。", THREAT))
    await expect(grace.locator("#bubble")).to_contain_text(THREAT)
    await expect(grace.locator("#bubble")).to_contain_text("US$1,234.50")
    await expect(grace.locator("#bubble")).to_contain_text("如需停止接收提醒")
    tone = grace.locator("#checks .finding[data-check='tone']")
    await expect(tone).to_contain_text("起诉")
    await expect(grace.locator("#backdrop mark.tone")).to_have_text("起诉")
    await console.shoot(grace, "tone")

    # Publishing it is refused; the text stays in the editor, nothing goes live.
    await grace.get_by_role("button", name="Save and publish").click()
    await expect(tone).to_contain_text("起诉")
    await expect(grace.get_by_label("Text", exact=True)).to_have_value(
        SHIPPED.replace("我们希望能帮您一起解决。", THREAT)
    )
    await expect(grace.locator("#backdrop mark.tone")).to_have_text("起诉")

    # A syntax error shows its line.
    await type_text(grace, "{{ first_name }}，您好！\n{{ creditor")
    await expect(grace.locator("#checks .finding").first).to_contain_text("Line 2")
    await expect(grace.locator("#gutter .bad")).to_have_text("2")

    fixed = SHIPPED.replace("我们希望能帮您一起解决。", KIND)
    await type_text(grace, fixed)
    await grace.get_by_label("What changed").fill("Softer opening")
    await expect(grace.locator("#checks")).to_have_text("Every check passes: it can go live.")
    await grace.get_by_role("button", name="Save and publish").click()
    await expect(grace.get_by_role("status").first).to_contain_text("Version 1 is live")
    # As Telegram shows it: bold amounts, not tags.
    await expect(grace.locator("#bubble b").first).to_have_text("US$1,234.50")
    await expect(grace.locator("#bubble")).not_to_contain_text("<b>")
    await console.shoot(grace, "published")

    await remind(console, first, monkeypatch)
    texts = await world.texts(WANG, 4)
    assert KIND in texts[3] and "起诉" not in texts[3]
    row = await last_reminder(console)
    assert (row.template_version, row.template_key) == (1, "stage_mid")

    # Back to the shipped text: a revert is a new version, so the history keeps all three.
    reverted = grace.get_by_role("row").filter(has_text="The text shipped in")
    await reverted.get_by_role("button", name="Revert to this").click()
    await expect(grace.get_by_role("status").first).to_contain_text("version 2 is live")
    rows = grace.locator(".versions tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.nth(0)).to_contain_text("Reverted to the shipped text")
    await expect(rows.nth(1)).to_contain_text("Softer opening")

    await remind(console, second, monkeypatch)
    texts = await world.texts(WANG, 5)
    assert "我们希望能帮您一起解决" in texts[4] and KIND not in texts[4]
    row = await last_reminder(console)
    assert row.template_version == 2

    # The two versions compare line by line.
    await rows.nth(1).get_by_role("link", name="Compare with live").click()
    await expect(grace.locator("table.diff tr.removed")).to_contain_text(KIND)
    await expect(grace.locator("table.diff tr.added")).to_contain_text("我们希望能帮您一起解决")

    async with world.sessions() as s:
        kinds = list(
            await s.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("template_%")))
        )
    assert kinds == [
        "template_publish_refused", "template_saved", "template_published", "template_reverted",
    ]  # fmt: skip
    # The 403s and the refused publication (400) were the point; the browser logs them.
    expected = ("status of 403 (Forbidden)", "status of 400 (Bad Request)")
    console.problems[:] = [p for p in console.problems if not p.endswith(expected)]


async def test_a_preview_for_a_real_debtor_uses_their_file(console: Console):
    grace = await console.signed_in("grace")
    await grace.goto(console.url + "templates/stage_late/zh_CN")
    await grace.get_by_label("Preview for the debtor with reference").fill("D-002")
    await grace.get_by_role("button", name="Preview for them").click()
    await expect(grace.locator("#reader-name")).to_contain_text("王小明")
    await expect(grace.locator("#bubble")).to_contain_text("¥5,600.00")
    await expect(grace.locator("#kb")).to_contain_text("支付 ACC-2001")
    assert "debtor=D-002" in grace.url
    await grace.get_by_label("Preview for the debtor with reference").fill("D-404")
    await grace.get_by_role("button", name="Preview for them").click()
    await expect(grace.locator("#notes")).to_contain_text("No debtor has the reference “D-404”")


async def test_a_variable_clicked_is_inserted_at_the_cursor_and_previewed(console: Console):
    grace = await console.signed_in("grace")
    await grace.goto(console.url + "templates/verified/en")
    text = grace.get_by_label("Text", exact=True)
    await text.fill("Thank you, . You are verified.")
    await text.evaluate("area => { area.focus(); area.setSelectionRange(11, 11); }")
    await grace.get_by_role("button", name="first_name", exact=True).click()
    await expect(text).to_have_value("Thank you, {{ first_name }}. You are verified.")
    await expect(grace.locator("#bubble")).to_contain_text("Thank you, Alice. You are verified.")
