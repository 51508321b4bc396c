"""Recognising what a free-text message asks for: the rules the dialogues declare, in order."""

from __future__ import annotations

from bot.dialogues import registry
from bot.dialogues.parsing import fold
from bot.dialogues.words import PromiseWords, promise_words

__all__ = ["PromiseWords", "detect", "promise_words"]


def detect(text: str, locale: str = "en") -> str | None:
    """The key a message asks for (``registry.Words``, first match wins), or None."""
    folded = fold(text)
    if not folded:
        return None
    for rule in registry.intent_rules():
        # The phrases of every language count: people write in more than one.
        if any(phrase in folded for phrases in rule.phrases.values() for phrase in phrases):
            return rule.key
        if rule.also is not None and rule.also(folded, locale):
            return rule.key
    return None
