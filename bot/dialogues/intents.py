"""Recognising what a free-text message asks for, in each language (keyword rules, pure)."""

from __future__ import annotations

import re
import unicodedata

# Menu items and the phrases that ask for them, first match wins. Stop requests never get here.
_RULES: tuple[tuple[str, str], ...] = (
    ("person", "person|human|agent|someone real|call me|人工|客服|真人|工作人员"),
    (
        "dispute",
        "dispute|not mine|don't owe|do not owe|wrong amount|complain|fraud|异议|投诉|不是我的|搞错",
    ),
    ("cant_pay", "can't pay|cannot pay|lost my job|no money|hardship|还不起|没钱|失业|困难"),
    ("plan", "plan|installment|instalment|monthly|split|分期|分几次|每月"),
    (
        "promise",
        "promise|i will pay|i'll pay|pay on|pay by|pay next|承诺|保证|会还|我会付|下周还|明天还",
    ),
    ("language", "language|english|chinese|中文|语言|英文"),
    ("balance", "balance|how much|owe|amount due|pay|欠|多少钱|余额|还款|付款|支付"),
)
_SPACES = re.compile(r"\s+")


def detect(text: str) -> str | None:
    """The menu item a message asks for, or None."""
    folded = _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    folded = folded.replace("’", "'")
    if not folded:
        return None
    for item, phrases in _RULES:
        if any(phrase in folded for phrase in phrases.split("|")):
            return item
    return None
