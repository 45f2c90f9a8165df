"""The time range a report covers: ``--range`` (``7d``, ``3h``, ``90s``, ``1h30m``) ending ``--at``.

Both reports count what happened in ``(start, end]``, the interval PromQL's ``increase(x[range])``
evaluated at ``end`` covers, so figures from Prometheus and from incident records line up.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Final, NamedTuple

from netdown.cli_args import DURATION_UNITS_MS

__all__ = ["DAY_MS", "Window", "format_duration", "parse_time"]

DAY_MS: Final = DURATION_UNITS_MS["d"]


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


def format_duration(ms: int) -> str:
    """``7d``, ``3h``, ``1h30m``, ``1m30s``: ``ms`` in days to milliseconds (also valid in PromQL)."""
    out = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = DURATION_UNITS_MS[unit]
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
