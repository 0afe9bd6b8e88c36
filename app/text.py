"""Wording shared by the command line and the window: counted nouns in the right number ("2 photos")."""

from __future__ import annotations

_IRREGULAR = {"person": "people", "epoch": "epochs"}


def plural(noun: str) -> str:
    """The plural of an English ``noun`` (its last word changes): "photo" → "photos", "entry" → "entries".

    Covers the regular rules and :data:`_IRREGULAR`; pass ``many`` to :func:`count` for anything else.
    """
    head, _, last = noun.rpartition(" ")
    prefix = f"{head} " if head else ""
    if last in _IRREGULAR:
        return prefix + _IRREGULAR[last]
    if last.endswith("y") and len(last) > 1 and last[-2] not in "aeiou":
        return prefix + last[:-1] + "ies"
    if last.endswith(("s", "x", "ch", "sh")):
        return prefix + last + "es"
    return prefix + last + "s"


def count(n: int, noun: str, many: str | None = None) -> str:
    """``n`` with ``noun`` in the right number: ``count(1, "photo")`` → "1 photo", ``count(3, "photo")`` → "3 photos".

    Args:
        n: how many. noun: the singular. many: the plural when :func:`plural` does not know it.
    """
    return f"{n} {noun if n == 1 else (many or plural(noun))}"
