"""Keep a log readable when something keeps failing: the first line of each kind, then periodic summaries.

While the broker is down, aiokafka and Faust log the same few warnings and errors for every reconnect
attempt and every metadata refresh: about 63 ERROR lines a second were measured from one worker, which
buries the one line that says what happened and fills the disk of a long outage. :class:`RepeatLimiter`
lets the first record of each kind through (so every change of state is logged, at once), holds back
repeats of it for ``interval_s``, and then lets one through again carrying the count of those held
back. A kind is the logger, the level and the message *template* (``record.msg`` before its
arguments), so "cannot connect to node 1" and "cannot connect to node 2" are one kind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_KINDS", "RepeatLimiter", "install_repeat_limiter"]

MAX_KINDS: Final = 1024
"""Kinds remembered at once. Templates are code, not data, so a process has a few hundred at most; past the
bound the kind seen least recently is forgotten (its next record is shown, as if new)."""


@dataclass
class _Kind:
    shown_at: float  # when a record of this kind was last let through
    held: int = 0  # records held back since


class RepeatLimiter(logging.Filter):
    """Lets through, per kind of record at ``level`` or above, the first one and then one per ``interval_s``."""

    def __init__(
        self, interval_s: float = 60.0, *, level: int = logging.WARNING, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.level = level
        self.clock = clock
        self._kinds: dict[tuple[str, int, str], _Kind] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to write ``record``; a repeat shown after a hold says how many were held back."""
        if record.levelno < self.level:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        kind = self._kinds.pop(key, None)  # re-inserted below: the dict's order is then least recently seen first
        if kind is not None and now - kind.shown_at < self.interval_s:
            kind.held += 1
            self._kinds[key] = kind
            return False
        if kind is not None and kind.held:
            record.msg = f"{record.getMessage()} [and {kind.held} more like it in the last {now - kind.shown_at:.0f} s]"
            record.args = ()
        self._kinds[key] = _Kind(shown_at=now)
        if len(self._kinds) > MAX_KINDS:
            del self._kinds[next(iter(self._kinds))]
        return True


def install_repeat_limiter(logger: logging.Logger, interval_s: float = 60.0) -> RepeatLimiter:
    """Add one limiter to every handler of ``logger`` (the root logger: handlers see every logger's records)."""
    limiter = RepeatLimiter(interval_s)
    for handler in logger.handlers:
        handler.addFilter(limiter)
    return limiter
