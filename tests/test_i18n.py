"""UI strings follow each reader's locale, per call, with catalogs compiled from the .po files."""

from __future__ import annotations

import asyncio

from babel.messages.extract import DEFAULT_KEYWORDS, extract
from babel.messages.pofile import read_po

from bot import labels
from bot.i18n import supported_locale, translator
from bot.resources import resource_dir


def test_each_call_uses_its_own_locale():
    assert translator("zh_CN")(labels.MENU["pay"]) == "立即还款"
    assert translator("en_US")(labels.MENU["pay"]) == "Pay now"
    assert translator("zh-hans")(labels.CANCEL) == "取消"
    assert translator("de")(labels.CANCEL) == "Cancel"


async def test_concurrent_readers_never_share_a_language():
    async def read(locale: str) -> list[str]:
        out = []
        for _ in range(50):
            _t = translator(locale)
            await asyncio.sleep(0)
            out.append(_t(labels.SHARE_CONTACT))
        return out

    zh, en = await asyncio.gather(read("zh_CN"), read("en"))
    assert set(zh) == {"分享我的手机号码"}
    assert set(en) == {"Share my phone number"}


def test_telegram_language_codes_map_to_supported_locales():
    assert [
        supported_locale(c) for c in ("zh", "zh-hans", "zh-TW", "en-GB", "fr", None, "??")
    ] == [
        "zh_CN",
        "zh_CN",
        "en",
        "en",
        "en",
        "en",
        "en",
    ]


def _catalog(path):
    with path.open("rb") as handle:
        return read_po(handle)


def test_the_template_lists_exactly_the_strings_the_code_marks():
    root = resource_dir("locales").parent
    extracted = set()
    for path in sorted((root / "bot").rglob("*.py")):
        with path.open("rb") as handle:
            extracted |= {found[1] for found in extract("python", handle, DEFAULT_KEYWORDS)}
    pot = {m.id for m in _catalog(resource_dir("locales") / "messages.pot") if m.id}
    assert pot == extracted, "run the pybabel extract/update commands from the README"


def test_every_string_is_translated_in_every_catalog():
    pot = {m.id for m in _catalog(resource_dir("locales") / "messages.pot") if m.id}
    zh = _catalog(resource_dir("locales") / "zh_CN" / "LC_MESSAGES" / "messages.po")
    en = _catalog(resource_dir("locales") / "en" / "LC_MESSAGES" / "messages.po")
    assert {m.id for m in zh if m.id and m.string and not m.fuzzy} == pot
    assert {m.id for m in en if m.id} == pot
