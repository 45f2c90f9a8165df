"""Simulated devices and fleets for the stream job's tests and benchmarks (never imported by the worker).

A :class:`Device` stamps the envelope (``event_id``, ``seq``, ``ts_ms``, boot, OS) on the events it
emits, so a test writes only what it is about: "system path healthy on wifi, then ENETDOWN". A
:func:`fleet` is deterministic for its seed and mixes the situations the detector distinguishes
(episodes that recover, stuck ones, reboots, outages, transients, lost and duplicated events). Each
device's events are in ``seq`` and time order: the expected outcome is then the same whether the
events are applied at once or after a wait, which makes the pure detector's verdict
(:class:`~netdown.stream.offline.OfflineRun`) the ground truth for a real worker fed the same stream.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from netdown import wire

__all__ = ["APP", "KINDS", "STEP_MS", "T0_MS", "Device", "fleet", "messages"]

T0_MS: Final = 1_732_540_800_000
APP: Final = "com.example.vpn.tunnel"
STEP_MS: Final = 5_000  # a device's events are this far apart in event time
_ENETDOWN: Final = wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN")
_WIFI: Final = (wire.Interface(name="en0", type="wifi"),)
_FACTS: Final = wire.Facts(
    network_extensions=(wire.NetworkExtension(id=APP, kind="packet_tunnel"),),
    vpn=wire.VpnFlags(include_all_networks=True, enforce_routes=False, exclude_local_networks=None),
)


@dataclass
class Device:
    """One simulated Mac: every event it emits gets the next ``seq`` and its own ``event_id``."""

    device_id: str
    os_version: str = "14.4.1"
    platform: wire.Platform = "darwin"
    boot_id: str = "boot-1"
    seq: int = 0
    events: list[wire.Event] = field(default_factory=list)

    def _envelope(self, ts_ms: int) -> dict[str, object]:
        self.seq += 1
        return {
            "v": 1,
            "event_id": f"{self.device_id}-{self.boot_id}-{self.seq}",
            "device_id": self.device_id,
            "boot_id": self.boot_id,
            "seq": self.seq,
            "ts_ms": ts_ms,
            "platform": self.platform,
            "os_version": self.os_version,
            "os_build": "",
            "agent_version": "0.1.0",
        }

    def _emit(self, event: wire.Event) -> wire.Event:
        self.events.append(event)
        return event

    def system_path(self, ts_ms: int, *, satisfied: bool = True) -> wire.Event:
        """The agent's own path evaluation: satisfied on wifi, or unsatisfied with no interface."""
        return self._emit(
            wire.PathEvent(
                **self._envelope(ts_ms),  # type: ignore[arg-type]
                observer="system",
                status="satisfied" if satisfied else "unsatisfied",
                reason=None if satisfied else "interface_unavailable",
                interfaces=_WIFI if satisfied else (),
                ipv4=satisfied,
                ipv6=satisfied,
                dns=satisfied,
            )
        )

    def conn(self, ts_ms: int, *, enetdown: bool = False, app: str = APP) -> wire.Event:
        """The monitored app's connection: failed with ENETDOWN (a failure signal) or ready (a recovery)."""
        return self._emit(
            wire.ConnEvent(
                **self._envelope(ts_ms),  # type: ignore[arg-type]
                app=app,
                conn_id=f"C{self.seq}",
                endpoint="Hostname#8c901c3c:443",
                state="failed" if enetdown else "ready",
                error=_ENETDOWN if enetdown else None,
                path_status="unsatisfied" if enetdown else "satisfied",
                path_reason="policy_denied" if enetdown else None,
                interface="en0",
            )
        )

    def probe(self, ts_ms: int, *, ok: bool = True) -> wire.Event:
        """The agent's active check."""
        return self._emit(
            wire.ProbeEvent(
                **self._envelope(ts_ms),  # type: ignore[arg-type]
                target="Hostname#5d41402a:443",
                kind="https",
                ok=ok,
                latency_ms=42.0 if ok else None,
                interface="en0",
            )
        )

    def heartbeat(self, ts_ms: int, *, lost: wire.SpoolLoss | None = None) -> wire.Event:
        """Liveness and device facts; ``lost``, the spool's losses so far, as an agent reports them."""
        return self._emit(
            wire.HeartbeatEvent(
                **self._envelope(ts_ms),  # type: ignore[arg-type]
                uptime_s=max(ts_ms - T0_MS, 0) // 1000,
                facts=_FACTS,
                spool=wire.SpoolState(pending=0, dropped=0, lost=lost),
            )
        )

    def reboot(self) -> None:
        """A new boot: later events carry a new ``boot_id``."""
        self.boot_id = f"boot-{int(self.boot_id.rsplit('-', 1)[-1]) + 1}"

    def lose(self, count: int = 1) -> None:
        """``count`` events that never reach the broker (a gap in ``seq``)."""
        self.seq += count

    def duplicate_last(self) -> None:
        """The agent sends its last event again (same ``event_id``), as after an unacknowledged send."""
        self.events.append(self.events[-1])


KINDS: Final = ("quiet", "episode", "stuck", "reboot", "outage", "transient", "lossy", "duplicating")
_RELEASES: Final[tuple[tuple[str, wire.Platform], ...]] = (
    ("14.4.1", "darwin"),
    ("14.3.1", "darwin"),
    ("15.1", "darwin"),
    ("13.6.4", "darwin"),
    ("6.8.0-45-generic", "linux"),
    ("10.15.7", "darwin"),  # a release outside the label allowlist: counted under `other`
)


def fleet(devices: int, steps: int, *, seed: int = 0) -> list[wire.Event]:
    """Events of ``devices`` devices over ``steps`` steps of :data:`STEP_MS` each, in arrival order.

    Device ``i`` plays ``KINDS[i % len(KINDS)]``; its release and the timing of what happens to it
    come from ``seed``. Devices are interleaved by event time, each in its own ``seq`` order.
    """
    rng = random.Random(seed)
    streams = [
        _timeline(Device(f"mac-{seed:04d}-{index:06d}", *rng.choice(_RELEASES)), KINDS[index % len(KINDS)], steps, rng)
        for index in range(devices)
    ]
    # Stable sort: a duplicate keeps its place right after its original (same ts_ms).
    return sorted((event for stream in streams for event in stream), key=lambda event: event.ts_ms)


def messages(events: list[wire.Event]) -> Iterator[tuple[bytes, bytes]]:
    """Kafka (key, value) pairs of events, as the agent publishes them."""
    for event in events:
        yield event.device_id.encode(), wire.encode(event)


def _timeline(device: Device, kind: str, steps: int, rng: random.Random) -> list[wire.Event]:
    """One device's life: healthy background traffic around the situation its ``kind`` stands for."""
    start = T0_MS + rng.randrange(STEP_MS)
    at = rng.randrange(steps // 4, steps // 2) if steps >= 8 else 1
    length = rng.randrange(4, max(steps // 4, 5))
    actions, trouble = _situation(device, kind, at, length, steps)
    device.heartbeat(start)
    device.system_path(start + 1)
    for step in range(1, steps):
        ts = start + step * STEP_MS
        if step in actions:
            actions[step](ts)
        elif step in trouble:  # nothing that would end the trouble: only the agent's probes
            device.probe(ts, ok=kind != "outage")
        elif step % 60 == 0:
            device.heartbeat(ts)
        elif step % 6 == 0:
            device.probe(ts)
        elif step % 7 == 0:
            device.system_path(ts)
        else:
            device.conn(ts)
    return device.events


def _situation(
    device: Device, kind: str, at: int, length: int, steps: int
) -> tuple[dict[int, Callable[[int], None]], range]:
    """What happens to a device of ``kind``: the events that make its situation by step, and its trouble span."""

    def failure(ts: int) -> None:
        device.conn(ts, enetdown=True)

    def recovery(ts: int) -> None:
        device.conn(ts)

    def down(ts: int) -> None:
        device.system_path(ts, satisfied=False)
        device.conn(ts + 1000, enetdown=True)

    def up(ts: int) -> None:
        device.system_path(ts)

    def flap(ts: int) -> None:  # the failure comes right after the system path changed: transient
        device.system_path(ts, satisfied=False)
        device.system_path(ts + 1000)
        device.conn(ts + 2000, enetdown=True)
        device.conn(ts + 3000)

    def reboot(ts: int) -> None:
        device.reboot()
        device.heartbeat(ts)
        device.system_path(ts + 500)

    def lose(ts: int) -> None:
        device.lose(2)
        device.conn(ts)

    def resend(ts: int) -> None:
        device.conn(ts)
        device.duplicate_last()

    trouble = range(at, at + length)
    plans: dict[str, tuple[dict[int, Callable[[int], None]], range]] = {
        "episode": ({at: failure, at + length: recovery}, trouble),
        "stuck": ({at: failure}, range(at, steps)),
        "reboot": ({at: failure, at + length: reboot}, trouble),
        "outage": ({at: down, at + length: up, at + length + 3: recovery}, trouble),
        "transient": ({at: flap}, range(0)),
        "lossy": ({at: lose, at + length: lose}, range(0)),
        "duplicating": ({at: resend, at + length: resend}, range(0)),
    }
    return plans.get(kind, ({}, range(0)))
