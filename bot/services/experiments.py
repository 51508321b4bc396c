"""What an admin does to template experiments from the console: start one, stop one; audited.

The experiment itself is ``bot/templates/experiments.py``; its figures are
``bot/results/experiments.py``. Once a start or a stop has committed, the caller forgets this
process's cached texts (``store.forget_cached_templates``); other processes follow within
``experiments.CACHE_SECONDS``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.compliance.records import audit
from bot.db.models import TemplateExperiment
from bot.policy import Policy
from bot.staff.accounts import actor_of
from bot.templates import experiments
from bot.templates.experiments import ONLY_STAGES, ExperimentError

__all__ = ["ONLY_STAGES", "ExperimentError", "stage_keys", "start", "stop"]


def stage_keys(policy: Policy) -> set[str]:
    """The messages the policy's stages send: the ones an experiment may test."""
    return {stage.template for stage in policy.stages}


async def start(
    s: AsyncSession,
    key: str,
    locale: str,
    *,
    challenger: int,
    percent: int,
    note: str,
    policy: Policy,
    staff_id: int,
    now: datetime,
) -> TemplateExperiment:
    """Start an experiment on a stage message against the version in use, audited."""
    row = await experiments.start(
        s, key, locale, challenger=challenger, percent=percent, note=note,
        stage_keys=stage_keys(policy), staff_id=staff_id, now=now,
    )  # fmt: skip
    audit(
        s, None, "experiment_started", actor=actor_of(staff_id), at=now,
        detail=f"#{row.id} {key} ({locale}): control version {row.control_version},"
        f" challenger version {row.challenger_version} to {percent}% of debtors",
    )  # fmt: skip
    return row


async def stop(
    s: AsyncSession, experiment_id: int, keep: str, *, staff_id: int, now: datetime
) -> experiments.Stopped:
    """Stop an experiment keeping one arm's version for everyone, audited (and the version's
    publication too, when keeping it published one)."""
    stopped = await experiments.stop(s, experiment_id, keep, staff_id=staff_id, now=now)
    row, published = stopped.experiment, stopped.published
    detail = f"#{row.id} {row.key} ({row.locale}): kept the {keep}, version {row.kept_version}"
    if published is not None:
        detail += f", published as version {published.version}"
        audit(
            s, None, "template_published", actor=actor_of(staff_id), at=now,
            detail=f"{row.key} ({row.locale}) version {published.version}"
            f" (kept after experiment #{row.id})",
        )  # fmt: skip
    audit(s, None, "experiment_stopped", actor=actor_of(staff_id), at=now, detail=detail)
    return stopped
