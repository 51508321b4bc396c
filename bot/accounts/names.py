"""How to address a debtor by name in a message."""

from __future__ import annotations


def greeting_name(full_name: str) -> str:
    """The name to greet with: the given name, or the whole name where order differs.

    "Alice Martin" → "Alice"; "O'Brien, Sean" → "Sean"; "王小明" → "王小明" (Chinese names
    are used whole rather than guessing which part is the given name).
    """
    name = full_name.strip()
    if "," in name:
        name = name.split(",", 1)[1].strip() or name.split(",", 1)[0].strip()
    if any("\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in name):
        return name
    return name.split()[0] if name.split() else name
