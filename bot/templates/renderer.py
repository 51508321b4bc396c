"""Rendering message templates in a sandboxed Jinja2 environment, per reader locale.

Templates produce Telegram HTML, so every value is HTML-escaped unless a template says otherwise.
Amounts, dates and numbers are formatted by Babel filters in the reader's locale, which the
renderer passes in the context; nothing here depends on a process-wide language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import StrictUndefined, TemplateError, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from bot.money import format_money
from bot.resources import resource_dir


class RenderError(Exception):
    """A template could not be found or rendered; the message names the key and the cause."""


@dataclass(frozen=True)
class Rendered:
    """A rendered message and where it came from, for the contact log."""

    key: str
    locale: str
    version: int
    text: str


@pass_context
def _money(ctx: Context, minor: int, currency: str) -> str:
    return format_money(minor, currency, ctx["locale"])


@pass_context
def _date(ctx: Context, value: date | datetime, style: str = "long") -> str:
    if isinstance(value, datetime):
        return format_datetime(value, style, locale=ctx["locale"])
    return format_date(value, style, locale=ctx["locale"])


@pass_context
def _number(ctx: Context, value: int | float) -> str:
    return format_decimal(value, locale=ctx["locale"])


def make_environment() -> SandboxedEnvironment:
    """The one sandbox every template runs in."""
    env = SandboxedEnvironment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(money=_money, date=_date, number=_number)
    return env


_ENV = make_environment()


@lru_cache(maxsize=512)
def _compile(body: str) -> Any:
    return _ENV.from_string(body)


def check_template(body: str) -> None:
    """Raise RenderError if a template body does not compile."""
    try:
        _compile(body)
    except TemplateError as exc:
        raise RenderError(_describe(exc)) from None


def _describe(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    return f"line {line}: {exc.message}" if line else str(exc.message or exc)


def default_body(key: str, locale: str) -> str | None:
    """The shipped text of a message in one locale, or None."""
    path = resource_dir("templates/messages") / locale / f"{key}.j2"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def render_body(key: str, body: str, locale: str, context: dict[str, Any]) -> str:
    """Render one template body for a reader in ``locale``."""
    try:
        text = _compile(body).render({**context, "locale": locale})
    except TemplateError as exc:
        raise RenderError(f"template {key} ({locale}): {_describe(exc)}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise RenderError(f"template {key} ({locale}): {exc}") from None
    return text.strip()
