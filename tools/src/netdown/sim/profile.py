"""How the agent on a simulated Mac reports: its cadences, as the shipped config sets them.

The detector only ever sees what the agent sends, so the simulator must send what the agent would,
not what the detector would like: a probe round every ``interval_s`` of ``[sources.probes]`` with its
jitter, the system path only when a poll finds it changed (and again with every heartbeat), a heartbeat
every ``[heartbeat] interval_s``. :class:`AgentProfile` holds those values in one place; its defaults
are ``deploy/agent.example.toml``'s (a unit test reads that file, so the two cannot drift apart).

The profile is independent of the detector's parameters on purpose: shaping the cadences for W would
model the detector's assumptions (a probe in every window) instead of the field, and hide every
episode the field's cadences make the detector open late or miss. A demo at a compressed time scale
runs a :meth:`AgentProfile.faster` profile, every interval divided alike.
"""

from __future__ import annotations

import random

import msgspec

from netdown import wire

__all__ = ["AgentProfile"]


class AgentProfile(msgspec.Struct, frozen=True, kw_only=True):
    """The agent's reporting cadences, in ms; the defaults are the shipped config's.

    ``probes`` False: no ``[sources.probes]`` table (admins do turn probes off). ``probe_kinds`` are
    the kinds of the configured targets, probed one after the other in each round. Recorded in the
    ground truth's ``run`` record, so a score can say what the devices were running.
    """

    probes: bool = True
    probe_interval_ms: int = 30_000
    probe_jitter: float = 0.2
    probe_kinds: tuple[wire.ProbeKind, ...] = ("tcp", "dns")
    path_poll_ms: int = 2_000
    heartbeat_ms: int = 300_000

    def __post_init__(self) -> None:
        for name in ("probe_interval_ms", "path_poll_ms", "heartbeat_ms"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.probe_jitter < 1:  # as the probe source refuses it: a round must come after the last
            raise ValueError(f"probe_jitter must be in [0, 1), got {self.probe_jitter}")
        if self.probes and not self.probe_kinds:
            raise ValueError("probes on need at least one probe target")

    def probe_delay_ms(self, rng: random.Random) -> int:
        """Until the next probe round, as the probe source waits: the interval scaled by a uniform 1 ± jitter."""
        return max(round(self.probe_interval_ms * (1 + self.probe_jitter * rng.uniform(-1.0, 1.0))), 1)

    def faster(self, speedup: float) -> AgentProfile:
        """The same agent with every interval ``speedup`` times shorter (a demo's compressed time scale)."""
        if not speedup > 0:
            raise ValueError(f"speedup must be positive, got {speedup}")

        def scaled(ms: int) -> int:
            return max(round(ms / speedup), 1)

        return msgspec.structs.replace(
            self,
            probe_interval_ms=scaled(self.probe_interval_ms),
            path_poll_ms=scaled(self.path_poll_ms),
            heartbeat_ms=scaled(self.heartbeat_ms),
        )
