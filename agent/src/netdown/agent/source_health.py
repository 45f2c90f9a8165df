"""Per-source health: what each evidence source did, so a heartbeat can say when the agent is blind.

A device whose system-path source cannot run its command, or whose log stream keeps dying, sends
no evidence, and silence looks like a quiet network. So every source keeps a :class:`SourceStats`
that the heartbeat reports (``wire.SourceHealth``), as Vector's component specification asks of
every component: events emitted, errors by the stage they happened in, and the last success.

- ``events``: observations the agent accepted from the source (stamped and spooled);
- ``errors.reading``: its command missing, hung or exited, its log stream ended, an exception in its
  run loop (the supervisor counts those); ``errors.parsing``: output it read and could not make
  sense of; ``errors.sending``: observations the agent refused (invalid, or the disk refused them);
- ``last_success_ms``: the device-clock time of its last successful read and parse;
- ``running``: true from the start; false after a reading error (its input is gone: a missing
  command, a dead stream, a crash in back-off) or once the source has returned, and true again at
  its next success. A parsing error leaves it as it was: the source still reads, and what it made
  of the input shows in ``errors.parsing`` and an old ``last_success_ms``.

Counters are cumulative since the agent started, like the spool's losses, so a lost heartbeat loses
nothing. The source's thread and the agent's write them, the heartbeat's thread reads them: one lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import ClassVar, Literal, Protocol, runtime_checkable

from netdown import wire
from netdown.agent.sources.base import Source

__all__ = ["Monitored", "SourceStats", "Stage"]

Stage = Literal["reading", "parsing", "sending"]


class SourceStats:
    """The running counts of one source, written from any thread, read as one ``wire.SourceHealth``."""

    def __init__(self, name: str, role: wire.SourceRole, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.role: wire.SourceRole = role
        self._clock = clock
        self._lock = threading.Lock()
        self._running = True
        self._events = 0
        self._errors: dict[Stage, int] = {"reading": 0, "parsing": 0, "sending": 0}
        self._last_success_ms: int | None = None

    def emitted(self) -> None:
        """The agent accepted one of its observations."""
        with self._lock:
            self._events += 1

    def failed(self, stage: Stage, count: int = 1) -> None:
        """``count`` errors in ``stage``; a reading error means it is not running until its next success."""
        with self._lock:
            self._errors[stage] += count
            if stage == "reading":
                self._running = False

    def succeeded(self) -> None:
        """It read and parsed its input: running, and its last success is now."""
        with self._lock:
            self._running = True
            self._last_success_ms = int(self._clock() * 1000)

    def stopped(self) -> None:
        """Its run returned: it observes nothing more."""
        with self._lock:
            self._running = False

    def snapshot(self) -> wire.SourceHealth:
        """Its health as the heartbeat reports it."""
        with self._lock:
            return wire.SourceHealth(
                name=self.name,
                role=self.role,
                running=self._running,
                events=self._events,
                errors=wire.SourceErrors(**self._errors),
                last_success_ms=self._last_success_ms,
            )


@runtime_checkable
class Monitored(Source, Protocol):
    """A source that reports its health: the evidence sources (the heartbeat is the report itself)."""

    role: ClassVar[wire.SourceRole]
    health: SourceStats
