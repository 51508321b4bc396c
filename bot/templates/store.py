"""Where a message's current text comes from: the version an admin published last, else the
shipped file (version 0)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import TemplateVersion
from bot.i18n import FALLBACK_LOCALE, supported_locale
from bot.templates.renderer import Rendered, RenderError, default_body, render_body

# Every message renders a template or two; looking each up in the database on every update
# costs more than the rest of the reply. Saved versions reach the bot within this many seconds.
CACHE_SECONDS = 5.0
_cache: dict[tuple[str, str], tuple[float, tuple[str, int] | None]] = {}


def forget_cached_templates() -> None:
    """Drop cached bodies, e.g. right after an admin publishes a version."""
    _cache.clear()


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


async def render(
    session: AsyncSession, key: str, locale: str | None, context: dict[str, Any]
) -> Rendered:
    """Render ``key`` for a reader, in their language when it exists, else in English."""
    wanted = supported_locale(locale)
    for candidate in dict.fromkeys((wanted, FALLBACK_LOCALE)):
        found = await current_body(session, key, candidate)
        if found is not None:
            body, version = found
            return Rendered(key, candidate, version, render_body(key, body, candidate, context))
    raise RenderError(f"template {key} does not exist")
