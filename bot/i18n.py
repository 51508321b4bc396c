"""Short UI strings through gettext, in the reader's locale on every call.

There is no process-wide current language: callers ask for a translator for the debtor at hand
(``_ = translator(debtor.locale)``). Catalogs are compiled from ``locales/*/LC_MESSAGES/*.po``
in memory when first used, so a compiled catalog can never be stale.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from io import BytesIO

from babel import Locale, UnknownLocaleError, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from bot.resources import resource_dir

DOMAIN = "messages"
SUPPORTED_LOCALES = ("en", "zh_CN")
FALLBACK_LOCALE = "en"


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now."""
    return message


@lru_cache(maxsize=32)
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of one supported locale (English is the source language)."""
    po_path = resource_dir("locales") / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.is_file():
        return NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


@lru_cache(maxsize=256)
def normalise_locale(value: str) -> str:
    """``en-us`` → ``en_US``, ``zh_cn`` → ``zh_CN``; ValueError if Babel does not know it."""
    try:
        parsed = Locale.parse(value.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"{value or '(empty)'} is not a locale Babel knows") from None
    # Babel adds the likely script (zh_CN → zh_Hans_CN); keep only what the creditor wrote.
    script = parsed.script if parsed.script and parsed.script.lower() in value.lower() else None
    return "_".join(part for part in (parsed.language, script, parsed.territory) if part)


def supported_locale(code: str | None) -> str:
    """The supported locale closest to ``code`` (a debtor's locale or Telegram language_code)."""
    if not code:
        return FALLBACK_LOCALE
    wanted = code.replace("-", "_")
    try:
        parsed = Locale.parse(wanted)
    except (UnknownLocaleError, ValueError):
        return FALLBACK_LOCALE
    # Simplified Chinese in any spelling (zh, zh_Hans, zh_SG) reads zh_CN best.
    if (
        parsed.language == "zh"
        and parsed.script != "Hant"
        and parsed.territory not in ("TW", "HK", "MO")
    ):
        return "zh_CN"
    found = negotiate_locale([str(parsed), parsed.language], SUPPORTED_LOCALES, sep="_")
    return found or FALLBACK_LOCALE


def translator(locale: str | None) -> Callable[..., str]:
    """A ``_(message, **params)`` for one reader; params fill ``{named}`` placeholders."""
    catalog = translations(supported_locale(locale))

    def _(message: str, **params: object) -> str:
        text = catalog.gettext(message)
        return text.format(**params) if params else text

    return _
