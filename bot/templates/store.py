"""Where a message's current text comes from: the newest admin-saved version, else the default."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import TemplateVersion
from bot.i18n import FALLBACK_LOCALE, supported_locale
from bot.templates.renderer import Rendered, RenderError, default_body, render_body


async def current_body(session: AsyncSession, key: str, locale: str) -> tuple[str, int] | None:
    """The body and version in use for ``key`` in exactly ``locale`` (version 0 = shipped)."""
    saved = (
        await session.execute(
            select(TemplateVersion.body, TemplateVersion.version)
            .where(TemplateVersion.key == key, TemplateVersion.locale == locale)
            .order_by(TemplateVersion.version.desc())
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
