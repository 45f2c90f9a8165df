"""One simulated Mac's life in event time: its boots, its agent's reports, and what happens to it.

Two clocks shape a timeline. What happens to the Mac and its app (:class:`Cadence`) is derived from
the detector parameters the run is shaped for, so a timeline is scorable at any time scale, the
production defaults or a demo's seconds: recovering episodes last well beyond G and recover within
T, stuck ones last beyond T until a reboot, and outages and wake transients are non-episodes by the
rules of ``docs/detection.md`` (an outage's failures stop before the system path is back and the app
reconnects within G of it; a Mac waking from sleep has its path down a moment, and the one failure
that follows recovers within G of the path coming back). What the agent reports of it follows the
agent's own cadences (:class:`~netdown.sim.profile.AgentProfile`), not the detector's: probe rounds
at their jittered interval, the system path when a poll finds it changed and again with every
heartbeat, a heartbeat at its interval. So the truth is what happened, and whether the detector could
see it is the agent's cadence's doing, as in the field.

Episodes arrive as a Poisson process of the device's hazard while it is at risk: not in an episode,
and not within the settle margin after one (or after the boot). The time at risk is recorded, so
hazard x exposure is the exact expectation of the count. Outages and transients arrive the same way
and are kept only where they collide with nothing, so the truth stays unambiguous.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, TypeAlias

import msgspec

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.sim.health import APP_VIEW_SOURCE, PROBE_SOURCE, SourceLedger, system_path_source
from netdown.sim.profile import AgentProfile
from netdown.stamping import DeviceIdentity, stamp

__all__ = ["DAY_MS", "Cadence", "Device", "Span", "new_uuid"]

DAY_MS: Final = 86_400_000
_UUID_CLEAR: Final = ~((0xF << 76) | (0x3 << 62))  # the version and variant bits
_UUID_SET: Final = (4 << 76) | (0x2 << 62)  # version 4, RFC 4122 variant
_ENETDOWN: Final = {
    "darwin": wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN"),
    "linux": wire.ErrorInfo(domain="posix", code=100, name="ENETDOWN"),
}
_WIFI: Final = (wire.Interface(name="en0", type="wifi"), wire.Interface(name="utun3", type="tunnel"))
_WIRED: Final = (wire.Interface(name="en7", type="wired"), *_WIFI)
_HEALTHY: Final[dict[str, Any]] = {"interfaces": _WIFI}
_DOWN_NO_ROUTE: Final[dict[str, Any]] = {"status": "unsatisfied", "reason": "no_route", "interfaces": ()}
_DOWN_ASLEEP: Final[dict[str, Any]] = {"status": "unsatisfied", "reason": "interface_unavailable", "interfaces": ()}
_READY: Final[dict[str, Any]] = {"state": "ready", "error": None, "path_status": "satisfied", "path_reason": None}
_PREPARING: Final[dict[str, Any]] = {"state": "preparing", "error": None, "path_status": None, "path_reason": None}
# The shipped config's targets (``tcp:gateway.example.com:443``, ``dns:example.com``) as the agent sends them.
_PROBE_TARGETS: Final[dict[wire.ProbeKind, str]] = {
    "tcp": "Hostname#5d41402a:443",
    "dns": "Hostname#9e107d9d",
    "https": "Hostname#e4d909c2:443",
}
SpanKind: TypeAlias = Literal["episode", "outage", "transient"]


def new_uuid(rng: random.Random) -> str:
    """A random (version 4) UUID drawn from the simulation's generator, so a seed fixes every id.

    Formatted by hand: ``str(uuid.UUID(int=..., version=4))`` gives the same text at a third of the speed.
    """
    bits = rng.getrandbits(128) & _UUID_CLEAR | _UUID_SET
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True)
class Cadence:
    """How often things happen to the Mac and its app and how long they last, in ms, scaled to the detector
    parameters (the agent's own cadences are its :class:`~netdown.sim.profile.AgentProfile`'s)."""

    settle: int  # G
    conn: tuple[int, int]  # between two healthy connections of the app
    retry: tuple[int, int]  # between two failing attempts while the app is cut off
    dock: tuple[int, int]  # between two healthy re-evaluations of the system path (dock, Wi-Fi roam)
    recovering: tuple[int, int]  # a recovering episode's length: beyond G, within T
    reboot_after: tuple[int, int]  # a stuck episode's length until the user reboots: beyond T
    off: tuple[int, int]  # the Mac is off while it reboots
    outage: tuple[int, int]
    sleep: tuple[int, int]  # a wake transient: how long the Mac slept before it
    transient_down: tuple[int, int]  # a wake transient: how long the path is down after waking
    margin: int  # quiet time around every episode or disturbance, so none is judged by another's evidence
    offline: tuple[int, int]  # a device cut off from the broker, its spool holding its events

    @classmethod
    def for_params(cls, params: DetectorParams) -> Cadence:
        """The cadences of a run shaped for ``params``."""
        w, g, t, late = params.window_ms, params.settle_ms, params.stuck_ms, params.lateness_ms
        recovering_min = max(4 * g, w)
        return cls(
            settle=g,
            conn=(max(w * 7 // 10, 1), 2 * w + 1),
            retry=(max(w * 15 // 100, 1), max(w * 6 // 10, 2)),
            dock=(10 * w, 30 * w),
            recovering=(recovering_min, max(recovering_min, t * 8 // 10) + 1),
            reboot_after=(t * 11 // 10, 2 * t),
            off=(max(w // 2, 1), w + 1),
            outage=(w, 4 * w),
            sleep=(w, 10 * w),
            transient_down=(max(g // 5, 1), max(g * 8 // 10, 2)),
            margin=w + g,
            offline=(late, 4 * late),
        )


@dataclass(frozen=True)
class Span:
    """A stretch of the timeline something occupies; ``end_ms`` None: still going at the end of the run.

    An episode runs from its first failure to its recovery or reboot (``stuck``: until a reboot); an
    outage from the path going down to it coming back; a wake transient from the Mac going to sleep,
    through its waking at ``wake_ms`` with the path down, to G after the path came back.
    """

    kind: SpanKind
    start_ms: int
    end_ms: int | None
    stuck: bool = False
    wake_ms: int | None = None


class _Emitted(msgspec.Struct, array_like=True, gc=False):
    """An event before stamping: its time, its order of emission (ties), its body's template and its own fields."""

    ts_ms: int
    order: int
    template: wire.Body
    fields: dict[str, Any]


@dataclass
class Device:
    """One simulated Mac, from its boot at ``start_ms`` to the end of the run."""

    rng: random.Random
    device_id: str
    platform: wire.Platform
    os_version: str
    os_build: str
    facts: wire.Facts
    app: str
    start_ms: int
    end_ms: int
    cadence: Cadence
    agent: AgentProfile
    blind: bool = False  # its system-path source is not running: it reports no system path at all
    boots: list[tuple[int, str]] = field(default_factory=list)  # (start_ms, boot_id), in time order
    spans: list[Span] = field(default_factory=list)  # episodes and disturbances, in time order
    offline: tuple[int, int] | None = None  # cut off from the broker: its spool holds what it records
    exposure_ms: int = 0  # time at risk of an episode
    _emitted: list[_Emitted] = field(default_factory=list)
    _first_polls: list[int] = field(default_factory=list)  # per boot: the system-path source's first poll
    _templates: _Templates = field(init=False, repr=False)

    # --- planning ---

    def plan(
        self, hazard_per_day: float, outages_per_day: float, transients_per_day: float, stuck_share: float
    ) -> None:
        """Place the device's episodes, then the outages and transients that fit around them."""
        self.boots.append((self.start_ms, new_uuid(self.rng).upper()))
        self._plan_episodes(hazard_per_day / DAY_MS, stuck_share)
        self._plan_disturbances("outage", outages_per_day / DAY_MS)
        self._plan_disturbances("transient", transients_per_day / DAY_MS)
        self.spans.sort(key=lambda span: span.start_ms)

    def plan_offline(self) -> None:
        """One stretch of the run in which the broker is out of reach (the spool replays it late)."""
        length = self.rng.randrange(*self.cadence.offline)
        start = self.rng.randrange(self.start_ms, max(self.end_ms - length, self.start_ms + 1))
        self.offline = (start, min(start + length, self.end_ms))

    def _plan_episodes(self, rate_per_ms: float, stuck_share: float) -> None:
        rng, cadence = self.rng, self.cadence
        at_risk_from = self.start_ms + cadence.margin
        while rate_per_ms > 0 and at_risk_from < self.end_ms:
            opened = at_risk_from + math.ceil(rng.expovariate(rate_per_ms))
            if opened >= self.end_ms:
                break
            self.exposure_ms += opened - at_risk_from
            if rng.random() < stuck_share:
                closed = opened + rng.randrange(*cadence.reboot_after)
                if closed < self.end_ms:
                    self.boots.append((closed, new_uuid(rng).upper()))
                self.spans.append(Span("episode", opened, closed if closed < self.end_ms else None, stuck=True))
            else:
                closed = opened + rng.randrange(*cadence.recovering)
                self.spans.append(Span("episode", opened, closed if closed < self.end_ms else None))
            at_risk_from = closed + cadence.margin
        self.exposure_ms += max(self.end_ms - at_risk_from, 0)

    def _plan_disturbances(self, kind: SpanKind, rate_per_ms: float) -> None:
        rng, cadence = self.rng, self.cadence
        at = self.start_ms + cadence.margin
        while rate_per_ms > 0:
            at += math.ceil(rng.expovariate(rate_per_ms))
            wake = at + rng.randrange(*cadence.sleep) if kind == "transient" else None
            if wake is None:
                end = at + rng.randrange(*cadence.outage)
            else:
                end = wake + rng.randrange(*cadence.transient_down) + cadence.settle
            if end + cadence.margin >= self.end_ms:
                return
            if not self._collides(at - cadence.margin, end + cadence.margin):
                self.spans.append(Span(kind, at, end, wake_ms=wake))

    def _collides(self, lo: int, hi: int) -> bool:
        return any(span.start_ms < hi and (span.end_ms or self.end_ms) > lo for span in self.spans)

    # --- emitting ---

    def events(self) -> list[wire.Event]:
        """The device's whole timeline as stamped wire events, in ``seq`` (= event-time) order."""
        poll = self.agent.path_poll_ms
        self._first_polls = [boot_ms + self.rng.randrange(1, poll + 1) for boot_ms, _ in self.boots]
        self._heartbeats()
        if not self.blind:
            self._system_paths()
        if self.agent.probes:
            self._probes()
        self._connections()
        for span in self.spans:
            if span.kind == "episode":
                self._episode(span)
            elif span.kind == "outage":
                self._outage(span)
            else:
                self._transient(span)
        return self._stamp()

    def _emit(self, template: wire.Body, ts_ms: int, **fields: Any) -> None:
        self._emitted.append(_Emitted(ts_ms, len(self._emitted), template, fields))

    def _agent_runs(self) -> Iterator[tuple[int, int]]:
        """Each boot's agent run, ``[boot, end)``: it starts with the boot and stops as the Mac powers off."""
        for index, (boot_ms, _) in enumerate(self.boots):
            last = index + 1 == len(self.boots)
            yield boot_ms, self.end_ms if last else self.boots[index + 1][0] - self.cadence.off[1]

    def _heartbeat_times(self, run_from: int, run_to: int) -> Iterator[int]:
        """When the agent's heartbeats fall in one run: one as it starts, then one per interval, none asleep."""
        return (ts for ts in range(run_from, run_to, self.agent.heartbeat_ms) if self._dark_until(ts) is None)

    def _heartbeats(self) -> None:
        """Every heartbeat of every run (the facts early, at the start; the spool's state and sources later)."""
        for run_from, run_to in self._agent_runs():
            uptime_s = self.rng.randrange(30, 90)  # the agent starts a little after the kernel
            for ts in self._heartbeat_times(run_from, run_to):
                self._emit(self._templates.heartbeat, ts, uptime_s=uptime_s + (ts - run_from) // 1000)

    def _system_paths(self) -> None:
        """The system path as the agent's path source reports it, not as it changes.

        The source polls every ``path_poll_ms`` and emits only what differs from its last report, so a
        change shows at the next poll and one undone between two polls never shows; it reports its
        current path at its first poll and again with every heartbeat, changed or not. No poll runs
        while the Mac sleeps: a change then shows at the first poll after waking.
        """
        changes = self._path_changes()
        change_times = [ts for ts, _ in changes]
        for (run_from, run_to), first in zip(self._agent_runs(), self._first_polls, strict=True):
            polls = {first: True}  # poll time -> report even if unchanged
            for ts in change_times:
                if run_from <= ts < run_to:
                    polls.setdefault(self._next_poll(first, ts), False)
            for ts in self._heartbeat_times(run_from, run_to):
                polls[self._next_poll(first, ts)] = True
            reported: dict[str, Any] | None = None
            for ts in sorted(polls):
                if ts >= run_to:
                    break
                at = bisect.bisect_right(change_times, ts) - 1
                path = changes[at][1] if at >= 0 else _HEALTHY
                if polls[ts] or path != reported:
                    self._emit(self._templates.system_path, ts, **path)
                    reported = path

    def _next_poll(self, first_ms: int, ts_ms: int) -> int:
        """The first poll at or after ``ts_ms`` of a source polling from ``first_ms``, the Mac awake."""
        poll = self.agent.path_poll_ms
        at = first_ms + max(-(-(ts_ms - first_ms) // poll), 0) * poll
        awake = self._dark_until(at)
        return at if awake is None else self._next_poll(first_ms, awake)

    def _path_changes(self) -> list[tuple[int, dict[str, Any]]]:
        """The system path's changes in time order, as the system evaluates it: (when, the path's fields)."""
        changes = [*self._docks()]
        for span in self.spans:
            if span.kind == "outage":
                assert span.end_ms is not None
                changes += [(span.start_ms, _DOWN_NO_ROUTE), (span.end_ms, _HEALTHY)]
            elif span.kind == "transient":
                assert span.end_ms is not None
                assert span.wake_ms is not None
                changes += [(span.wake_ms, _DOWN_ASLEEP), (span.end_ms - self.cadence.settle, _HEALTHY)]
        changes.sort(key=lambda change: change[0])
        return changes

    def _docks(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Wired joins or leaves (or not: the same network again), healthy throughout (away from any span)."""
        rng, cadence = self.rng, self.cadence
        ts = self.start_ms + rng.randrange(*cadence.dock)
        while ts < self.end_ms:
            if not self._collides(ts - cadence.margin, ts + cadence.margin):
                yield ts, {"interfaces": rng.choice((_WIFI, _WIRED))}
            ts += rng.randrange(*cadence.dock)

    def _probes(self) -> None:
        """Probe rounds as the probe source runs them: one as the agent starts, then each a jittered interval
        after the last; each round probes every target in turn. They fail while the system path is down,
        and none runs while the Mac sleeps or is off."""
        rng, agent = self.rng, self.agent
        for run_from, run_to in self._agent_runs():
            ts = run_from + rng.randrange(1, agent.path_poll_ms + 1)
            while ts < run_to:
                if self._dark_until(ts) is None:
                    ts = self._probe_round(ts)
                ts += agent.probe_delay_ms(rng)

    def _probe_round(self, ts_ms: int) -> int:
        """One round's probes, each starting as the last ends; when the round ends."""
        rng = self.rng
        down = self._path_down(ts_ms)
        for template in self._templates.probes:
            if down:
                latency = round(rng.uniform(0.05, 2), 3)  # the kernel refuses at once
                self._emit(template, ts_ms, ok=False, latency_ms=latency, error=self._enetdown, interface=None)
            else:
                latency = round(rng.uniform(8, 300), 1)
                self._emit(template, ts_ms, latency_ms=latency)
            ts_ms += math.ceil(latency)
        return ts_ms

    def _connections(self) -> None:
        """The app's healthy connections, outside every span and reboot (spans emit their own)."""
        rng, cadence = self.rng, self.cadence
        ts = self.start_ms + rng.randrange(1, cadence.conn[0] + 1)
        while ts < self.end_ms:
            busy = self._busy_until(ts)
            if busy is not None:
                ts = busy + rng.randrange(*cadence.conn)
                continue
            conn = self._conn_ids()
            self._emit(self._templates.conn, ts, **_PREPARING, **conn)
            self._emit(self._templates.conn, ts + rng.randrange(20, 400), **_READY, **conn)
            ts += rng.randrange(*cadence.conn)

    def _episode(self, span: Span) -> None:
        """NECP denies the app with the system healthy: ENETDOWN at every attempt until it recovers or reboots."""
        rng = self.rng
        self._emit(self._templates.conn, span.start_ms, **self._failed("policy_denied"), **self._conn_ids())
        self._emit(self._templates.app_path, span.start_ms + 3)
        last = self.end_ms if span.end_ms is None else span.end_ms - (self.cadence.off[1] if span.stuck else 0)
        self._retries(span.start_ms, last, "policy_denied")
        if span.end_ms is not None and not span.stuck:
            self._emit(self._templates.app_path, span.end_ms, status="satisfied", reason=None)
            self._reconnect(span.end_ms + rng.randrange(5, 50))

    def _outage(self, span: Span) -> None:
        """The network is really down (the system path with it: :meth:`_path_changes`): the app's attempts
        fail, and it reconnects soon after the path is back."""
        assert span.end_ms is not None
        self._retries(span.start_ms, span.end_ms, "no_route")
        self._reconnect(
            span.end_ms + self.rng.randrange(max(self.cadence.settle // 20, 1), self.cadence.settle // 2 + 2)
        )

    def _transient(self, span: Span) -> None:
        """The Mac wakes with its path down (:meth:`_path_changes`); one ENETDOWN just after the path is
        back, ready again within G."""
        assert span.end_ms is not None
        rng, settle = self.rng, self.cadence.settle
        up = span.end_ms - settle
        failed = up + rng.randrange(settle // 10, settle * 4 // 10 + 1)
        self._emit(self._templates.conn, failed, **self._failed("no_route"), **self._conn_ids())
        self._reconnect(failed + rng.randrange(settle // 10, settle * 3 // 10 + 1) + 2)  # before the path held for G

    def _reconnect(self, at_ms: int) -> None:
        """The app is back: its tunnel and its control channel connect (two recoveries, as a VPN's are)."""
        control_ms = at_ms + self.rng.randrange(1, self.cadence.settle // 10 + 2)
        for ts in (at_ms, control_ms):
            self._emit(self._templates.conn, ts, **_READY, **self._conn_ids())

    def _retries(self, after_ms: int, before_ms: int, path_reason: str) -> None:
        """The app trying again with a back-off while its connections fail with ENETDOWN."""
        rng, (lo, hi) = self.rng, self.cadence.retry
        ts = after_ms + rng.randrange(lo, hi)
        while ts + 50 < before_ms:
            conn = self._conn_ids()
            self._emit(self._templates.conn, ts, **_PREPARING, **conn)
            self._emit(self._templates.conn, ts + rng.randrange(5, 50), **self._failed(path_reason), **conn)
            ts += rng.randrange(lo, hi)

    # --- where the timeline stands ---

    def _dark_until(self, ts_ms: int) -> int | None:
        """When the Mac is back if it is off (rebooting) or asleep at ``ts_ms``, else None: it reports nothing."""
        for boot_ms, _ in self.boots[1:]:
            if boot_ms - self.cadence.off[1] <= ts_ms < boot_ms:
                return boot_ms
        for span in self.spans:
            if span.wake_ms is not None and span.start_ms <= ts_ms < span.wake_ms:
                return span.wake_ms
        return None

    def _path_down(self, ts_ms: int) -> bool:
        """The system path is down: in an outage, or a transient before the path came back."""
        for span in self.spans:
            if span.start_ms > ts_ms:
                return False
            if span.kind == "outage" and ts_ms < (span.end_ms or 0):
                return True
            if span.wake_ms is not None and span.wake_ms <= ts_ms < (span.end_ms or 0) - self.cadence.settle:
                return True
        return False

    def _busy_until(self, ts_ms: int) -> int | None:
        """When the span or reboot ``ts_ms`` falls in (with the settle margin after it) is over, else None."""
        margin = self.cadence.settle
        for span in self.spans:
            if span.start_ms - margin > ts_ms:
                break
            end = (span.end_ms or self.end_ms) + margin
            if ts_ms < end:
                return end
        return self._dark_until(ts_ms)

    # --- stamping ---

    def _stamp(self) -> list[wire.Event]:
        """Stamp every emitted body: ``seq`` in event-time order, its boot, its own event_id.

        Each boot's templates are stamped (and so validated) once; an event is its template with its
        own fields and numbers replaced, which keeps the simulator as fast as it was with no stamper
        (stamping each event anew would cost a tenth of the run). Heartbeats get the state they report
        as of their time: what the spool holds while the broker is away, and the sources' health.
        """
        self._emitted.sort(key=lambda emitted: (emitted.ts_ms, emitted.order))
        boot_starts = [boot_ms for boot_ms, _ in self.boots]
        stamped = [self._stamped_templates(boot_id) for _, boot_id in self.boots]
        ledgers = [self._ledger(first_poll) for first_poll in self._first_polls]
        source_of = self._templates.sources(system_path_source(self.platform))
        heartbeat = self._templates.heartbeat
        pending_from, pending_to = self.offline or (0, 0)
        pending = 0
        events: list[wire.Event] = []
        rng = self.rng
        path_seq: int | None = None  # the latest system path this boot's agent numbered (the envelope's path_seq)
        current_boot = -1
        for seq, emitted in enumerate(self._emitted):
            ts = emitted.ts_ms
            if ts >= self.end_ms:
                break
            boot = bisect.bisect_right(boot_starts, ts) - 1
            if boot != current_boot:  # the agent starts afresh with the boot: no path numbered yet
                current_boot, path_seq = boot, None
            fields = emitted.fields
            if emitted.template is heartbeat:
                spool = wire.SpoolState(pending=pending, dropped=0)
                fields = {**fields, "spool": spool, "sources": ledgers[boot].health(ts)}
            else:
                ledgers[boot].record(source_of[id(emitted.template)], ts)
            template = stamped[boot][id(emitted.template)]
            events.append(
                msgspec.structs.replace(
                    template, event_id=new_uuid(rng), seq=seq, ts_ms=ts, path_seq=path_seq, **fields
                )
            )
            if type(template) is wire.PathEvent and template.observer == "system":
                path_seq = seq
            pending = pending + 1 if pending_from <= ts < pending_to else 0
        self._emitted.clear()
        return events

    def _ledger(self, first_poll_ms: int) -> SourceLedger:
        """A new agent run's source counts (they start afresh with each boot)."""
        return SourceLedger(
            system_path=system_path_source(self.platform),
            probes=self.agent.probes,
            blind=self.blind,
            first_poll_ms=first_poll_ms,
            poll_ms=self.agent.path_poll_ms,
        )

    def _stamped_templates(self, boot_id: str) -> dict[int, wire.Event]:
        """One boot's events of every template, keyed by the id of the template's body."""
        identity = DeviceIdentity(
            device_id=self.device_id,
            boot_id=boot_id,
            platform=self.platform,
            os_version=self.os_version,
            os_build=self.os_build,
        )
        return {id(body): stamp(identity, body, seq=0, ts_ms=0, event_id="-") for body in self._templates.bodies()}

    @property
    def _enetdown(self) -> wire.ErrorInfo:
        return _ENETDOWN[self.platform]

    def _conn_ids(self) -> dict[str, str]:
        """A new connection's id and (hashed) endpoint."""
        rng = self.rng
        return {"conn_id": f"C{rng.randrange(1, 9999)}", "endpoint": f"Hostname#{rng.getrandbits(32):08x}:443"}

    def _failed(self, path_reason: str) -> dict[str, Any]:
        """A connection failing with ENETDOWN, its path unsatisfied for ``path_reason``."""
        return {
            "state": "failed",
            "error": self._enetdown,
            "path_status": "unsatisfied",
            "path_reason": path_reason,
        }

    def __post_init__(self) -> None:
        self._templates = _Templates.of(self)


class _Templates(NamedTuple):
    """A device's bodies with their constant fields filled in once; each emission replaces only its own."""

    system_path: wire.PathBody
    app_path: wire.PathBody
    conn: wire.ConnBody
    probes: tuple[wire.ProbeBody, ...]  # one per configured target, in the order a round probes them
    heartbeat: wire.HeartbeatBody

    @classmethod
    def of(cls, device: Device) -> _Templates:
        path: dict[str, Any] = {"interfaces": _WIFI, "ipv4": True, "ipv6": True, "dns": True}
        return cls(
            system_path=wire.PathBody(observer="system", status="satisfied", **path),
            app_path=wire.PathBody(
                observer="app", app=device.app, status="unsatisfied", reason="policy_denied", **path
            ),
            conn=wire.ConnBody(app=device.app, conn_id="-", endpoint="-", state="preparing", interface="en0"),
            probes=tuple(
                wire.ProbeBody(target=_PROBE_TARGETS[kind], kind=kind, ok=True, latency_ms=1.0, interface=None)
                for kind in device.agent.probe_kinds
            ),
            heartbeat=wire.HeartbeatBody(uptime_s=0, facts=device.facts, spool=wire.SpoolState(pending=0, dropped=0)),
        )

    def bodies(self) -> tuple[wire.Body, ...]:
        """Every template."""
        return self.system_path, self.app_path, self.conn, *self.probes, self.heartbeat

    def sources(self, system_path: str) -> dict[int, str]:
        """The agent source that emits each template but the heartbeat, by the template's id."""
        named = [(system_path, self.system_path), (APP_VIEW_SOURCE, self.app_path), (APP_VIEW_SOURCE, self.conn)]
        named += [(PROBE_SOURCE, probe) for probe in self.probes]
        return {id(body): name for name, body in named}
