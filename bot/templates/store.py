"""Where a message's current text comes from: the version an admin published last, else the
shipped file (version 0); for a debtor in a running template experiment, their arm's version."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import TemplateVersion
from bot.i18n import FALLBACK_LOCALE, supported_locale
from bot.templates import experiments, versions
from bot.templates.renderer import Rendered, RenderError, default_body, render_body

# Every message renders a template or two; looking each up in the database on every update
# costs more than the rest of the reply. Saved versions reach the bot within this many seconds.
CACHE_SECONDS = 5.0
_cache: dict[tuple[str, str], tuple[float, tuple[str, int] | None]] = {}
# A numbered version's text never changes, so an experiment's arms are kept until forgotten.
_versions: dict[tuple[str, str, int], str] = {}


def forget_cached_templates() -> None:
    """Drop cached bodies and experiments, e.g. right after an admin publishes a version."""
    _cache.clear()
    _versions.clear()
    experiments.forget_cached_experiments()


async def current_body(session: AsyncSession, key: str, locale: str) -> tuple[str, int] | None:
    """The body and version in use for ``key`` in exactly ``locale`` (version 0 = shipped)."""
    cached = _cache.get((key, locale))
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    found = await _load_body(session, key, locale)
    _cache[(key, locale)] = (time.monotonic(), found)
    return found


async def _load_body(session: AsyncSession, key: str, locale: str) -> tuple[str, int] | None:
    saved = (
        await session.execute(
            select(TemplateVersion.body, TemplateVersion.version)
            .where(
                TemplateVersion.key == key,
                TemplateVersion.locale == locale,
                TemplateVersion.published_at.is_not(None),
            )
            .order_by(TemplateVersion.published_at.desc(), TemplateVersion.version.desc())
            .limit(1)
        )
    ).first()
    if saved is not None:
        return saved[0], saved[1]
    body = default_body(key, locale)
    return (body, 0) if body is not None else None


async def _version_body(session: AsyncSession, key: str, locale: str, version: int) -> str:
    found = _versions.get((key, locale, version))
    if found is None:
        try:
            found = await versions.body_of(session, key, locale, version)
        except versions.VersionError as exc:
            raise RenderError(f"template {key} ({locale}): {exc}") from None
        _versions[(key, locale, version)] = found
    return found


async def render(
    session: AsyncSession,
    key: str,
    locale: str | None,
    context: dict[str, Any],
    subject: int | None = None,
) -> Rendered:
    """Render ``key`` for a reader, in their language when it exists, else in English; for
    the debtor ``subject``, the version their arm sends if an experiment runs there."""
    wanted = supported_locale(locale)
    for candidate in dict.fromkeys((wanted, FALLBACK_LOCALE)):
        found = await current_body(session, key, candidate)
        if found is None:
            continue
        body, version = found
        trial = None
        if subject is not None:
            trial = await experiments.running(session, key, candidate)
        if trial is None:
            return Rendered(key, candidate, version, render_body(key, body, candidate, context))
        arm = trial.arm_of(subject)
        version = trial.version_of(arm)
        body = await _version_body(session, key, candidate, version)
        text = render_body(key, body, candidate, context)
        return Rendered(key, candidate, version, text, (trial.id, arm))
    raise RenderError(f"template {key} does not exist")
