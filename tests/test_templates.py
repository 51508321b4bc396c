"""Every shipped message exists in every language, renders, and escapes what it is given."""

from __future__ import annotations

import pytest

from bot.i18n import SUPPORTED_LOCALES
from bot.resources import resource_dir
from bot.templates.catalog import MESSAGES
from bot.templates.renderer import RenderError, check_template, default_body, render_body


def test_every_locale_has_exactly_the_catalogued_messages():
    for locale in SUPPORTED_LOCALES:
        files = {p.stem for p in (resource_dir("templates/messages") / locale).glob("*.j2")}
        assert files == set(MESSAGES), locale


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_renders_with_its_sample(key, locale):
    text = render_body(key, default_body(key, locale), locale, MESSAGES[key].sample)
    assert text.strip()
    assert "{{" not in text and "{%" not in text


def test_values_are_html_escaped():
    body = "Hello {{ first_name }}"
    assert render_body("x", body, "en", {"first_name": "<b>Eve</b> & co"}) == (
        "Hello &lt;b&gt;Eve&lt;/b&gt; &amp; co"
    )


def test_the_sandbox_refuses_to_reach_outside():
    with pytest.raises(RenderError, match="unsafe"):
        render_body("x", "{{ first_name.__class__.__mro__ }}", "en", {"first_name": "a"})


def test_a_syntax_error_names_the_line():
    with pytest.raises(RenderError, match="line 2: "):
        check_template("Hello\n{% if %}")


def test_money_and_dates_follow_the_reader():
    body = "{{ 123450 | money('USD') }} {{ 123450 | money('CNY') }} {{ due | date }}"
    from datetime import date

    ctx = {"due": date(2026, 12, 1)}
    assert render_body("x", body, "en_US", ctx) == "$1,234.50 CN¥1,234.50 December 1, 2026"
    assert render_body("x", body, "zh_CN", ctx) == "US$1,234.50 ¥1,234.50 2026年12月1日"
