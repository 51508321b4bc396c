"""The checks a message template passes before it can go live, each finding with its place.

In order: Jinja syntax (and what message templates may not use); unsafe expressions, found in
the parsed text and never run; unknown variables and required ones left out; words of threat,
shame or pressure (``templates/tone/<locale>.txt``; the English list applies to every
language); then, rendered by the real sandbox with the catalog's sample: errors, Telegram HTML
as the Bot API parses it, and the length with the largest sample (with the opt-out line where
the bot adds it) against Telegram's 4,096 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from markupsafe import Markup

from bot.i18n import FALLBACK_LOCALE
from bot.resources import resource_dir
from bot.templates.catalog import LARGEST_ACCOUNTS, MESSAGES
from bot.templates.renderer import RenderError, default_body, make_environment, render_body
from bot.templates.sandbox import LOOP_GUARD, Refused
from bot.templates.telegram_html import HtmlParseError, parse_html, strip_text, utf16_len

TELEGRAM_LIMIT = 4096
# Names that only a template-injection attempt reaches for.
_PROBES = frozenset(
    {
        "request", "config", "settings", "session", "cycler", "joiner", "lipsum", "os", "sys",
        "builtins", "globals", "url_for", "get_flashed_messages", "g", "app", "environment",
    }
)  # fmt: skip
_INTERNALS = frozenset(
    {
        "mro", "format", "format_map", "func_globals", "func_code", "gi_frame", "gi_code",
        "cr_frame", "cr_code", "ag_frame", "ag_code", "f_globals", "f_locals", "f_back",
        "tb_frame", "tb_next", "im_func", "im_self", "im_class", "subclasses",
    }
)  # fmt: skip
_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_ENV = make_environment()


@dataclass(frozen=True)
class Finding:
    """One reason a text cannot go live."""

    check: str  # syntax, unsafe, unknown, required, tone, render, html, length
    message: str
    line: int | None = None
    column: int | None = None  # 1-based
    start: int | None = None  # character offsets into the text, for highlighting
    end: int | None = None


def _place(body: str, start: int, end: int) -> dict[str, int]:
    line_start = body.rfind("\n", 0, start) + 1
    return {
        "line": body.count("\n", 0, start) + 1,
        "column": start - line_start + 1,
        "start": start,
        "end": end,
    }


def _find_on_line(body: str, line: int | None, word: str) -> dict[str, int]:
    """Where ``word`` first appears inside a tag on ``line`` (or anywhere), for highlighting."""
    if not line:
        return {}
    lines = body.split("\n")
    offset = sum(len(text) + 1 for text in lines[: line - 1])
    pattern = re.compile(r"(?<![\w])" + re.escape(word) + r"(?![\w])")
    for tag in _TAG.finditer(lines[line - 1] if line <= len(lines) else ""):
        found = pattern.search(tag.group())
        if found:
            start = offset + tag.start() + found.start()
            return _place(body, start, start + len(word))
    return {"line": line}


def check_body(
    key: str, locale: str, body: str, *, opt_out_body: str | None = None
) -> list[Finding]:
    """Every reason ``body`` cannot be the text of ``key`` in ``locale``; empty when it can."""
    spec = MESSAGES[key]
    if not body.strip():
        return [Finding("syntax", "The text is empty.")]
    try:
        tree = _ENV.parse(body)
        _ENV.compile(tree)
    except Refused as exc:
        return [Finding("unsafe", f"{exc.message}.", **_line(exc))]
    except TemplateSyntaxError as exc:
        said = exc.message or "the text does not parse"
        unknown = re.match(r"No (filter|test) named '(\w+)'", said)
        if unknown:
            said = f"there is no {unknown[1]} “{unknown[2]}” in message templates"
            if unknown[1] == "filter":
                offered = ", ".join(sorted(n for n in _ENV.filters if n != LOOP_GUARD))
                said += f" (filters: {offered})"
        return [Finding("syntax", _sentence(said), **_line(exc))]
    unsafe = _unsafe(tree, body)
    if unsafe:
        return unsafe
    findings = _unknown(tree, body, spec.sample) + _required(tree, spec.required)
    findings += tone_findings(body, locale)
    if any(f.check == "unknown" for f in findings):
        return findings
    return findings + _rendered(
        key, locale, body, spec.sample, spec.largest_sample(), opt_out_body
    )


def _line(exc: TemplateSyntaxError) -> dict[str, int]:
    return {"line": exc.lineno} if exc.lineno else {}


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _unsafe(tree: nodes.Template, body: str) -> list[Finding]:
    found = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name)):
        name = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            arg = node.args[0]
            name = (
                arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None
            )
        elif isinstance(node, nodes.Name) and node.name in _PROBES:
            found.append(
                Finding(
                    "unsafe",
                    f"“{node.name}” is not available in message templates: a template may only"
                    " show this message's variables.",
                    **_find_on_line(body, node.lineno, node.name),
                )
            )
            continue
        if name is not None and (name.startswith("_") or name in _INTERNALS):
            found.append(
                Finding(
                    "unsafe",
                    f"Reaching for “{name}” is refused: templates may not touch Python's"
                    " internals (this is how template injection starts).",
                    **_find_on_line(body, node.lineno, name),
                )
            )
    return found


def _names(tree: nodes.Template) -> dict[str, int]:
    """Every variable name read, with the line it is first read on."""
    first: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load":
            first.setdefault(node.name, node.lineno)
    return first


def _unknown(tree: nodes.Template, body: str, sample: dict[str, Any]) -> list[Finding]:
    known = set(sample) | {"locale"} | set(_ENV.globals)
    lines = _names(tree)
    choices = ", ".join(sorted(set(sample) | {"locale"})) or "none"
    return [
        Finding(
            "unknown",
            f"“{name}” is not a variable of this message (it has: {choices}).",
            **_find_on_line(body, lines.get(name), name),
        )
        for name in sorted(meta.find_undeclared_variables(tree) - known, key=lines.get)
    ]


def _required(
    tree: nodes.Template, required: tuple[tuple[tuple[str, ...], str], ...]
) -> list[Finding]:
    used = set(_names(tree))
    return [
        Finding(
            "required",
            f"The message must show {why}: use {' or '.join('{{ ' + n + ' }}' for n in group)}.",
        )
        for group, why in required
        if not used & set(group)
    ]


# -- tone -----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def tone_phrases(locale: str) -> tuple[str, ...]:
    """The phrases refused in ``locale``: its own list and the English one."""
    phrases: list[str] = []
    for name in dict.fromkeys((locale, FALLBACK_LOCALE)):
        path = resource_dir("templates/tone") / f"{name}.txt"
        if path.is_file():
            for raw in path.read_text(encoding="utf-8").splitlines():
                phrase = raw.split("#", 1)[0].strip()
                if phrase:
                    phrases.append(phrase)
    return tuple(dict.fromkeys(phrases))


def _cjk(text: str) -> bool:
    return any(ord(c) >= 0x2E80 for c in text)


@lru_cache(maxsize=8)
def _tone_patterns(locale: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    patterns = []
    for phrase in tone_phrases(locale):
        words = r"\s+".join(re.escape(w) for w in phrase.split())
        if not _cjk(phrase):
            words = r"(?<![\w])" + words + r"(?![\w])"
        patterns.append((re.compile(words, re.IGNORECASE), phrase))
    return tuple(patterns)


def find_tone(text: str, locale: str) -> list[tuple[int, int, str]]:
    """Each refused phrase in ``text`` outside template tags: (start, end, phrase), in order."""
    plain = _TAG.sub(lambda m: " " * len(m.group()), text)
    hits: list[tuple[int, int, str]] = []
    for pattern, phrase in _tone_patterns(locale):
        for match in pattern.finditer(plain):
            if not any(s < match.end() and match.start() < e for s, e, _ in hits):
                hits.append((match.start(), match.end(), phrase))
    return sorted(hits)


def tone_findings(body: str, locale: str) -> list[Finding]:
    """A finding for each phrase of threat, shame or pressure in ``body``."""
    return [
        Finding(
            "tone",
            f"“{body[start:end]}” reads as a threat, shame or pressure; a polite, lawful"
            " collector never writes it. Say what happens factually, or offer help instead.",
            **_place(body, start, end),
        )
        for start, end, _ in find_tone(body, locale)
    ]


# -- rendered -------------------------------------------------------------------------------


def _with_block(context: dict[str, Any], locale: str) -> dict[str, Any]:
    """The largest sample's accounts laid out as the shipped block does, for the length."""
    if "accounts_block" in context and "accounts" in context:
        block = default_body("accounts_block", locale) or default_body("accounts_block", "en")
        if block:
            context["accounts_block"] = Markup(
                render_body("accounts_block", block, locale, {"accounts": context["accounts"]})
            )
    return context


def _rendered(
    key: str,
    locale: str,
    body: str,
    sample: dict[str, Any],
    largest: dict[str, Any],
    opt_out_body: str | None,
) -> list[Finding]:
    spec = MESSAGES[key]
    if spec.proactive and opt_out_body is None:
        opt_out_body = default_body("opt_out_line", locale) or default_body("opt_out_line", "en")
    creditor = str(sample.get("creditor", ""))
    try:
        text = render_body(key, body, locale, sample)
        if spec.proactive and opt_out_body:
            text += "\n\n" + render_body(
                "opt_out_line", opt_out_body, locale, {"creditor": creditor}
            )
    except RenderError as exc:
        message = str(exc).removeprefix(f"template {key} ({locale}): ")
        line = re.match(r"line (\d+): ", message)
        where = {"line": int(line.group(1))} if line else {}
        return [Finding("render", _sentence(message[line.end() :] if line else message), **where)]
    try:
        parse_html(text)
    except HtmlParseError as exc:
        return [Finding("html", f"Telegram would refuse it: {_sentence(str(exc))}")]
    try:
        big = render_body(key, body, locale, _with_block(dict(largest), locale))
        if spec.proactive and opt_out_body:
            big += "\n\n" + render_body(
                "opt_out_line", opt_out_body, locale, {"creditor": largest.get("creditor", "")}
            )
        plain, _ = strip_text(*parse_html(big))
    except (RenderError, HtmlParseError) as exc:
        return [Finding("render", f"With the largest sample: {_sentence(str(exc))}")]
    length = utf16_len(plain)
    if length > TELEGRAM_LIMIT:
        return [
            Finding(
                "length",
                f"With the largest sample ({LARGEST_ACCOUNTS} accounts, long names) the message"
                f" is {length:,} characters; Telegram takes at most {TELEGRAM_LIMIT:,}.",
            )
        ]
    return []
