"""The time range a report covers: ``--range`` (``7d``, ``3h``, ``90s``, ``1h30m``) ending ``--at``.

Both reports count what happened in ``(start, end]``, the interval PromQL's ``increase(x[range])``
evaluated at ``end`` covers, so figures from Prometheus and from incident records line up.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Final, NamedTuple

__all__ = ["DAY_MS", "Window", "format_duration", "parse_duration", "parse_time"]

DAY_MS: Final = 86_400_000
_UNITS_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
_PART: Final = re.compile(r"(\d+)(ms|s|m|h|d|w)")


class Window(NamedTuple):
    """The half-open time range ``(start_ms, end_ms]`` in Unix epoch milliseconds."""

    start_ms: int
    end_ms: int

    @classmethod
    def ending(cls, end_ms: int, length_ms: int) -> Window:
        """The window of ``length_ms`` ending at ``end_ms``."""
        return cls(end_ms - length_ms, end_ms)

    @property
    def length_ms(self) -> int:
        """How long the window is."""
        return self.end_ms - self.start_ms

    @property
    def days(self) -> float:
        """The window's length in days (the unit of device-days)."""
        return self.length_ms / DAY_MS

    def holds(self, ts_ms: int) -> bool:
        """Whether an instant lies in the window."""
        return self.start_ms < ts_ms <= self.end_ms

    def overlap_ms(self, first_ms: int, last_ms: int) -> int:
        """How much of ``[first_ms, last_ms]`` lies in the window (0 when they do not meet)."""
        return max(0, min(last_ms, self.end_ms) - max(first_ms, self.start_ms))

    def touches(self, first_ms: int, last_ms: int) -> bool:
        """Whether ``[first_ms, last_ms]`` meets the window at all (a device seen once in it does)."""
        return first_ms <= self.end_ms and last_ms > self.start_ms

    def describe(self) -> str:
        """``2024-11-25 12:00 UTC - 2024-12-02 12:00 UTC (7d)`` for report headers."""
        return f"{_utc(self.start_ms)} to {_utc(self.end_ms)} ({format_duration(self.length_ms)})"


def _utc(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def parse_duration(text: str) -> int:
    """``7d``, ``3h``, ``90s``, ``1h30m``, ``500ms`` -> milliseconds; raises ValueError for anything else."""
    parts = _PART.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{text!r} is not a duration like 7d, 3h, 90s or 1h30m")
    total = sum(int(number) * _UNITS_MS[unit] for number, unit in parts)
    if total <= 0:
        raise ValueError(f"{text!r}: a range must be longer than zero")
    return total


def format_duration(ms: int) -> str:
    """``7d``, ``3h``, ``1h30m``, ``1m30s``: ``ms`` in days to milliseconds (also valid in PromQL)."""
    out = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNITS_MS[unit]
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out) or "0s"


def parse_time(text: str) -> int:
    """An end time: Unix seconds (``1732540800``, ``1732540800.5``) or ISO 8601 (naive means UTC) -> ms."""
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"{text!r} is not a time")
        return round(seconds * 1000)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither Unix seconds nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)
