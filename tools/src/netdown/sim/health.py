"""What a simulated agent's heartbeats say of its evidence sources (``wire.HeartbeatBody.sources``).

A worker can only tell a device it cannot judge from a healthy quiet one by these reports, so each
heartbeat carries them as the agent keeps them: per source, whether it runs, what it emitted and when
it last succeeded, counted since the agent started (a reboot starts the counts afresh). A blind
device's system-path source is not running: every poll fails to read, it emits nothing, and it has
never succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from netdown import wire

__all__ = ["APP_VIEW_SOURCE", "PROBE_SOURCE", "SourceLedger", "system_path_source"]

APP_VIEW_SOURCE: Final = "unified_log"
PROBE_SOURCE: Final = "probes"
_SYSTEM_PATH_SOURCES: Final[dict[wire.Platform, str]] = {"darwin": "macos_path", "linux": "linux_path"}
_NO_ERRORS: Final = wire.SourceErrors(reading=0, parsing=0, sending=0)


def system_path_source(platform: wire.Platform) -> str:
    """The name of the platform's system-path source in the agent's config."""
    return _SYSTEM_PATH_SOURCES[platform]


@dataclass
class SourceLedger:
    """One boot's sources and their counts, updated as the boot's events are stamped in time order.

    The system-path source polls every ``poll_ms`` from ``first_poll_ms``; a poll that finds nothing
    changed emits nothing but still succeeds, so its last success is the latest poll, not its latest event.
    """

    system_path: str
    probes: bool
    blind: bool
    first_poll_ms: int
    poll_ms: int
    _events: dict[str, int] = field(default_factory=dict)
    _last_ms: dict[str, int] = field(default_factory=dict)

    def record(self, source: str, ts_ms: int) -> None:
        """``source`` emitted an event at ``ts_ms``."""
        self._events[source] = self._events.get(source, 0) + 1
        self._last_ms[source] = ts_ms

    def health(self, ts_ms: int) -> tuple[wire.SourceHealth, ...]:
        """Every configured source as a heartbeat at ``ts_ms`` reports it."""
        polls = (ts_ms - self.first_poll_ms) // self.poll_ms + 1 if ts_ms >= self.first_poll_ms else 0
        last_poll_ms = self.first_poll_ms + (polls - 1) * self.poll_ms if polls else None
        sources = [
            wire.SourceHealth(
                name=self.system_path,
                role="system_path",
                running=not self.blind,
                events=self._events.get(self.system_path, 0),
                errors=wire.SourceErrors(reading=polls, parsing=0, sending=0) if self.blind else _NO_ERRORS,
                last_success_ms=None if self.blind else last_poll_ms,
            ),
            self._healthy(APP_VIEW_SOURCE, "app_view"),
        ]
        if self.probes:
            sources.append(self._healthy(PROBE_SOURCE, "probe"))
        return tuple(sources)

    def _healthy(self, name: str, role: wire.SourceRole) -> wire.SourceHealth:
        return wire.SourceHealth(
            name=name,
            role=role,
            running=True,
            events=self._events.get(name, 0),
            errors=_NO_ERRORS,
            last_success_ms=self._last_ms.get(name),
        )
