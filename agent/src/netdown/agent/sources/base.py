"""The contract every evidence source follows: what it observes, and how the agent runs it.

Reading is kept apart from parsing (node_exporter's ``getLoad`` / ``parseLoad``): each source has
pure ``parse_*(text) -> list[Observation]`` functions tested on captured output, and a thin reader
whose command, root path and clock are injectable, so the macOS agent's tests run on Linux.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from netdown import wire

__all__ = ["REGISTRY", "Emit", "Observation", "Source", "SourceFactory", "register"]


@dataclass(frozen=True)
class Observation:
    """What a source saw: an event type's own fields (a typed body of wire contract v1) and when it happened.

    The envelope (event_id, device_id, boot_id, seq, os facts) is the agent core's to add: a
    source knows what it saw, not who is asking. The body is typed, so a field a source names wrongly
    fails the type check at the source; its values are checked when it is stamped.
    """

    ts_ms: int
    body: wire.Body
    # A source that may read the same record twice (a tailed file after a crash) names it, so the
    # event keeps one event_id and the stream job drops the repeat; otherwise the agent draws a UUID.
    event_id: str | None = None

    @property
    def type(self) -> wire.EventType:
        """The wire ``type`` of the event this observation becomes."""
        return wire.body_type(self.body)


Emit = Callable[[Observation], None]


class Source(Protocol):
    """A running source: pushes observations to ``emit`` until ``stop`` is set."""

    name: str

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Observe until ``stop`` is set; never raise for bad input, only for a broken setup."""
        ...


SourceFactory = Callable[..., Source]

REGISTRY: dict[str, SourceFactory] = {}


def register(name: str) -> Callable[[SourceFactory], SourceFactory]:
    """Class decorator: make a source available to the agent's configuration under ``name``."""

    def add(factory: SourceFactory) -> SourceFactory:
        if name in REGISTRY:
            raise ValueError(f"two sources registered as {name!r}")
        REGISTRY[name] = factory
        return factory

    return add
