"""Template experiments: each debtor always reads the same arm, reminders carry their arm's text
and version, refusals change nothing, and stopping keeps the chosen version for everyone."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.db.models import (
    AuditEvent,
    ContactLog,
    Debtor,
    ReminderOutbox,
    TemplateExperiment,
    TemplateVersion,
)
from bot.policy import load_policy
from bot.reminders.planner import plan
from bot.services import experiments as service
from bot.templates import versions
from bot.templates.experiments import ExperimentError, arm_for
from bot.templates.store import forget_cached_templates
from tests.helpers import add_debtor, add_staff
from tests.reminders.conftest import BOT

POLICY = load_policy()
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 10:00 in New York
TODAY = date(2026, 12, 1)
SHIPPED_FIRST = (
    "Hello Test, we have not yet received the payment that was due, so here is a quick"
    " reminder from Acme Lending."
)
WARMER = (
    "Hi {{ first_name }}, this is {{ creditor }}. A payment slipped past its date; it happens"
    " to everyone.\n\n{{ accounts_block }}\n\nPay with the button below, or tell us what suits"
    " you."
)
WARMER_FIRST = (
    "Hi Test, this is Acme Lending. A payment slipped past its date; it happens to everyone."
)


def test_each_debtor_always_gets_the_same_arm_and_the_split_holds():
    arms = [arm_for(7, debtor, 30) for debtor in range(1, 10_001)]
    assert arms == [arm_for(7, debtor, 30) for debtor in range(1, 10_001)]
    share = arms.count("challenger") / len(arms)
    assert 0.28 <= share <= 0.32, share
    # Another experiment shuffles the same debtors differently.
    other = [arm_for(8, debtor, 30) for debtor in range(1, 10_001)]
    assert sum(a != b for a, b in zip(arms, other, strict=True)) > 3_000
    assert {arm_for(7, d, 1) for d in range(1, 200)} >= {"control"}
    assert [arm_for(7, d, 99) for d in range(1, 101)].count("challenger") >= 95


def test_the_arms_are_the_same_in_another_python_with_another_hash_seed():
    here = [arm_for(3, debtor, 40) for debtor in range(1, 301)]
    code = (
        "from bot.templates.experiments import arm_for;"
        "print(''.join('x' if arm_for(3, d, 40) == 'challenger' else '.' for d in range(1, 301)))"
    )
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        there = ["challenger" if c == "x" else "control" for c in done.stdout.strip()]
        assert there == here


async def _warmer_draft(sessions, staff_id: int) -> int:
    async with sessions.begin() as s:
        row = await versions.save_draft(
            s, "stage_early", "en", WARMER, comment="warmer", staff_id=staff_id, now=NOW,
            based_on=0,
        )  # fmt: skip
        return row.version


async def _start(sessions, staff_id: int, challenger: int, percent: int = 50, **kw) -> int:
    async with sessions.begin() as s:
        row = await service.start(
            s, kw.get("key", "stage_early"), kw.get("locale", "en"), challenger=challenger,
            percent=percent, note=kw.get("note", "a warmer opening"), policy=POLICY,
            staff_id=staff_id, now=NOW,
        )  # fmt: skip
        experiment_id = row.id
    forget_cached_templates()  # as the console does once the start has committed
    return experiment_id


async def _plan_and_send(sessions, post, now=NOW):
    async with sessions.begin() as s:
        await plan(s, POLICY, now)
    return await post.dispatcher().dispatch(now)


async def test_each_arm_reads_its_version_and_the_outbox_names_the_arm(sessions, post):
    grace = await add_staff(sessions, "grace", "admin")
    chats = list(range(401, 441))
    await post.due(chats, TODAY)
    post.started(499)
    async with sessions.begin() as s:
        await add_debtor(
            s, "D-zh", chat_id=499, locale="zh_CN", timezone="America/New_York",
            accounts=[("A-zh", TODAY - timedelta(days=3), 100, "USD")],
        )  # fmt: skip
    challenger = await _warmer_draft(sessions, grace)
    experiment_id = await _start(sessions, grace, challenger)

    report = await _plan_and_send(sessions, post)

    assert report.sent == 41
    async with sessions() as s:
        debtors = {d.debtor_ref: d.id for d in await s.scalars(select(Debtor))}
        outbox = {
            r.debtor_id: (r.experiment_id, r.arm) for r in await s.scalars(select(ReminderOutbox))
        }
        logged = {
            r.debtor_id: (r.template_key, r.template_version, r.template_locale)
            for r in await s.scalars(select(ContactLog).where(ContactLog.kind == "reminder"))
        }
    expected_arms = {chat: arm_for(experiment_id, debtors[f"D-{chat}"], 50) for chat in chats}
    assert set(expected_arms.values()) == {"control", "challenger"}
    for chat, arm in expected_arms.items():
        debtor = debtors[f"D-{chat}"]
        first_line = post.sandbox.bot_texts(BOT, chat)[0].split("\n")[0]
        assert first_line == (WARMER_FIRST if arm == "challenger" else SHIPPED_FIRST), chat
        assert outbox[debtor] == (experiment_id, arm)
        version = challenger if arm == "challenger" else 0
        assert logged[debtor] == ("stage_early", version, "en")
    # The experiment is on the English text; a Chinese reader is not in it.
    assert outbox[debtors["D-zh"]] == (None, None)
    assert logged[debtors["D-zh"]] == ("stage_early", 0, "zh_CN")


async def test_stopping_keeps_the_challenger_for_everyone(sessions, post):
    grace = await add_staff(sessions, "grace", "admin")
    await post.due([501, 502, 503, 504], TODAY)
    challenger = await _warmer_draft(sessions, grace)
    experiment_id = await _start(sessions, grace, challenger)
    await _plan_and_send(sessions, post)

    async with sessions.begin() as s:
        stopped = await service.stop(s, experiment_id, "challenger", staff_id=grace, now=NOW)
        assert stopped.published is not None and stopped.published.version == challenger
    forget_cached_templates()
    # Debtors who come due later, in either arm's share, all read the kept version.
    later = NOW + timedelta(days=1)
    await post.due(list(range(511, 521)), TODAY + timedelta(days=1))
    await _plan_and_send(sessions, post, later)

    firsts = [post.sandbox.bot_texts(BOT, chat)[0].split("\n")[0] for chat in range(511, 521)]
    assert firsts == [WARMER_FIRST] * 10
    async with sessions() as s:
        experiment = await s.get(TemplateExperiment, experiment_id)
        live = await versions.live(s, "stage_early", "en")
        after = list(
            await s.execute(
                select(ReminderOutbox.experiment_id, ReminderOutbox.arm)
                .join(Debtor, Debtor.id == ReminderOutbox.debtor_id)
                .where(Debtor.debtor_ref.in_([f"D-{c}" for c in range(511, 521)]))
            )
        )
        audits = [
            (a.kind, a.actor, a.detail)
            for a in await s.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if a.kind.startswith(("experiment", "template"))
        ]
    assert (experiment.status, experiment.kept_version, experiment.stopped_by) == (
        "stopped", challenger, grace,
    )  # fmt: skip
    assert (live.version, live.row.published_by) == (challenger, grace)
    assert after == [(None, None)] * 10
    actor = f"staff:{grace}"
    assert audits == [
        (
            "experiment_started", actor,
            f"#{experiment_id} stage_early (en): control version 0, challenger version"
            f" {challenger} to 50% of debtors",
        ),
        (
            "template_published", actor,
            f"stage_early (en) version {challenger} (kept after experiment #{experiment_id})",
        ),
        (
            "experiment_stopped", actor,
            f"#{experiment_id} stage_early (en): kept the challenger, version {challenger},"
            f" published as version {challenger}",
        ),
    ]  # fmt: skip


async def test_keeping_a_version_that_was_live_before_saves_it_again(sessions):
    grace = await add_staff(sessions, "grace", "admin")
    async with sessions.begin() as s:
        first = await versions.save_draft(
            s, "stage_mid", "en", WARMER, comment="", staff_id=grace, now=NOW, based_on=0
        )
        versions.mark_published(first, staff_id=grace, now=NOW)
        back = await versions.save_draft(
            s, "stage_mid", "en", versions.live_of([], "stage_mid", "en").body, comment="",
            staff_id=grace, now=NOW + timedelta(hours=1), based_on=0,
        )  # fmt: skip
        versions.mark_published(back, staff_id=grace, now=NOW + timedelta(hours=1))
    experiment_id = await _start(sessions, grace, 1, key="stage_mid", percent=20)
    async with sessions.begin() as s:
        await service.stop(s, experiment_id, "challenger", staff_id=grace, now=NOW + timedelta(1))
    async with sessions() as s:
        rows = [
            (r.version, r.based_on, r.published_at, r.comment)
            for r in await versions.history(s, "stage_mid", "en")
        ]
    # Version 1 keeps when it was first live; its text is live again as version 3.
    assert rows == [
        (3, 1, NOW + timedelta(days=1), f"Kept after experiment #{experiment_id}"),
        (2, 0, NOW + timedelta(hours=1), ""),
        (1, 0, NOW, ""),
    ]


async def test_keeping_the_control_in_use_publishes_nothing(sessions):
    grace = await add_staff(sessions, "grace", "admin")
    challenger = await _warmer_draft(sessions, grace)
    experiment_id = await _start(sessions, grace, challenger)
    async with sessions.begin() as s:
        stopped = await service.stop(s, experiment_id, "control", staff_id=grace, now=NOW)
    async with sessions() as s:
        live = await versions.live(s, "stage_early", "en")
        draft = await s.scalar(select(TemplateVersion))
    assert (stopped.published, live.version, draft.published_at) == (None, 0, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"key": "verified"},
            "Only a stage message (a reminder the policy sends) can have an experiment.",
        ),
        ({"percent": 0}, "The challenger's share is a whole percent from 1 to 99."),
        ({"percent": 100}, "The challenger's share is a whole percent from 1 to 99."),
        ({"challenger": 0}, "The challenger must be another version than the control."),
        ({"challenger": 9}, "stage_early (en) has no version 9."),
        ({"note": "x" * 501}, "Keep the note under 500 characters."),
    ],
)
async def test_a_start_that_makes_no_sense_is_refused_and_changes_nothing(
    sessions, change, message
):
    grace = await add_staff(sessions, "grace", "admin")
    challenger = await _warmer_draft(sessions, grace)
    args = {"challenger": challenger, **change}
    with pytest.raises(ExperimentError) as refused:
        await _start(sessions, grace, args.pop("challenger"), **args)
    assert str(refused.value) == message
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(TemplateExperiment)) == 0
        assert await s.scalar(select(func.count()).select_from(AuditEvent)) == 1  # the staff


async def test_a_threatening_challenger_and_a_second_experiment_are_refused(sessions):
    grace = await add_staff(sessions, "grace", "admin")
    async with sessions.begin() as s:
        threat = await versions.save_draft(
            s, "stage_early", "en", WARMER + " Pay or we will call the police.", comment="",
            staff_id=grace, now=NOW, based_on=0,
        )  # fmt: skip
    with pytest.raises(ExperimentError) as refused:
        await _start(sessions, grace, threat.version)
    assert str(refused.value).startswith(f"Version {threat.version} cannot go out as it is (")

    challenger = await _warmer_draft(sessions, grace)
    first = await _start(sessions, grace, challenger)
    with pytest.raises(ExperimentError) as again:
        await _start(sessions, grace, challenger, percent=10)
    assert str(again.value) == (
        f"An experiment (#{first}) is already running for this text. Stop it, keeping one of"
        " its versions, before starting another."
    )
    async with sessions.begin() as s:
        await service.stop(s, first, "control", staff_id=grace, now=NOW)
    with pytest.raises(ExperimentError) as twice:
        async with sessions.begin() as s:
            await service.stop(s, first, "challenger", staff_id=grace, now=NOW)
    assert str(twice.value) == f"Experiment #{first} was already stopped, keeping version 0."
    async with sessions() as s:
        rows = list(await s.execute(select(TemplateExperiment.id, TemplateExperiment.status)))
        live = await versions.live(s, "stage_early", "en")
    assert (rows, live.version) == ([(first, "stopped")], 0)
