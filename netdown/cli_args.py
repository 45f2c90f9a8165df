"""Argument types every netdown command shares, so a bad number reads the same in each.

An ``argparse`` type that raises ``ArgumentTypeError`` gets its message printed after the flag's
name (``--devices: must be at least 1, got '0'``); a plain ``ValueError`` would only say
"invalid value". One module keeps the wording, and what counts as valid, the same everywhere.
"""

from __future__ import annotations

import argparse

__all__ = ["number", "positive_int", "positive_number"]


def number(text: str) -> float:
    """Any float ``argparse`` type: the text must parse."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def positive_number(text: str) -> float:
    """A float above 0 (seconds, rates)."""
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number of at least 1 (counts, ports, partitions)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value
