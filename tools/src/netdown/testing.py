"""Test helpers: realistic valid events, Hypothesis strategies, hand-built devices and simulated fleets.

Shipped in the tools distribution (in no role's: the agent and the stream job never import it, a
test holds them to that) so every suite (unit, integration, a consumer's own tests) and the
benchmarks build events the same way, through the one stamper (:mod:`netdown.stamping`). The
strategies are derived from :mod:`netdown.wire`'s own type information, so a field, a bound or an
allowed value added to the contract is generated without an edit here.

Importing this module imports Hypothesis, a dependency of ``netdown-tools`` only.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from hypothesis import reject
from hypothesis import strategies as st
from msgspec import inspect as mi

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.sim import DEFAULT_RELEASES, DEFAULT_START_MS, MONITORED_APP, FleetSpec, Release, simulate
from netdown.stamping import DeviceIdentity, stamp

__all__ = [
    "APP",
    "SAMPLE_BODIES",
    "SAMPLE_IDENTITY",
    "T0_MS",
    "Device",
    "events",
    "json_values",
    "messages",
    "sample_event",
    "simulated_fleet",
    "source",
]

T0_MS: Final = DEFAULT_START_MS  # the event time scenario tests start at: the simulator's own default start
APP: Final = MONITORED_APP

SAMPLE_IDENTITY: Final = DeviceIdentity(
    device_id="mac-4f2a9c1e7b3d",
    boot_id="6A1F0C2E-93B4-4D7A-8E15-2C9B7F3D4A60",
    platform="darwin",
    os_version="14.4.1",
    os_build="23E224",
    agent_version="0.1.0",
)

# One realistic body per event type, every field set (nullable ones included), as the agent sends them.
SAMPLE_BODIES: Final[dict[wire.EventType, wire.Body]] = {
    "path": wire.PathBody(
        observer="app",
        app="com.example.vpn.tunnel",
        status="unsatisfied",
        reason="policy_denied",
        interfaces=(wire.Interface(name="en0", type="wifi"), wire.Interface(name="utun3", type="tunnel")),
        ipv4=True,
        ipv6=True,
        dns=True,
    ),
    "conn": wire.ConnBody(
        app="com.example.vpn.tunnel",
        conn_id="C221",
        endpoint="Hostname#8c901c3c:443",
        state="failed",
        error=wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN"),
        path_status="unsatisfied",
        path_reason="policy_denied",
        interface="en0",
    ),
    "probe": wire.ProbeBody(
        target="Hostname#5d41402a:443", kind="https", ok=True, latency_ms=42.5, error=None, interface="en0"
    ),
    "heartbeat": wire.HeartbeatBody(
        uptime_s=86_400,
        facts=wire.Facts(
            network_extensions=(
                wire.NetworkExtension(id="com.example.vpn.tunnel", kind="packet_tunnel"),
                wire.NetworkExtension(id="com.example.filter", kind="content_filter"),
            ),
            vpn=wire.VpnFlags(include_all_networks=True, enforce_routes=False, exclude_local_networks=None),
        ),
        spool=wire.SpoolState(pending=3, dropped=0, lost=wire.SpoolLoss(bound=4, corrupt=1, write_failed=2)),
    ),
}


def sample_event(event_type: wire.EventType, **overrides: Any) -> dict[str, Any]:
    """A realistic, valid event as its JSON object, every field present, so a test edits only what it proves.

    ``overrides`` replace top-level fields; the result is a fresh copy the caller may mutate.
    """
    event = stamp(
        SAMPLE_IDENTITY,
        SAMPLE_BODIES[event_type],
        seq=1042,
        ts_ms=1_732_540_800_123,
        event_id="0d7c9a4e-5b1f-4c3a-9e2d-7f6b8a1c2e3d",
    )
    sample: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(event))  # as JSON: arrays, not tuples
    return {**sample, **overrides}


@functools.cache  # built from type info once: composite strategies draw from it per example
def events() -> st.SearchStrategy[wire.Event]:
    """Arbitrary valid events of every type, to prove properties over the whole contract, not a few samples."""
    return _from_type_info(mi.type_info(wire.Event))


@functools.cache
def json_values() -> st.SearchStrategy[Any]:
    """Arbitrary JSON documents (nested arrays and objects), to feed a decoder what a broken producer might send."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
        max_leaves=20,
    )


# Arrays in generated events stay short: enough to exercise nesting, cheap enough for hundreds of examples.
_MAX_ITEMS: Final = 3


def _from_type_info(info: mi.Type) -> st.SearchStrategy[Any]:  # noqa: PLR0911 (one return per kind of type)
    """Values of one msgspec type that satisfy its constraints; refuses a type it cannot honour faithfully."""
    match info:
        case mi.Metadata(type=inner):  # descriptions only: msgspec folds the constraints into `inner`
            return _from_type_info(inner)
        case mi.VarTupleType(item_type=item, min_length=min_length, max_length=max_length):
            size = min(_MAX_ITEMS, max_length) if max_length is not None else _MAX_ITEMS
            return st.lists(_from_type_info(item), min_size=min_length or 0, max_size=size).map(tuple)
        case mi.UnionType(types=types):
            return st.one_of([_from_type_info(member) for member in types])
        case mi.StructType():
            return _structs(info.cls, {field.name: _from_type_info(field.type) for field in info.fields})
        case mi.LiteralType(values=values):
            return st.sampled_from(values)
        case mi.StrType(min_length=None, max_length=None, pattern=str() as pattern):
            return st.from_regex(pattern, fullmatch=True)
        case mi.StrType(min_length=min_length, max_length=max_length, pattern=None):
            return st.text(min_size=min_length or 0, max_size=max_length)
        case mi.IntType(ge=ge, gt=None, le=le, lt=None, multiple_of=None):
            return st.integers(min_value=ge, max_value=le)
        case mi.FloatType(ge=ge, gt=None, le=None, lt=None, multiple_of=None):
            return st.floats(min_value=ge, allow_nan=False, allow_infinity=False)
        case mi.BoolType():
            return st.booleans()
        case mi.NoneType():
            return st.none()
    raise NotImplementedError(f"netdown.testing cannot generate {info!r} yet; teach _from_type_info this type")


@st.composite
def _structs(draw: st.DrawFn, cls: type[msgspec.Struct], fields: dict[str, st.SearchStrategy[Any]]) -> msgspec.Struct:
    """One Struct built from drawn fields; combinations its own ``__post_init__`` refuses are discarded."""
    kwargs = {name: draw(strategy) for name, strategy in fields.items()}
    try:
        return cls(**kwargs)
    except ValueError:
        reject()  # e.g. a path event with observer=app and no app: invalid by the contract, not by its types.


# --- devices and fleets -----------------------------------------------------------------------------------

_DAY_MS: Final = 86_400_000
_RELEASES: Final = (
    *DEFAULT_RELEASES,
    Release("6.8.0-45-generic", "", weight=10.0, platform="linux"),
    Release("10.15.7", "19H2026", weight=5.0),  # outside the label allowlist: counted under `other`
)
_ENETDOWN: Final = wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN")
_WIFI: Final = (wire.Interface(name="en0", type="wifi"),)
_FACTS: Final = wire.Facts(
    network_extensions=(wire.NetworkExtension(id=APP, kind="packet_tunnel"),),
    vpn=wire.VpnFlags(include_all_networks=True, enforce_routes=False, exclude_local_networks=None),
)


def source(
    name: str, role: wire.SourceRole, *, running: bool = True, last_success_ms: int | None = None
) -> wire.SourceHealth:
    """One agent source's health as a heartbeat reports it: a failing one has read errors and no recent success."""
    return wire.SourceHealth(
        name=name,
        role=role,
        running=running,
        events=10 if running else 0,
        errors=wire.SourceErrors(reading=0 if running else 3, parsing=0, sending=0),
        last_success_ms=last_success_ms,
    )


@dataclass
class Device:
    """One hand-driven Mac for a scenario test: every event it emits gets the next ``seq`` and its own ``event_id``.

    A test writes only what it is about ("system path healthy on wifi, then ENETDOWN"); the envelope
    is stamped by :func:`netdown.stamping.stamp`, as the agent's is.
    """

    device_id: str
    os_version: str = "14.4.1"
    platform: wire.Platform = "darwin"
    boot_id: str = "boot-1"
    seq: int = 0
    events: list[wire.Event] = field(default_factory=list)

    def _emit(self, ts_ms: int, body: wire.Body) -> wire.Event:
        self.seq += 1
        identity = DeviceIdentity(
            device_id=self.device_id,
            boot_id=self.boot_id,
            platform=self.platform,
            os_version=self.os_version,
            os_build="",
            agent_version="0.1.0",
        )
        event_id = f"{self.device_id}-{self.boot_id}-{self.seq}"
        event = stamp(identity, body, seq=self.seq, ts_ms=ts_ms, event_id=event_id)
        self.events.append(event)
        return event

    def system_path(self, ts_ms: int, *, satisfied: bool = True) -> wire.Event:
        """The agent's own path evaluation: satisfied on wifi, or unsatisfied with no interface."""
        return self._emit(
            ts_ms,
            wire.PathBody(
                observer="system",
                status="satisfied" if satisfied else "unsatisfied",
                reason=None if satisfied else "interface_unavailable",
                interfaces=_WIFI if satisfied else (),
                ipv4=satisfied,
                ipv6=satisfied,
                dns=satisfied,
            ),
        )

    def conn(self, ts_ms: int, *, enetdown: bool = False, app: str = APP) -> wire.Event:
        """The monitored app's connection: failed with ENETDOWN (a failure signal) or ready (a recovery)."""
        return self._emit(
            ts_ms,
            wire.ConnBody(
                app=app,
                conn_id=f"C{self.seq + 1}",  # named after the seq it is about to get
                endpoint="Hostname#8c901c3c:443",
                state="failed" if enetdown else "ready",
                error=_ENETDOWN if enetdown else None,
                path_status="unsatisfied" if enetdown else "satisfied",
                path_reason="policy_denied" if enetdown else None,
                interface="en0",
            ),
        )

    def probe(self, ts_ms: int, *, ok: bool = True) -> wire.Event:
        """The agent's active check."""
        return self._emit(
            ts_ms,
            wire.ProbeBody(
                target="Hostname#5d41402a:443", kind="https", ok=ok, latency_ms=42.0 if ok else None, interface="en0"
            ),
        )

    def heartbeat(
        self, ts_ms: int, *, lost: wire.SpoolLoss | None = None, sources: tuple[wire.SourceHealth, ...] = ()
    ) -> wire.Event:
        """Liveness and device facts; ``lost``, the spool's losses so far, and ``sources``, their health (none, as
        an agent older than 0.2 reports), as an agent reports them."""
        return self._emit(
            ts_ms,
            wire.HeartbeatBody(
                uptime_s=max(ts_ms - T0_MS, 0) // 1000,
                facts=_FACTS,
                spool=wire.SpoolState(pending=0, dropped=0, lost=lost),
                sources=sources,
            ),
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


def simulated_fleet(devices: int, duration_ms: int, *, seed: int, params: DetectorParams) -> list[wire.Event]:
    """A busy simulated fleet's events over ``duration_ms`` from :data:`T0_MS`, in the order the broker gets them.

    The one fleet generator (:mod:`netdown.sim`), shaped for ``params``: the agent's real cadence and
    devices interleaved in arrival order. Busy, so a short run has every situation: each device has
    about one episode (a quarter stuck until a reboot), one outage and one wake transient in the run,
    deliveries are late (a spool replay), duplicated and lost more often than in the field, and some
    devices run Linux or a release outside the label allowlist (counted under ``other``).
    """
    per_run = _DAY_MS / duration_ms  # a rate of one per device and run, in the spec's per-day terms
    spec = FleetSpec(
        devices=devices,
        seed=seed,
        releases=_RELEASES,
        episodes_per_device_day=per_run,
        outages_per_device_day=per_run,
        transients_per_device_day=per_run,
        p_duplicate=0.02,
        p_late_spool=0.2,
        p_lost=0.01,
    )
    simulation = simulate(spec, start_ms=T0_MS, duration_ms=duration_ms, params=params)
    return [delivery.event for delivery in simulation.deliveries]


def messages(events: Iterable[wire.Event]) -> Iterator[tuple[bytes, bytes]]:
    """Kafka (key, value) pairs of events, as the agent publishes them."""
    for event in events:
        yield event.device_id.encode(), wire.encode(event)
