"""Template experiments: two versions of one stage message in one language share its sends.

Each debtor always reads the same arm, chosen by a hash of the experiment and the debtor that
every process and every Python run computes alike. Starting one records the version in use
as the control; stopping it keeps one of the two, publishing it again (as a new version when
it was live before, so the history never changes) if it is not the one in use. Auditing is
the caller's (``bot/services/experiments.py``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ExperimentStatus, TemplateExperiment, TemplateVersion
from bot.templates import versions
from bot.templates.checks import check_body

CONTROL, CHALLENGER = "control", "challenger"
ARMS = (CONTROL, CHALLENGER)
MAX_NOTE = 500
ONLY_STAGES = "Only a stage message (a reminder the policy sends) can have an experiment."
# Like the texts in use (store.py): a running experiment reaches other processes this fast.
CACHE_SECONDS = 5.0


class ExperimentError(ValueError):
    """An experiment that cannot start or stop; the message says why, to the admin."""


@dataclass(frozen=True)
class Running:
    """What rendering needs of a running experiment."""

    id: int
    key: str
    locale: str
    control_version: int
    challenger_version: int
    challenger_percent: int

    def arm_of(self, debtor_id: int) -> str:
        """The arm this debtor reads, always the same one."""
        return arm_for(self.id, debtor_id, self.challenger_percent)

    def version_of(self, arm: str) -> int:
        """The version an arm sends."""
        return self.challenger_version if arm == CHALLENGER else self.control_version


def arm_for(experiment_id: int, debtor_id: int, percent: int) -> str:
    """``challenger`` for about ``percent`` in 100 debtors, ``control`` for the rest.

    A hash rather than Python's ``hash()``, which differs from one process to the next: the
    same debtor must get the same arm from every process, before and after a restart.
    """
    digest = hashlib.sha256(f"{experiment_id}:{debtor_id}".encode()).digest()
    return CHALLENGER if int.from_bytes(digest[:8], "big") % 100 < percent else CONTROL


_cache: tuple[float, dict[tuple[str, str], Running]] | None = None


def forget_cached_experiments() -> None:
    """Drop the cached running experiments, e.g. right after one starts or stops."""
    global _cache
    _cache = None


def _running_of(row: TemplateExperiment) -> Running:
    return Running(
        id=row.id,
        key=row.key,
        locale=row.locale,
        control_version=row.control_version,
        challenger_version=row.challenger_version,
        challenger_percent=row.challenger_percent,
    )


async def running(session: AsyncSession, key: str, locale: str) -> Running | None:
    """The experiment running for ``key`` in exactly ``locale``, if any (cached briefly)."""
    global _cache
    if _cache is None or time.monotonic() - _cache[0] >= CACHE_SECONDS:
        rows = await session.scalars(
            select(TemplateExperiment).where(TemplateExperiment.status == ExperimentStatus.RUNNING)
        )
        _cache = (time.monotonic(), {(r.key, r.locale): _running_of(r) for r in rows})
    return _cache[1].get((key, locale))


async def running_row(s: AsyncSession, key: str, locale: str) -> TemplateExperiment | None:
    """The experiment running for ``key`` in ``locale``, read now (for the console)."""
    return await s.scalar(
        select(TemplateExperiment).where(
            TemplateExperiment.key == key,
            TemplateExperiment.locale == locale,
            TemplateExperiment.status == ExperimentStatus.RUNNING,
        )
    )


async def _passes_checks(s: AsyncSession, key: str, locale: str, version: int) -> None:
    """Refuse a version that could not be published today: half the debtors would read it."""
    body = await versions.body_of(s, key, locale, version)
    opt_out = await versions.live(s, "opt_out_line", locale)
    findings = check_body(key, locale, body, opt_out_body=opt_out.body if opt_out else None)
    if findings:
        raise ExperimentError(
            f"Version {version} cannot go out as it is ({findings[0].message.rstrip('.')});"
            " fix it in a new version first."
        )


async def start(
    s: AsyncSession,
    key: str,
    locale: str,
    *,
    challenger: int,
    percent: int,
    note: str,
    stage_keys: Collection[str],
    staff_id: int | None,
    now: datetime,
    control: int | None = None,
) -> TemplateExperiment:
    """Start sending ``challenger`` to ``percent`` in 100 debtors (the version in use, or
    ``control``, to the others)."""
    if key not in stage_keys:
        raise ExperimentError(ONLY_STAGES)
    if not 1 <= percent <= 99:
        raise ExperimentError("The challenger's share is a whole percent from 1 to 99.")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise ExperimentError(f"Keep the note under {MAX_NOTE} characters.")
    live = await versions.live(s, key, locale)
    if live is None:
        raise ExperimentError(f"{key} has no {locale} text yet; write one before testing two.")
    control = live.version if control is None else control
    if challenger == control:
        raise ExperimentError("The challenger must be another version than the control.")
    already = await running_row(s, key, locale)
    if already is not None:
        raise ExperimentError(_already(already))
    for version in (control, challenger):
        try:
            await _passes_checks(s, key, locale, version)
        except versions.VersionError as exc:
            raise ExperimentError(str(exc)) from None
    row = TemplateExperiment(
        key=key, locale=locale, control_version=control, challenger_version=challenger,
        challenger_percent=percent, status=ExperimentStatus.RUNNING, note=note,
        started_by=staff_id, started_at=now,
    )  # fmt: skip
    try:
        async with s.begin_nested():
            s.add(row)
    except IntegrityError:
        # Another admin started one for the same text a moment before.
        raise ExperimentError(_already(await running_row(s, key, locale))) from None
    return row


def _already(row: TemplateExperiment | None) -> str:
    which = f" (#{row.id})" if row is not None else ""
    return (
        f"An experiment{which} is already running for this text. Stop it, keeping one of its"
        " versions, before starting another."
    )


@dataclass(frozen=True)
class Stopped:
    """A stopped experiment, and the version published to keep its choice (None: the kept
    version was already the one in use)."""

    experiment: TemplateExperiment
    published: TemplateVersion | None


async def stop(
    s: AsyncSession, experiment_id: int, keep: str, *, staff_id: int | None, now: datetime
) -> Stopped:
    """Stop an experiment, keeping the ``control`` or the ``challenger`` version for everyone."""
    if keep not in ARMS:
        raise ExperimentError("Choose to keep the control or the challenger.")
    row = await s.scalar(
        select(TemplateExperiment).where(TemplateExperiment.id == experiment_id).with_for_update()
    )
    if row is None:
        raise ExperimentError("There is no such experiment.")
    if row.status != ExperimentStatus.RUNNING:
        raise ExperimentError(
            f"Experiment #{row.id} was already stopped, keeping version {row.kept_version}."
        )
    kept = row.challenger_version if keep == CHALLENGER else row.control_version
    published = None
    live = await versions.live(s, row.key, row.locale)
    if live is None or live.version != kept:
        published = await _publish_again(s, row, kept, staff_id=staff_id, now=now)
    row.status = ExperimentStatus.STOPPED
    row.stopped_by, row.stopped_at, row.kept_version = staff_id, now, kept
    return Stopped(row, published)


async def _publish_again(
    s: AsyncSession, row: TemplateExperiment, kept: int, *, staff_id: int | None, now: datetime
) -> TemplateVersion:
    """Make ``kept`` the text in use: a draft is published as itself; a version live before
    (or the shipped text) is saved again as a new one, as a revert is."""
    saved = await s.scalar(
        select(TemplateVersion).where(
            TemplateVersion.key == row.key,
            TemplateVersion.locale == row.locale,
            TemplateVersion.version == kept,
        )
    )
    if saved is None or saved.published_at is not None:
        body = await versions.body_of(s, row.key, row.locale, kept)
        saved = await versions.save_draft(
            s, row.key, row.locale, body, comment=f"Kept after experiment #{row.id}",
            staff_id=staff_id, now=now, based_on=kept,
        )  # fmt: skip
    versions.mark_published(saved, staff_id=staff_id, now=now)
    return saved
