"""A Telegram message (plain text and entities, offsets in UTF-16 units) as safe page HTML."""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup

_TAGS = {
    "bold": ("<b>", "</b>"),
    "italic": ("<i>", "</i>"),
    "underline": ("<u>", "</u>"),
    "strikethrough": ("<s>", "</s>"),
    "spoiler": ('<span class="tg-spoiler">', "</span>"),
    "code": ("<code>", "</code>"),
    "pre": ("<pre>", "</pre>"),
    "blockquote": ("<blockquote>", "</blockquote>"),
    "expandable_blockquote": ('<blockquote class="expandable">', "</blockquote>"),
}


def _open(entity: dict[str, Any]) -> tuple[str, str]:
    if entity["type"] == "text_link":
        url = str(entity.get("url", ""))
        if urlsplit(url).scheme in ("http", "https", "tg", "mailto"):
            href = escape(url, quote=True)
            return f'<a href="{href}" target="_blank" rel="noopener noreferrer">', "</a>"
        return '<span class="tg-link">', "</span>"
    return _TAGS.get(entity["type"], ("<span>", "</span>"))


def message_html(text: str, entities: list[dict[str, Any]]) -> Markup:
    """``text`` escaped, with each entity as the tag a person recognises."""
    index: dict[int, int] = {}
    units = 0
    for i, char in enumerate(text):
        index[units] = i
        units += 2 if ord(char) > 0xFFFF else 1
    index[units] = len(text)
    starts: dict[int, list[tuple[int, str, str]]] = {}
    for entity in entities:
        start, end = entity["offset"], entity["offset"] + entity["length"]
        if start not in index or end not in index:
            continue
        opening, closing = _open(entity)
        starts.setdefault(index[start], []).append((index[end], opening, closing))
    out: list[str] = []
    stack: list[tuple[int, str]] = []
    for i in range(len(text) + 1):
        while stack and stack[-1][0] <= i:
            out.append(stack.pop()[1])
        for end, opening, closing in sorted(starts.get(i, []), key=lambda e: -e[0]):
            out.append(opening)
            stack.append((end, closing))
        if i < len(text):
            out.append(escape(text[i], quote=False))
    return Markup("".join(out))
