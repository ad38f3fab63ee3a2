"""Counts in messages people read: ``1 event``, ``2 events`` (never "may not publish 1 events")."""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` followed by ``noun`` in the number that agrees with it (``plural`` default: noun + "s")."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def of_total(part: int, total: int, noun: str, plural: str | None = None) -> str:
    """``1 of 3 events``, ``1 of 1 event``: the noun agrees with the total it counts."""
    return f"{part} of {counted(total, noun, plural)}"
