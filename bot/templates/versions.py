"""The versions of a message template in one language: drafts, the one in use, history, diffs.

Version 0 is the text shipped in ``templates/messages``; every save is a new numbered draft, and
the draft published last is what debtors read. Nothing is ever changed or deleted: going back to
an old text saves it again as a new version, so the history always tells what was live when.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import TemplateVersion
from bot.templates.renderer import default_body

MAX_COMMENT = 500


class VersionError(ValueError):
    """A version that does not exist or cannot be saved; the message says why."""


@dataclass(frozen=True)
class Live:
    """The text in use for one key and language: a published version, or the shipped file."""

    version: int
    body: str
    row: TemplateVersion | None  # None: the shipped file

    @property
    def shipped(self) -> bool:
        """True while nobody has published a version of this text."""
        return self.row is None


@dataclass(frozen=True)
class DiffLine:
    """One row of a line diff: ``same``, ``removed``, ``added``; numbers are 1-based."""

    kind: str
    old_number: int | None
    new_number: int | None
    text: str


async def history(s: AsyncSession, key: str, locale: str) -> list[TemplateVersion]:
    """Every saved version, newest first."""
    rows = await s.scalars(
        select(TemplateVersion)
        .where(TemplateVersion.key == key, TemplateVersion.locale == locale)
        .order_by(TemplateVersion.version.desc())
    )
    return list(rows)


def live_of(rows: list[TemplateVersion], key: str, locale: str) -> Live | None:
    """The version in use among ``rows`` (one key and language), else the shipped file."""
    published = [r for r in rows if r.published_at is not None]
    if published:
        row = max(published, key=lambda r: (r.published_at, r.version))
        return Live(row.version, row.body, row)
    body = default_body(key, locale)
    return Live(0, body, None) if body is not None else None


async def live(s: AsyncSession, key: str, locale: str) -> Live | None:
    """The text in use for ``key`` in exactly ``locale``; None when it has no text there."""
    return live_of(await history(s, key, locale), key, locale)


async def every_saved(s: AsyncSession) -> dict[tuple[str, str], list[TemplateVersion]]:
    """All saved versions by key and language, for the list of templates."""
    found: dict[tuple[str, str], list[TemplateVersion]] = {}
    for row in await s.scalars(select(TemplateVersion).order_by(TemplateVersion.version.desc())):
        found.setdefault((row.key, row.locale), []).append(row)
    return found


async def body_of(s: AsyncSession, key: str, locale: str, version: int) -> str:
    """The text of one version (0: the shipped file)."""
    if version == 0:
        body = default_body(key, locale)
    else:
        body = await s.scalar(
            select(TemplateVersion.body).where(
                TemplateVersion.key == key,
                TemplateVersion.locale == locale,
                TemplateVersion.version == version,
            )
        )
    if body is None:
        raise VersionError(f"{key} ({locale}) has no version {version}.")
    return body


async def save_draft(
    s: AsyncSession,
    key: str,
    locale: str,
    body: str,
    *,
    comment: str,
    staff_id: int | None,
    now: datetime,
    based_on: int | None,
) -> TemplateVersion:
    """Save ``body`` as the next version, a draft until it is published."""
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise VersionError(f"Keep the comment under {MAX_COMMENT} characters.")
    if not body.strip():
        raise VersionError("The text is empty; write the message before saving it.")
    newest = await s.scalar(
        select(func.max(TemplateVersion.version)).where(
            TemplateVersion.key == key, TemplateVersion.locale == locale
        )
    )
    row = TemplateVersion(
        key=key, locale=locale, version=(newest or 0) + 1, body=body, comment=comment,
        based_on=based_on, created_by=staff_id, created_at=now,
    )  # fmt: skip
    try:
        async with s.begin_nested():
            s.add(row)
    except IntegrityError:
        raise VersionError(
            "Someone saved this text at the same moment; open it again to see their version."
        ) from None
    return row


def mark_published(row: TemplateVersion, *, staff_id: int | None, now: datetime) -> None:
    """Make ``row`` the version in use from ``now`` on."""
    row.published_at = now
    row.published_by = staff_id


def compare(old: str, new: str) -> list[DiffLine]:
    """A line diff of two texts, every line of both shown once."""
    a, b = old.splitlines(), new.splitlines()
    lines: list[DiffLine] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            lines += [DiffLine("same", i + 1, j1 + i - i1 + 1, a[i]) for i in range(i1, i2)]
            continue
        lines += [DiffLine("removed", i + 1, None, a[i]) for i in range(i1, i2)]
        lines += [DiffLine("added", None, j + 1, b[j]) for j in range(j1, j2)]
    return lines
