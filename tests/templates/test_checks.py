"""The checks before a template goes live find each problem, say where, and pass what ships."""

from __future__ import annotations

import pytest

from bot.i18n import SUPPORTED_LOCALES
from bot.templates.catalog import MESSAGES
from bot.templates.checks import check_body, find_tone, tone_phrases
from bot.templates.renderer import default_body

MID_ZH = default_body("stage_mid", "zh_CN")
MID_EN = default_body("stage_mid", "en")


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_shipped_text_passes_every_check(key, locale):
    assert check_body(key, locale, default_body(key, locale)) == []


def test_a_syntax_error_says_its_line():
    [found] = check_body("stage_mid", "en", "Hello {{ first_name }},\n\n{{ creditor")
    assert (found.check, found.line) == ("syntax", 3)
    [found] = check_body("stage_mid", "en", "{{ first_name|shout }}")
    assert found.check == "syntax" and "no filter “shout”" in found.message
    assert "money" in found.message  # the filters there are


def test_unknown_and_missing_variables_are_named_with_their_place():
    body = MID_EN.replace("{{ days_past_due }}", "{{ days_late }}")
    [unknown] = check_body("stage_mid", "en", body)
    assert unknown.check == "unknown" and "“days_late”" in unknown.message
    assert "days_past_due" in unknown.message  # what it could have been
    line = body.split("\n")[unknown.line - 1]
    assert line[unknown.column - 1 :].startswith("days_late")
    assert body[unknown.start : unknown.end] == "days_late"

    no_amount = MID_EN.replace("{{ accounts_block }}", "")
    [missing] = check_body("stage_mid", "en", no_amount)
    assert missing.check == "required" and "what is owed" in missing.message
    no_creditor = MID_ZH.replace("{{ creditor }}", "我们")
    assert [f.check for f in check_body("stage_mid", "zh_CN", no_creditor)] == ["required"]


def test_threats_and_shaming_are_found_in_both_languages_with_the_phrase_marked():
    body = MID_ZH.replace("我们希望能帮您一起解决。", "再不还款我们将起诉您，并通知家人。")
    found = check_body("stage_mid", "zh_CN", body)
    assert [f.check for f in found] == ["tone", "tone"]
    assert [body[f.start : f.end] for f in found] == ["起诉", "通知家人"]
    assert found[0].line == 1 and body.split("\n")[0][found[0].column - 1 :].startswith("起诉")

    body = MID_EN.replace(
        "{{ accounts_block }}", "{{ accounts_block }}\nPay now or the POLICE\nwill be told."
    )
    english = [f for f in check_body("stage_mid", "en", body) if f.check == "tone"]
    assert [body[f.start : f.end] for f in english] == ["POLICE"]
    # English phrases apply in Chinese texts too; words inside tags and in other words do not.
    assert find_tone("您好 arrest", "zh_CN")[0][2] == "arrest"
    assert find_tone("{{ police }} impolice shamefully", "en") == []
    assert "起诉" in tone_phrases("zh_CN") and "arrest" in tone_phrases("zh_CN")
    assert find_tone("we will tell   your employer", "en") == [(8, 28, "tell your employer")]


def test_telegram_html_is_checked_as_the_bot_api_parses_it():
    [found] = check_body("verified", "en", "<div>Hello {{ first_name }}</div>")
    assert found.check == "html" and 'Unsupported start tag "div"' in found.message
    [found] = check_body("verified", "en", "<b>Hello {{ first_name }}")
    assert found.check == "html" and "Can't find end tag" in found.message


def test_a_text_too_long_with_the_largest_sample_is_refused_with_the_figure():
    body = MID_EN + "\n" + "Thank you for reading this far. " * 60
    [found] = check_body("stage_mid", "en", body)
    assert found.check == "length" and "Telegram takes at most 4,096" in found.message
    figure = int(found.message.split(" is ")[1].split(" characters")[0].replace(",", ""))
    assert 4096 < figure < 8000
