"""Versions of a message template: drafts wait, the version published last is what the bot
renders, a revert is a new version, every refusal and publication is audited."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from bot.db.models import AuditEvent, StaffUser
from bot.handoff import canned
from bot.policy import load_policy
from bot.services import templates as service
from bot.templates import versions
from bot.templates.renderer import default_body
from bot.templates.store import forget_cached_templates, render
from tests.helpers import add_debtor

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
SHIPPED = default_body("stage_mid", "zh_CN")
NEW = SHIPPED.replace("我们希望能帮您一起解决。", "我们随时可以帮您。")


async def admin(s) -> StaffUser:
    row = StaffUser(
        username="grace", display_name="Grace Hopper", password_hash="-", role="admin",
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    s.add(row)
    await s.flush()
    return row


async def in_use(sessions, key="stage_mid", locale="zh_CN") -> tuple[int, str]:
    """What the bot renders now (its cache forgotten, as publishing does)."""
    forget_cached_templates()
    async with sessions() as s:
        found = await versions.live(s, key, locale)
        rendered = await render(s, key, locale, dict(_sample(key)))
    assert found is not None and found.version == rendered.version
    return rendered.version, found.body


def _sample(key: str) -> dict:
    from bot.templates.catalog import MESSAGES

    return MESSAGES[key].sample


async def audits(sessions) -> list[tuple[str, str, str]]:
    async with sessions() as s:
        rows = await s.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [(r.kind, r.actor, r.detail or "") for r in rows]


async def test_a_draft_waits_a_publication_is_live_and_a_revert_is_a_newer_version(sessions):
    async with sessions.begin() as s:
        grace = await admin(s)
    assert await in_use(sessions) == (0, SHIPPED)

    async with sessions.begin() as s:
        draft = await service.save(
            s, "stage_mid", "zh_CN", NEW, comment="softer", based_on=0, staff_id=grace.id, now=NOW
        )
    assert draft.version == 1 and draft.published_at is None
    assert await in_use(sessions) == (0, SHIPPED)  # a draft changes nothing debtors read

    async with sessions.begin() as s:
        refused = await service.publish(
            s, "stage_mid", "zh_CN", 1, staff_id=grace.id, now=NOW + timedelta(minutes=1)
        )
    assert refused == []
    assert await in_use(sessions) == (1, NEW)

    async with sessions.begin() as s:
        row, refused = await service.revert(
            s, "stage_mid", "zh_CN", 0, staff_id=grace.id, now=NOW + timedelta(minutes=2)
        )
    assert refused == [] and row is not None
    assert (row.version, row.based_on, row.comment) == (2, 0, "Reverted to the shipped text")
    assert await in_use(sessions) == (2, SHIPPED)

    # Going forward again is a revert too: version 3 has version 1's text.
    async with sessions.begin() as s:
        row, _ = await service.revert(
            s, "stage_mid", "zh_CN", 1, staff_id=grace.id, now=NOW + timedelta(minutes=3)
        )
    assert await in_use(sessions) == (3, NEW)
    async with sessions() as s:
        history = await versions.history(s, "stage_mid", "zh_CN")
    assert [(r.version, r.published_at is not None) for r in history] == [
        (3, True), (2, True), (1, True),
    ]  # fmt: skip
    assert [a[0] for a in await audits(sessions)] == [
        "template_saved", "template_published", "template_reverted", "template_reverted",
    ]  # fmt: skip
    assert {a[1] for a in await audits(sessions)} == {f"staff:{grace.id}"}


async def test_a_text_that_fails_a_check_never_goes_live_and_the_refusal_is_audited(sessions):
    async with sessions.begin() as s:
        grace = await admin(s)
    threat = NEW.replace("我们随时可以帮您。", "否则我们将起诉您。")
    async with sessions.begin() as s:
        row, refused = await service.save_and_publish(
            s, "stage_mid", "zh_CN", threat, comment="", based_on=0, staff_id=grace.id, now=NOW
        )
    assert row is None
    assert [f.check for f in refused] == ["tone"]
    assert threat[refused[0].start : refused[0].end] == "起诉"
    async with sessions() as s:
        assert await versions.history(s, "stage_mid", "zh_CN") == []  # nothing saved
    kinds = await audits(sessions)
    assert kinds[-1][0] == "template_publish_refused" and "起诉" in kinds[-1][2]

    # A draft may hold the text (nothing typed is lost), but publishing it is refused too.
    async with sessions.begin() as s:
        draft = await service.save(
            s, "stage_mid", "zh_CN", threat, comment="", based_on=0, staff_id=grace.id, now=NOW
        )
        refused = await service.publish(
            s, "stage_mid", "zh_CN", draft.version, staff_id=grace.id, now=NOW
        )
    assert [f.check for f in refused] == ["tone"]
    assert await in_use(sessions) == (0, SHIPPED)


async def test_previews_render_for_the_sample_and_for_a_real_debtor_in_the_texts_language(
    sessions,
):
    policy = load_policy()
    async with sessions.begin() as s:
        debtor = await add_debtor(
            s, "D-9", name="李娜", locale="zh_CN",
            accounts=[("ACC-9", date(2026, 11, 22), 560000, "CNY")],
        )  # fmt: skip
        sample = await service.sample_reader(s, "stage_mid", "zh_CN", "Acme")
        shown = await service.preview(
            s, "stage_mid", "zh_CN", NEW, sample, payment_url_template="https://p/{account_ref}"
        )
        reader = await service.debtor_reader(
            s, "stage_mid", "zh_CN", debtor, policy=policy, today=date(2026, 12, 2),
            creditor="Acme",
        )  # fmt: skip
        theirs = await service.preview(
            s, "stage_mid", "zh_CN", NEW, reader, payment_url_template="https://p/{account_ref}"
        )
        english = await service.debtor_reader(
            s, "stage_mid", "en", debtor, policy=policy, today=date(2026, 12, 2), creditor="Acme"
        )
    assert shown.publishable and shown.text is not None
    assert "Alice" in shown.text and "US$1,234.50" in shown.text  # zh_CN formats money its way
    assert shown.text.endswith("如需停止接收提醒，请回复“退订”。")  # the opt-out line follows
    assert shown.length == len(shown.text)  # no characters outside the BMP here
    assert theirs.text is not None and "李娜" in theirs.text and "¥5,600.00" in theirs.text
    assert "逾期 10 天" in theirs.text
    assert theirs.buttons[0] == ["支付 ACC-9"]
    assert any("reads zh_CN" in n for n in english.notes)


async def test_two_versions_compare_line_by_line():
    lines = versions.compare("one\ntwo\nthree", "one\n2\nthree\nfour")
    assert [(d.kind, d.old_number, d.new_number, d.text) for d in lines] == [
        ("same", 1, 1, "one"),
        ("removed", 2, None, "two"),
        ("added", None, 2, "2"),
        ("same", 3, 3, "three"),
        ("added", None, 4, "four"),
    ]


async def test_a_canned_reply_counts_its_saves_for_the_contact_log(sessions):
    async with sessions.begin() as s:
        grace = await admin(s)
        reply = await canned.save(
            s, title="Hello", locale="en", body="Hi {{ first_name }}", staff_id=grace.id, now=NOW
        )
        assert reply.version == 1
        reply = await canned.save(
            s, title="Hello", locale="en", body="Hello {{ first_name }}", staff_id=grace.id,
            now=NOW, reply_id=reply.id,
        )  # fmt: skip
        assert reply.version == 2
        assert await canned.used(s, f"{reply.id}:2") == (f"canned_{reply.id}", 2)
        assert await canned.used(s, f"{reply.id}:1") == (f"canned_{reply.id}", 1)
        for forged in ("", "x", f"{reply.id}:3", f"{reply.id}:0", "999:1", f"{reply.id}"):
            assert await canned.used(s, forged) is None, forged
