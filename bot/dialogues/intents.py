"""Recognising what a free-text message asks for, in each language (keyword rules, pure)."""

from __future__ import annotations

import re
import unicodedata

# Menu items and the words that ask for them. Stop requests are handled before this.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "promise",
        (
            "promise",
            "i will pay",
            "i'll pay",
            "pay on",
            "pay by",
            "pay next",
            "承诺",
            "保证",
            "会还",
            "我会付",
            "下周还",
            "明天还",
        ),
    ),
    (
        "balance",
        (
            "balance",
            "how much",
            "owe",
            "amount due",
            "pay",
            "payment",
            "欠",
            "多少钱",
            "余额",
            "还款",
            "付款",
            "支付",
        ),
    ),
    ("language", ("language", "english", "chinese", "中文", "语言", "英文")),
)
_SPACES = re.compile(r"\s+")


def detect(text: str) -> str | None:
    """The menu item a message asks for, or None."""
    folded = _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    if not folded:
        return None
    for item, words in _RULES:
        if any(word in folded for word in words):
            return item
    return None
