"""Telegram's HTML parse mode: turn HTML into plain text plus message entities, or refuse.

The error wording and byte offsets follow what the Bot API answers after
"Bad Request: can't parse entities: ", so a sender tested here fails the same way in production.
Entity offsets and lengths are counted in UTF-16 code units, as the Bot API does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPACES = " \t\r\n\v\f"
_NAME_TOKEN = re.compile(r"[A-Za-z0-9.\-]*")
_NUMERIC_ENTITY = re.compile(r"&#(?:[xX]([0-9A-Fa-f]{1,8})|([0-9]{1,10}));?")
_NAMED_ENTITY = re.compile(r"&([A-Za-z]{1,8});")
_STRIP = " \t\r\n\v\f\u00a0\u2028\u2029"


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; the message is the Bot API's wording."""


@dataclass
class _Open:
    tag: str
    argument: str
    offset: int  # UTF-16 offset in the produced text
    flags: set[str] = field(default_factory=set)


def utf16_len(text: str) -> int:
    """Return the length of text in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def parse_html(html: str, *, strict_entities: bool = False) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (text, entities) or raise HtmlParseError."""
    parser = _Parser(html, strict_entities)
    parser.run()
    return parser.text(), parser.entities


def strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Trim surrounding whitespace the way Telegram does, shifting and clipping entities."""
    stripped = text.strip(_STRIP)
    if not stripped:
        return "", []
    shift = utf16_len(text[: len(text) - len(text.lstrip(_STRIP))])
    end = shift + utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(entity["offset"], shift)
        stop = min(entity["offset"] + entity["length"], end)
        if stop > start:
            kept.append({**entity, "offset": start - shift, "length": stop - start})
    return stripped, kept


class _Parser:
    """A single pass over the HTML, mirroring how the Bot API reads it."""

    def __init__(self, html: str, strict_entities: bool) -> None:
        self.html = html
        self.strict_entities = strict_entities
        self.out: list[str] = []
        self.utf16 = 0
        self.nested: list[_Open] = []
        self.entities: list[dict[str, Any]] = []

    def text(self) -> str:
        return "".join(self.out)

    def byte_offset(self, index: int) -> int:
        return len(self.html[:index].encode("utf-8"))

    def emit(self, chunk: str) -> None:
        self.out.append(chunk)
        self.utf16 += utf16_len(chunk)

    def char(self, index: int) -> str:
        return self.html[index] if index < len(self.html) else ""

    def run(self) -> None:
        i = 0
        html = self.html
        while i < len(html):
            c = html[i]
            if c == "&":
                decoded, i = self.decode_entity(i)
                self.emit(decoded)
            elif c == "<":
                i = self.end_tag(i) if self.char(i + 1) == "/" else self.start_tag(i)
            else:
                stop = i + 1
                while stop < len(html) and html[stop] not in "&<":
                    stop += 1
                self.emit(html[i:stop])
                i = stop
        if self.nested:
            raise HtmlParseError(
                f'Can\'t find end tag corresponding to start tag "{self.nested[-1].tag}"'
            )
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))

    def decode_entity(self, i: int) -> tuple[str, int]:
        numeric = _NUMERIC_ENTITY.match(self.html, i)
        if numeric:
            code = int(numeric[1], 16) if numeric[1] else int(numeric[2])
            if 0xD800 <= code <= 0xDFFF:
                raise HtmlParseError(
                    "Text contains invalid Unicode characters after decoding HTML entities, "
                    "check for unmatched surrogate code units"
                )
            if 0 < code <= 0x10FFFF:
                return chr(code), numeric.end()
        named = _NAMED_ENTITY.match(self.html, i)
        if named and named[1] in _NAMED_ENTITIES:
            return _NAMED_ENTITIES[named[1]], named.end()
        if self.strict_entities:
            # Telegram itself keeps unknown entities literally; strict mode catches unescaped "&".
            raise HtmlParseError(f"Unsupported HTML entity at byte offset {self.byte_offset(i)}")
        return "&", i + 1

    def start_tag(self, begin: int) -> int:
        html = self.html
        offset = self.byte_offset(begin)
        i = begin + 1
        while i < len(html) and html[i] not in _SPACES and html[i] != ">":
            i += 1
        if i >= len(html):
            raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
        tag = html[begin + 1 : i].lower()
        if tag not in _ENTITY_TYPES:
            raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {offset}')
        attributes, flags, i = self.attributes(tag, i, offset)
        argument = ""
        if tag == "a":
            argument = attributes.get("href", "")
        elif tag == "span":
            if attributes.get("class") != "tg-spoiler":
                raise HtmlParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {offset}'
                )
        elif tag == "code":
            language = attributes.get("class", "")
            argument = language[len("language-") :] if language.startswith("language-") else ""
        elif tag == "tg-emoji":
            argument = attributes.get("emoji-id", "")
            if not argument.isdigit():
                raise HtmlParseError("Invalid custom emoji identifier specified")
        self.nested.append(_Open(tag, argument, self.utf16, flags))
        return i + 1

    def attributes(self, tag: str, i: int, offset: int) -> tuple[dict[str, str], set[str], int]:
        html = self.html
        attributes: dict[str, str] = {}
        flags: set[str] = set()
        while self.char(i) != ">":
            while self.char(i) and self.char(i) in _SPACES:
                i += 1
            if self.char(i) == ">":
                break
            name_begin = i
            while self.char(i) and self.char(i) not in _SPACES and self.char(i) not in "=>":
                i += 1
            name = html[name_begin:i].lower()
            if not name:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {offset}'
                )
            while self.char(i) and self.char(i) in _SPACES:
                i += 1
            if not self.char(i):
                raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
            if self.char(i) != "=":
                if tag == "blockquote" and name == "expandable":
                    flags.add("expandable")
                    continue
                raise HtmlParseError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {offset}'
                )
            i += 1
            while self.char(i) and self.char(i) in _SPACES:
                i += 1
            if not self.char(i):
                raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {offset}')
            value, i = self.attribute_value(i, offset)
            attributes[name] = value
        return attributes, flags, i

    def attribute_value(self, i: int, offset: int) -> tuple[str, int]:
        html = self.html
        quote = html[i]
        if quote in "\"'":
            end = html.find(quote, i + 1)
            if end < 0:
                raise HtmlParseError(f"Unclosed start tag at byte offset {offset}")
            return _decode_attribute(html[i + 1 : end]), end + 1
        token = _NAME_TOKEN.match(html, i)
        end = token.end() if token else i
        following = self.char(end)
        if following and following not in _SPACES and following != ">":
            raise HtmlParseError(
                f"Unexpected end of name token at byte offset {self.byte_offset(i)}"
            )
        return html[i:end], end

    def end_tag(self, begin: int) -> int:
        html = self.html
        offset = self.byte_offset(begin)
        if not self.nested:
            raise HtmlParseError(f"Unexpected end tag at byte offset {offset}")
        i = begin + 2
        while i < len(html) and html[i] not in _SPACES and html[i] != ">":
            i += 1
        name = html[begin + 2 : i].lower()
        while i < len(html) and html[i] in _SPACES:
            i += 1
        if self.char(i) != ">":
            raise HtmlParseError(f"Unclosed end tag at byte offset {offset}")
        current = self.nested.pop()
        if name and name != current.tag:
            raise HtmlParseError(
                f'Unmatched end tag at byte offset {offset}, expected "</{current.tag}>", '
                f'found "</{name}>"'
            )
        self.close(current)
        return i + 1

    def close(self, opened: _Open) -> None:
        length = self.utf16 - opened.offset
        if length <= 0:
            return
        kind = _ENTITY_TYPES[opened.tag]
        entity: dict[str, Any] = {"type": kind, "offset": opened.offset, "length": length}
        if kind == "text_link":
            if not opened.argument:
                return
            entity["url"] = opened.argument
        elif kind == "custom_emoji":
            entity["custom_emoji_id"] = opened.argument
        elif kind == "blockquote" and "expandable" in opened.flags:
            entity["type"] = "expandable_blockquote"
        elif kind == "pre":
            # <pre><code class="language-x">…</code></pre> is one pre entity with a language.
            inner = self.entities[-1] if self.entities else None
            if (
                inner is not None
                and inner["type"] == "code"
                and (inner["offset"], inner["length"]) == (opened.offset, length)
            ):
                self.entities.pop()
                if inner.get("language"):
                    entity["language"] = inner["language"]
        elif kind == "code" and opened.argument and self.nested and self.nested[-1].tag == "pre":
            entity["language"] = opened.argument
        self.entities.append(entity)


def _decode_attribute(raw: str) -> str:
    def replace(match: re.Match[str]) -> str:
        if match[1] is not None:
            return _NAMED_ENTITIES.get(match[1], match[0])
        code = int(match[2], 16) if match[2] else int(match[3])
        return chr(code) if 0 < code <= 0x10FFFF else match[0]

    return re.sub(r"&(?:([A-Za-z]+)|#[xX]([0-9A-Fa-f]+)|#([0-9]+));", replace, raw)
