"""A count with its noun, singular or plural as the count says: '1 stage', '3 stages'."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 stage', '2 stages'; ``plural`` for nouns that take no plain 's' ('1 person', ...)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def verb(n: int, singular: str, plural: str) -> str:
    """The verb agreeing with a count of subjects: ``verb(1, 'needs', 'need')`` -> 'needs'."""
    return singular if n == 1 else plural
