"""Argument types and environment fallbacks every netdown command shares, so a bad value reads the same in each.

An ``argparse`` type that raises ``ArgumentTypeError`` gets its message printed after the flag's
name (``--devices: must be at least 1, got '0'``); a plain ``ValueError`` would only say
"invalid value". One module keeps the wording, and what counts as valid, the same everywhere:
one grammar of durations (``600``, ``90s``, ``1.5h``, ``1h30m``), one way to name an option's
environment variable (``NETDOWN_<FLAG>``).
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Final

__all__ = [
    "duration",
    "env_default",
    "env_name",
    "fraction",
    "non_negative_number",
    "number",
    "parse_duration",
    "positive_int",
    "positive_number",
]

DURATION_UNITS_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_SECONDS: Final = re.compile(r"\d+(?:\.\d+)?")


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


def non_negative_number(text: str) -> float:
    """A float of at least 0 (rates that may be off)."""
    value = number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A float in [0, 1] (probabilities, shares)."""
    value = number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
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


def parse_duration(text: str) -> int:
    """A positive duration in milliseconds: bare seconds (``600``), or parts with units (``90s``,
    ``1.5h``, ``1h30m``, ``500ms``, ``7d``, ``2w``); raises ``ValueError`` for anything else."""
    text = text.strip()
    if _SECONDS.fullmatch(text):
        total = round(float(text) * 1000)
    else:
        parts = _DURATION_PART.findall(text)
        if not text or "".join(amount + unit for amount, unit in parts) != text:
            raise ValueError(f"{text!r} is not a positive duration (600, 90s, 1.5h, 1h30m, 7d)")
        total = round(sum(float(amount) * DURATION_UNITS_MS[unit] for amount, unit in parts))
    if total <= 0:
        raise ValueError(f"{text!r} is not a positive duration: it must be longer than zero")
    return total


def duration(text: str) -> int:
    """:func:`parse_duration` as an ``argparse`` type (milliseconds)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def env_default(flag: str, fallback: str) -> str:
    """The default of ``--flag``: ``$NETDOWN_FLAG`` if set, else ``fallback``."""
    return os.environ.get(env_name(flag), fallback)


def env_name(flag: str) -> str:
    """``stuck-after`` -> ``NETDOWN_STUCK_AFTER``."""
    return "NETDOWN_" + flag.upper().replace("-", "_")
