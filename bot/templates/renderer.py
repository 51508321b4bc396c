"""Rendering message templates in a sandboxed Jinja2 environment, per reader locale.

Templates produce Telegram HTML, so every value is HTML-escaped. Amounts, dates and numbers are
formatted by Babel filters in the reader's locale, which the renderer passes in the context;
nothing here depends on a process-wide language. The sandbox and its limits are in
``bot.templates.sandbox``; every refusal is a RenderError with the template's line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from types import TracebackType
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import StrictUndefined, TemplateError, pass_context
from jinja2.runtime import Context

from bot.money import format_money
from bot.resources import resource_dir
from bot.templates.sandbox import MessageSandbox


class RenderError(Exception):
    """A template could not be found or rendered; the message names the key and the cause."""


@dataclass(frozen=True)
class Rendered:
    """A rendered message and where it came from, for the contact log."""

    key: str
    locale: str
    version: int
    text: str
    # The template experiment and arm the version was chosen by, if one runs: (id, arm).
    experiment: tuple[int, str] | None = None


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


def make_environment() -> MessageSandbox:
    """The one sandbox every template runs in."""
    env = MessageSandbox(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.add_filters(money=_money, date=_date, number=_number)
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


def template_line(exc: BaseException) -> int | None:
    """The template line an error happened on: a syntax error's own, or the deepest frame of
    the compiled template (Jinja maps those frames to template lines)."""
    line = getattr(exc, "lineno", None)
    if line:
        return int(line)
    found = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            found = tb.tb_lineno
        tb = tb.tb_next
    return found


def _describe(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, RecursionError):
        message = "the template nests too deeply"
    line = template_line(exc)
    return f"line {line}: {message}" if line else message


def default_body(key: str, locale: str) -> str | None:
    """The shipped text of a message in one locale, or None."""
    path = resource_dir("templates/messages") / locale / f"{key}.j2"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def render_body(key: str, body: str, locale: str, context: dict[str, Any]) -> str:
    """Render one template body for a reader in ``locale``."""
    try:
        text = _ENV.render(_compile(body), {**context, "locale": locale})
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise RenderError(f"template {key} ({locale}): {_describe(exc)}") from None
    except (AttributeError, RecursionError, MemoryError) as exc:
        raise RenderError(f"template {key} ({locale}): {_describe(exc)}") from None
    return text.strip()
