"""What the queue and a conversation show, read from a real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.db.models import ContactLog, StaffNote, StaffUser
from bot.handoff import canned
from bot.handoff.history import dossier, timeline
from bot.handoff.queue import queue, sla_state
from bot.handoff.tickets import open_ticket
from bot.policy import load_policy
from tests.helpers import add_debtor

POLICY = load_policy()
# 15:00 UTC: 10:00 in New York (inside the 08:00–21:00 window), 23:00 in Shanghai (outside).
NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


async def staff(s, name="Grace Hopper") -> StaffUser:
    row = StaffUser(
        username=name.split()[0].lower(), display_name=name, password_hash="-", role="agent",
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    s.add(row)
    await s.flush()
    return row


def log(debtor_id, direction, text, at, **extra) -> ContactLog:
    return ContactLog(
        debtor_id=debtor_id, channel="telegram", chat_id=1, direction=direction,
        kind=extra.pop("kind", "text" if direction == "in" else "reply"), text=text,
        status=extra.pop("status", "received" if direction == "in" else "sent"), created_at=at,
        **extra,
    )  # fmt: skip


async def test_the_queue_lists_open_tickets_oldest_first_with_what_an_agent_decides_by(sessions):
    async with sessions.begin() as s:
        ny = await add_debtor(
            s, "D-1", name="Alice Martin", accounts=[("A-1", date(2026, 11, 1), 123450, "USD"),
                                                     ("A-2", date(2026, 11, 20), 8999, "USD")],
        )  # fmt: skip
        sh = await add_debtor(
            s, "D-2", name="王小明", timezone="Asia/Shanghai", locale="zh_CN",
            accounts=[("A-3", date(2026, 11, 1), 560000, "CNY")],
        )  # fmt: skip
        grace = await staff(s)
        older, _ = await open_ticket(s, sh.id, "hardship", now=NOW - timedelta(minutes=75),
                                     actor="debtor")  # fmt: skip
        newer, _ = await open_ticket(s, ny.id, "dispute", now=NOW - timedelta(minutes=35),
                                     actor="debtor")  # fmt: skip
        await open_ticket(s, ny.id, "complaint", now=NOW - timedelta(minutes=30), actor="debtor")
        newer.status, newer.claimed_by = "claimed", grace.id
        s.add_all(
            [
                log(ny.id, "in", "before the ticket", NOW - timedelta(hours=2)),
                log(ny.id, "in", "one", NOW - timedelta(minutes=20)),
                log(ny.id, "out", "bot answer", NOW - timedelta(minutes=19)),
                log(ny.id, "in", "two", NOW - timedelta(minutes=10)),
            ]
        )
    async with sessions() as s:
        page = await queue(s, NOW, POLICY)
        mine = await queue(s, NOW, POLICY, show="mine", staff_id=grace.id)
        unclaimed = await queue(s, NOW, POLICY, show="unclaimed")
        disputes = await queue(s, NOW, POLICY, reason="dispute")
    first, second = page.rows
    assert (first.ticket_id, first.age_minutes, first.sla) == (older.id, 75, "late")
    assert (first.owed, first.local_time, first.in_window) == (["CN¥5,600.00"], "23:00 Wed", False)
    assert first.holder_name is None and first.unread == 0
    assert (second.ticket_id, second.sla, second.reasons) == (
        newer.id,
        "warn",
        ["dispute", "complaint"],
    )
    assert (second.owed, second.local_time, second.in_window) == (["$1,324.49"], "10:00 Wed", True)
    assert (second.holder_name, second.unread) == ("Grace Hopper", 2)
    assert [r.ticket_id for r in mine.rows] == [newer.id]
    assert [r.ticket_id for r in unclaimed.rows] == [older.id]
    assert [r.ticket_id for r in disputes.rows] == [newer.id]


def test_the_age_colour_follows_the_sla():
    assert [sla_state(m, 60) for m in (0, 29, 30, 59, 60, 600)] == [
        "ok", "ok", "warn", "warn", "late", "late",
    ]  # fmt: skip


async def test_the_history_shows_presses_as_labels_agents_by_name_and_notes_in_place(sessions):
    async with sessions.begin() as s:
        d = await add_debtor(s, "D-1", accounts=[("A-1", date(2026, 11, 1), 1000, "USD")])
        grace = await staff(s)
        buttons = {"buttons": [[{"label": "Promise to pay", "data": "m:promise", "url": None}]],
                   "keyboard": None, "locale": "en"}  # fmt: skip
        s.add_all(
            [
                log(d.id, "out", "<b>Hello</b> &amp; welcome", NOW, markup=buttons),
                log(d.id, "in", "m:promise", NOW + timedelta(seconds=1), kind="callback"),
                log(d.id, "in", "<script>alert(1)</script>", NOW + timedelta(seconds=3)),
                log(d.id, "out", "We are on it", NOW + timedelta(seconds=4), kind="agent",
                    staff_id=grace.id, status="failed", error="Forbidden: bot was blocked"),
            ]
        )  # fmt: skip
        s.add(StaffNote(debtor_id=d.id, staff_id=grace.id, text="called back",
                        created_at=NOW + timedelta(seconds=2)))  # fmt: skip
    async with sessions() as s:
        items = await timeline(s, d.id)
    assert [(i.side, i.text) for i in items] == [
        ("bot", "Hello & welcome"),
        ("debtor", "Promise to pay"),
        ("note", "called back"),
        ("debtor", "<script>alert(1)</script>"),
        ("agent", "We are on it"),
    ]
    assert items[0].buttons == [["Promise to pay"]] and items[1].pressed
    assert (items[2].author, items[4].author) == ("Grace Hopper", "Grace Hopper")
    assert (items[4].status, items[4].error) == ("failed", "Forbidden: bot was blocked")


async def test_the_debtors_file_shows_accounts_holds_and_the_ticket(sessions):
    async with sessions.begin() as s:
        d = await add_debtor(s, "D-1", accounts=[("A-1", date(2026, 11, 1), 123450, "USD")])
        d.hardship_until = date(2026, 12, 20)
        d.opted_out_at = NOW
        await open_ticket(s, d.id, "hardship", now=NOW, actor="debtor")
    async with sessions() as s:
        file = await dossier(s, d.id, date(2026, 12, 2))
    assert [(a.label, a.value, a.tone) for a in file.accounts] == [
        ("A-1", "$1,234.50 · due 01 Nov 2026, 31 days past due", "bad")
    ]
    assert [h.label for h in file.holds] == ["Opted out of reminders", "Hardship pause"]
    assert file.ticket.reasons == ["hardship"]
    assert [e.kind for e in file.audit] == ["ticket_opened"]


async def test_a_canned_reply_is_checked_and_filled_in_for_the_debtor(sessions):
    async with sessions.begin() as s:
        d = await add_debtor(s, "D-1", name="Alice Martin",
                             accounts=[("ACC 1", date(2026, 11, 1), 123450, "USD")])  # fmt: skip
        grace = await staff(s)
        reply = await canned.save(
            s, title="Pay link", locale="en", staff_id=grace.id, now=NOW,
            body="Hi {{ first_name }}, you owe {{ owed }} to {{ creditor }}: {{ payment_link }}",
        )  # fmt: skip
        for body, why in (("{{ first_name", "mistake"), ("{{ nickname }}", "mistake")):
            try:
                await canned.save(s, title="Bad", locale="en", body=body, staff_id=grace.id,
                                  now=NOW)  # fmt: skip
            except canned.CannedError as exc:
                assert why in str(exc)
            else:
                raise AssertionError(f"{body!r} was accepted")
        try:
            await canned.save(s, title="Pay link", locale="en", body="again", staff_id=grace.id,
                              now=NOW)  # fmt: skip
        except canned.CannedError as exc:
            assert "already" in str(exc)
        text = await canned.render_for(
            s, reply, d, creditor="Acme & Sons", payment_url_template="https://pay.example/{account_ref}",
            today=date(2026, 12, 2),
        )  # fmt: skip
        listed = await canned.for_locale(s, "en_US")
    assert text == "Hi Alice, you owe $1,234.50 to Acme & Sons: https://pay.example/ACC%201"
    assert [r.title for r in listed] == ["Pay link"]
