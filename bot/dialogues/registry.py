"""Every dialogue's entry points, declared by the dialogue itself and gathered here.

A module of ``bot.dialogues`` that has a ``DIALOGUE`` (a ``Dialogue``) is registered: its menu
buttons, /commands, intent words, callback-data prefix and handlers. The menu, the command list
published to Telegram, the router and the intent matcher are all built from what is gathered,
so a new flow is its module (with its ``.mmd`` diagram), its templates and its labels.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from itertools import groupby
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.dialogues.engine import Turn

# What a menu button, a /command or matching words do: (turn, the words that asked for it).
Open = Callable[["Turn", str], Awaitable[None]]
Step = Callable[["Turn"], Awaitable[None]]
Action = Callable[["Turn", str], Awaitable[None]]


@dataclass(frozen=True)
class MenuButton:
    """A button of the menu under the summary, with callback data ``menu:<key>``."""

    key: str
    label: str  # marked with N_, translated for each debtor
    row: int  # rows are shown in increasing order, buttons of one row side by side
    column: int
    owed_only: bool = False  # shown only when something is owed


@dataclass(frozen=True)
class Command:
    """A /command in Telegram's command menu."""

    name: str
    description: str  # marked with N_, published with setMyCommands
    position: int  # the place in the published list
    # The key it opens; None when it is answered before the menu (/start, /stop, /cancel).
    opens: str | None = None


@dataclass(frozen=True)
class Words:
    """Phrases that ask for ``key`` in free text, per language; any language is matched."""

    key: str
    position: int  # rules are tried in increasing order and the first match wins
    phrases: Mapping[str, tuple[str, ...]]
    # Another test of the folded text (and the debtor's locale) that also asks for ``key``.
    also: Callable[[str, str], bool] | None = None


@dataclass(frozen=True)
class Dialogue:
    """One dialogue module's declarations: its entry points and, for a flow with steps, the
    flow name kept in ``dialogue_state`` and its handlers."""

    name: str
    opens: Mapping[str, Open] = field(default_factory=dict)
    buttons: tuple[MenuButton, ...] = ()
    commands: tuple[Command, ...] = ()
    words: tuple[Words, ...] = ()
    # Callback data of its buttons starts with this; with ``on_button`` only, it is handled in
    # any state (language choices), with ``flow`` only while the chat is in that flow.
    prefix: str = ""
    flow: str | None = None
    prompt: Step | None = None
    on_button: Action | None = None
    on_text: Action | None = None


@cache
def dialogues() -> tuple[Dialogue, ...]:
    """Every registered dialogue, checked once (found on first use, when all are importable)."""
    import bot.dialogues as package

    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        declared = getattr(module, "DIALOGUE", None)
        if isinstance(declared, Dialogue):
            found.append(declared)
    _check(found)
    return tuple(found)


def _check(found: list[Dialogue]) -> None:
    """Two dialogues must never claim one key, command, place, flow or prefix."""
    claims: list[tuple[str, object]] = []
    for d in found:
        claims += [("key", key) for key in d.opens]
        claims += [("button", (b.row, b.column)) for b in d.buttons]
        claims += [("command", c.name) for c in d.commands]
        claims += [("command position", c.position) for c in d.commands]
        claims += [("words position", w.position) for w in d.words]
        claims += [("flow", d.flow)] if d.flow else []
        claims += [("prefix", d.prefix)] if d.prefix else []
    seen: set[tuple[str, object]] = set()
    for claim in claims:
        if claim in seen:
            raise RuntimeError(f"two dialogues declare the same {claim[0]}: {claim[1]!r}")
        seen.add(claim)
    keys = {key for d in found for key in d.opens}
    for d in found:
        for target in [b.key for b in d.buttons] + [w.key for w in d.words]:
            if target not in keys:
                raise RuntimeError(f"{d.name} names {target!r}, which nothing opens")


@cache
def openers() -> Mapping[str, Open]:
    """What each key (``menu:<key>``, a command's target, an intent) opens."""
    return {key: run for d in dialogues() for key, run in d.opens.items()}


@cache
def flows() -> Mapping[str, Dialogue]:
    """The dialogues with steps, by the flow name kept in ``dialogue_state``."""
    return {d.flow: d for d in dialogues() if d.flow}


@cache
def anywhere() -> tuple[Dialogue, ...]:
    """The dialogues whose buttons are handled in any state, by their prefix."""
    return tuple(d for d in dialogues() if d.prefix and not d.flow and d.on_button)


@cache
def commands() -> tuple[Command, ...]:
    """Every /command, in the order Telegram's menu shows them."""
    return tuple(sorted((c for d in dialogues() for c in d.commands), key=lambda c: c.position))


def command(name: str) -> Command | None:
    """The command of this name, if there is one."""
    return next((c for c in commands() if c.name == name), None)


@cache
def menu_rows() -> tuple[tuple[MenuButton, ...], ...]:
    """The menu's buttons, row by row."""
    ordered = sorted((b for d in dialogues() for b in d.buttons), key=lambda b: (b.row, b.column))
    return tuple(tuple(row) for _, row in groupby(ordered, key=lambda b: b.row))


@cache
def intent_rules() -> tuple[Words, ...]:
    """The intent rules in first-match order."""
    return tuple(sorted((w for d in dialogues() for w in d.words), key=lambda w: w.position))
