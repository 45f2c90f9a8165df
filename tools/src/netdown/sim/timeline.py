"""One simulated Mac's life in event time: its boots, its agent's reports, and what happens to it.

Every cadence is derived from the detector parameters the run is shaped for (:class:`Cadence`), so a
timeline is scorable at any time scale, the production defaults or a demo's seconds: probes come
often enough that a failure always has system evidence within W, recovering episodes last well beyond
G and recover within T, stuck ones last beyond T until a reboot, and outages and wake transients are
non-episodes by the rules of ``docs/detection.md`` (an outage's failures stop before the system path
is back and the app reconnects within G of it; a Mac waking from sleep has its path down a moment, and
the one failure that follows recovers within G of the path coming back).

Episodes arrive as a Poisson process of the device's hazard while it is at risk: not in an episode,
and not within the settle margin after one (or after the boot). The time at risk is recorded, so
hazard x exposure is the exact expectation of the count. Outages and transients arrive the same way
and are kept only where they collide with nothing, so the truth stays unambiguous.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, TypeAlias

import msgspec

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.stamping import DeviceIdentity, stamp

__all__ = ["DAY_MS", "Cadence", "Device", "Span", "new_uuid"]

DAY_MS: Final = 86_400_000
_UUID_CLEAR: Final = ~((0xF << 76) | (0x3 << 62))  # the version and variant bits
_UUID_SET: Final = (4 << 76) | (0x2 << 62)  # version 4, RFC 4122 variant
_HEARTBEAT_MAX_MS: Final = 300_000  # the agent's heartbeat interval (the wire contract: at least every 5 minutes)
_ENETDOWN: Final = {
    "darwin": wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN"),
    "linux": wire.ErrorInfo(domain="posix", code=100, name="ENETDOWN"),
}
_WIFI: Final = (wire.Interface(name="en0", type="wifi"), wire.Interface(name="utun3", type="tunnel"))
_WIRED: Final = (wire.Interface(name="en7", type="wired"), *_WIFI)
_READY: Final[dict[str, Any]] = {"state": "ready", "error": None, "path_status": "satisfied", "path_reason": None}
_PREPARING: Final[dict[str, Any]] = {"state": "preparing", "error": None, "path_status": None, "path_reason": None}
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
    """How often things happen and how long they last, in ms, scaled to the detector parameters."""

    settle: int  # G
    probe: tuple[int, int]  # between two probes: below W, so any W-window holds one
    conn: tuple[int, int]  # between two healthy connections of the app
    retry: tuple[int, int]  # between two failing attempts while the app is cut off
    heartbeat: int
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
            probe=(max(w * 6 // 10, 1), max(w * 95 // 100, 2)),
            conn=(max(w * 7 // 10, 1), 2 * w + 1),
            retry=(max(w * 15 // 100, 1), max(w * 6 // 10, 2)),
            heartbeat=max(min(_HEARTBEAT_MAX_MS, params.stale_ms // 3), 1),
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
    boots: list[tuple[int, str]] = field(default_factory=list)  # (start_ms, boot_id), in time order
    spans: list[Span] = field(default_factory=list)  # episodes and disturbances, in time order
    offline: tuple[int, int] | None = None  # cut off from the broker: its spool holds what it records
    exposure_ms: int = 0  # time at risk of an episode
    _emitted: list[_Emitted] = field(default_factory=list)
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
        self._boot_reports()
        self._probes()
        self._heartbeats()
        self._docks()
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

    def _boot_reports(self) -> None:
        """Every boot starts with a heartbeat (the facts, early) and the system's path."""
        for boot_ms, _ in self.boots:
            self._emit(self._templates.heartbeat, boot_ms, uptime_s=self.rng.randrange(30, 90))
            self._emit(self._templates.system_path, boot_ms + self.rng.randrange(1, max(self.cadence.margin // 4, 2)))

    def _probes(self) -> None:
        """The agent's probes, below W apart; they fail while the path is down, and stop while the Mac is off."""
        rng, (lo, hi) = self.rng, self.cadence.probe
        ts = self.start_ms + rng.randrange(1, lo + 1)
        while ts < self.end_ms:
            if (awake := self._dark_until(ts)) is not None:
                ts = awake + rng.randrange(1, lo + 1)
                continue
            if self._path_down(ts):
                self._emit(self._templates.probe, ts, ok=False, latency_ms=None, error=self._enetdown, interface=None)
            else:
                self._emit(self._templates.probe, ts, latency_ms=round(rng.uniform(8, 300), 1))
            ts += rng.randrange(lo, hi)

    def _heartbeats(self) -> None:
        """A heartbeat every interval of each boot (the first is in :meth:`_boot_reports`)."""
        for index, (boot_ms, _) in enumerate(self.boots):
            boot_end = self.boots[index + 1][0] - self.cadence.off[1] if index + 1 < len(self.boots) else self.end_ms
            for ts in range(boot_ms + self.cadence.heartbeat, boot_end, self.cadence.heartbeat):
                if self._dark_until(ts) is None:
                    self._emit(self._templates.heartbeat, ts, uptime_s=60 + (ts - boot_ms) // 1000)

    def _docks(self) -> None:
        """Wired joins or leaves: the system path is re-evaluated, healthy throughout (away from any span)."""
        rng, cadence = self.rng, self.cadence
        ts = self.start_ms + rng.randrange(*cadence.dock)
        while ts < self.end_ms:
            if not self._collides(ts - cadence.margin, ts + cadence.margin) and self._dark_until(ts) is None:
                self._emit(self._templates.system_path, ts, interfaces=rng.choice((_WIFI, _WIRED)))
            ts += rng.randrange(*cadence.dock)

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
        """The network is really down: the system path first, the app's attempts fail, all come back together."""
        assert span.end_ms is not None
        self._emit(self._templates.system_path, span.start_ms, status="unsatisfied", reason="no_route", interfaces=())
        self._retries(span.start_ms, span.end_ms, "no_route")
        self._emit(self._templates.system_path, span.end_ms, interfaces=_WIFI)
        self._reconnect(
            span.end_ms + self.rng.randrange(max(self.cadence.settle // 20, 1), self.cadence.settle // 2 + 2)
        )

    def _transient(self, span: Span) -> None:
        """The Mac wakes with its path down; one ENETDOWN just after the path is back, ready again within G."""
        assert span.end_ms is not None
        assert span.wake_ms is not None
        rng, settle = self.rng, self.cadence.settle
        up = span.end_ms - settle
        down = {"status": "unsatisfied", "reason": "interface_unavailable", "interfaces": ()}
        self._emit(self._templates.system_path, span.wake_ms, **down)
        self._emit(self._templates.system_path, up, interfaces=_WIFI)
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
        (stamping each event anew would cost a tenth of the run).
        """
        self._emitted.sort(key=lambda emitted: (emitted.ts_ms, emitted.order))
        boot_starts = [boot_ms for boot_ms, _ in self.boots]
        stamped = [self._stamped_templates(boot_id) for _, boot_id in self.boots]
        pending_from, pending_to = self.offline or (0, 0)
        pending = 0
        events: list[wire.Event] = []
        rng = self.rng
        for seq, emitted in enumerate(self._emitted):
            ts = emitted.ts_ms
            if ts >= self.end_ms:
                break
            fields = emitted.fields
            if emitted.template is self._templates.heartbeat:  # what the spool holds while the broker is away
                fields = {**fields, "spool": wire.SpoolState(pending=pending, dropped=0)}
            template = stamped[bisect.bisect_right(boot_starts, ts) - 1][id(emitted.template)]
            events.append(msgspec.structs.replace(template, event_id=new_uuid(rng), seq=seq, ts_ms=ts, **fields))
            pending = pending + 1 if pending_from <= ts < pending_to else 0
        self._emitted.clear()
        return events

    def _stamped_templates(self, boot_id: str) -> dict[int, wire.Event]:
        """One boot's events of every template, keyed by the id of the template's body."""
        identity = DeviceIdentity(
            device_id=self.device_id,
            boot_id=boot_id,
            platform=self.platform,
            os_version=self.os_version,
            os_build=self.os_build,
        )
        return {id(body): stamp(identity, body, seq=0, ts_ms=0, event_id="-") for body in self._templates}

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
    probe: wire.ProbeBody
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
            probe=wire.ProbeBody(
                target="Hostname#5d41402a:443", kind="https", ok=True, latency_ms=1.0, interface="en0"
            ),
            heartbeat=wire.HeartbeatBody(uptime_s=0, facts=device.facts, spool=wire.SpoolState(pending=0, dropped=0)),
        )
