"""Wire contract v1: the events every Mac publishes to ``netdown.events.v1``.

This module is the single owner of the contract (its intent: docs/design.md, "The wire contract's intent"). The agent
encodes with it, the stream job and the replay command decode with it, the tests generate from it,
and the event reference in ``docs/wire-contract.md`` is rendered from it
(:mod:`netdown.wire_reference`), so a field is described in exactly one place. Each event's own
fields are declared once, on its body (:data:`Body`, what a source fills in); the event class is the
envelope plus that body, built from it, and :mod:`netdown.stamping` joins the two.

Decoding is one pass of msgspec's typed decoder over the raw bytes: for a valid event that is
parse and validate together, the cheapest path measured (``make bench-json``). Only when that
fails do we look again, slowly, to name the precise rejection reason; rejects are rare, so the
diagnosis costs nothing on the hot path.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeAlias, cast

import msgspec

__all__ = [
    "DEVICE_ID_PATTERN",
    "EVENT_TYPES",
    "EVENT_TYPE_OF",
    "MAX_EVENT_BYTES",
    "MAX_SOURCES",
    "SCHEMA_VERSION",
    "Body",
    "ConnBody",
    "ConnEvent",
    "ErrorInfo",
    "Event",
    "EventType",
    "Facts",
    "HeartbeatBody",
    "HeartbeatEvent",
    "Interface",
    "NetworkExtension",
    "PathBody",
    "PathEvent",
    "ProbeBody",
    "ProbeEvent",
    "RejectReason",
    "Rejection",
    "SourceErrors",
    "SourceHealth",
    "SourceRole",
    "SpoolLoss",
    "SpoolState",
    "VpnFlags",
    "body_type",
    "decode",
    "encode",
    "event_class",
    "event_type",
]

SCHEMA_VERSION: Final = 1
MAX_EVENT_BYTES: Final = 64 * 1024
# Sources one heartbeat may report: an agent runs five or six; the bound keeps a heartbeat's size and the worker's
# per-device work predictable whatever a device sends (16 entries of the longest names stay under 8 KiB).
MAX_SOURCES: Final = 16
# `(?!\n)`: Python's `$` also matches before a final newline (msgspec validates with `re.search`), which would
# let `"abcdefgh\n"` through as a distinct Kafka key; the lookahead forbids it and reads the same in JSON Schema.
DEVICE_ID_PATTERN: Final = r"^[A-Za-z0-9._-]{8,64}(?!\n)$"

EventType: TypeAlias = Literal["path", "conn", "probe", "heartbeat"]
Platform: TypeAlias = Literal["darwin", "linux"]
Observer: TypeAlias = Literal["system", "app"]
PathStatus: TypeAlias = Literal["satisfied", "unsatisfied", "requires_connection"]
PathReason: TypeAlias = Literal[
    "policy_denied",
    "no_route",
    "interface_unavailable",
    "local_network_denied",
    "cellular_denied",
    "wifi_denied",
    "vpn_inactive",
    "other",
]
InterfaceType: TypeAlias = Literal["wifi", "wired", "cellular", "loopback", "tunnel", "other"]
ConnState: TypeAlias = Literal["preparing", "waiting", "ready", "failed", "cancelled"]
ProbeKind: TypeAlias = Literal["tcp", "dns", "https"]
# What evidence a source gives: the system's view of the path, the monitored app's view, or active probes.
SourceRole: TypeAlias = Literal["system_path", "app_view", "probe"]
ExtensionKind: TypeAlias = Literal[
    "packet_tunnel", "app_proxy", "transparent_proxy", "content_filter", "dns_proxy", "other"
]

# Bounds on free-text fields keep one event's memory cost predictable in the worker's tables.
_Text = Annotated[str, msgspec.Meta(max_length=512)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
# Counters and times fit a signed 64-bit integer wherever they are stored downstream.
_INT64_MAX: Final = 2**63 - 1


class Interface(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A network interface a path evaluation found usable."""

    name: Annotated[_Name, msgspec.Meta(description="BSD interface name, e.g. `en0`, `utun3`.")]
    type: Annotated[InterfaceType, msgspec.Meta(description="Link type of the interface.")]


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An error as the platform reported it, with a canonical name to match on across platforms."""

    domain: Annotated[_Name, msgspec.Meta(description="Error domain: `posix`, `dns`, `tls`, ...")]
    code: Annotated[int, msgspec.Meta(description="The platform's own code (ENETDOWN: 50 darwin, 100 linux).")]
    name: Annotated[_Name, msgspec.Meta(description="Canonical symbolic name, e.g. `ENETDOWN`.")]


class NetworkExtension(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A network extension installed on the device (a suspect when episodes cluster)."""

    id: Annotated[_Name, msgspec.Meta(description="Bundle id of the extension.")]
    kind: Annotated[ExtensionKind, msgspec.Meta(description="NetworkExtension provider kind.")]


class VpnFlags(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Tunnel settings the field suspects of provoking NECP denials; null where not readable."""

    include_all_networks: Annotated[
        bool | None, msgspec.Meta(description="NETunnelProviderProtocol.includeAllNetworks.")
    ] = None
    enforce_routes: Annotated[bool | None, msgspec.Meta(description="enforceRoutes.")] = None
    exclude_local_networks: Annotated[bool | None, msgspec.Meta(description="excludeLocalNetworks.")] = None


class Facts(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Slow-changing device facts carried by heartbeats."""

    network_extensions: Annotated[
        tuple[NetworkExtension, ...], msgspec.Meta(description="Installed network extensions.")
    ] = ()
    vpn: Annotated[VpnFlags | None, msgspec.Meta(description="Flags of the monitored VPN's profile.")] = None


_Count = Annotated[int, msgspec.Meta(ge=0, le=_INT64_MAX)]


class SpoolLoss(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Events the agent numbered and then lost before delivery, by cause, counted since its spool was created.

    Cumulative, so a heartbeat that is itself lost loses no count: the next one carries the total.
    """

    bound: Annotated[_Count, msgspec.Meta(description="Dropped unsent by the spool's size bound (oldest first).")] = 0
    corrupt: Annotated[
        _Count, msgspec.Meta(description="Unsent records found damaged on disk and removed at start-up.")
    ] = 0
    write_failed: Annotated[
        _Count, msgspec.Meta(description="Refused by the disk (full, short write, I/O error) when spooled.")
    ] = 0


class SpoolState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The agent's disk spool: what waits to be sent, and what it lost."""

    pending: Annotated[_Count, msgspec.Meta(description="Events spooled, not yet acknowledged.")]
    dropped: Annotated[_Count, msgspec.Meta(description="Events dropped (oldest first) since last heartbeat.")]
    lost: Annotated[
        SpoolLoss | None,
        msgspec.Meta(description="Events lost on the device since its spool was created, by cause (cumulative)."),
    ] = None


class _Envelope(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", gc=False):
    """Fields every event carries; ``type`` is the tag that selects the event class.

    ``gc=False`` on every contract Struct: events are immutable trees that never form reference
    cycles, so the cyclic garbage collector need not track the millions a worker decodes.
    """

    v: Annotated[Literal[1], msgspec.Meta(description="Schema version, always 1.")]
    event_id: Annotated[_Name, msgspec.Meta(description="Unique per event (a UUID); duplicates are dropped.")]
    device_id: Annotated[
        str,
        msgspec.Meta(pattern=DEVICE_ID_PATTERN, description="Pseudonymous device id, `[A-Za-z0-9._-]{8,64}`."),
    ]
    boot_id: Annotated[_Name, msgspec.Meta(description="Changes at every boot (`kern.bootsessionuuid`).")]
    seq: Annotated[
        int, msgspec.Meta(ge=0, le=_INT64_MAX, description="Per-device counter, +1 per event; gaps mean loss.")
    ]
    ts_ms: Annotated[int, msgspec.Meta(ge=0, le=_INT64_MAX, description="Event time, Unix epoch ms, device clock.")]
    platform: Annotated[Platform, msgspec.Meta(description="`darwin` or `linux`.")]
    os_version: Annotated[_Text, msgspec.Meta(description="OS release, e.g. `14.4.1`.")]
    os_build: Annotated[_Text, msgspec.Meta(description="OS build, e.g. `23E224`; may be empty.")]
    agent_version: Annotated[_Text, msgspec.Meta(description="Version of the agent that sent the event.")]
    path_seq: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=_INT64_MAX)] | None,
        msgspec.Meta(
            description=(
                "The `seq` of the latest system `path` event the agent numbered before this one, in this run of "
                "the agent; null before its first, and from agents before 0.2. Tells the stream job whether it "
                "has the system path the device had, whatever else of the stream was lost."
            )
        ),
    ] = None


class PathBody(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A path evaluation seen by an observer: the system (the agent itself) or the monitored app."""

    observer: Annotated[Observer, msgspec.Meta(description="`system` (unrestricted process) or `app`.")]
    app: Annotated[
        _Name | None, msgspec.Meta(description="Bundle id or process name; required when `observer=app`.")
    ] = None
    status: Annotated[PathStatus, msgspec.Meta(description="Path status as Network.framework reports it.")]
    reason: Annotated[
        PathReason | None, msgspec.Meta(description="Why the path is not satisfied (`policy_denied` = NECP).")
    ] = None
    interfaces: Annotated[
        tuple[Interface, ...], msgspec.Meta(description="Usable interfaces, e.g. `[{name: en0, type: wifi}]`.")
    ]
    ipv4: Annotated[bool, msgspec.Meta(description="Path supports IPv4.")]
    ipv6: Annotated[bool, msgspec.Meta(description="Path supports IPv6.")]
    dns: Annotated[bool, msgspec.Meta(description="Path has DNS.")]

    def __post_init__(self) -> None:
        if self.observer == "app" and self.app is None:
            # The detector keys episodes by (device, app): an app-side path without an app is useless.
            # Worded as msgspec words a missing field, so the rejection names `app` like any other.
            raise ValueError("Object missing required field `app` (required when `observer` is `app`)")


class ConnBody(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A connection state transition of the monitored app."""

    app: Annotated[_Name, msgspec.Meta(description="Bundle id or process name.")]
    conn_id: Annotated[_Name, msgspec.Meta(description="Connection id as logged, e.g. `C221`.")]
    endpoint: Annotated[
        _Text, msgspec.Meta(description="As logged, hostnames hashed (`Hostname#8c901c3c:443`); never raw.")
    ]
    state: Annotated[ConnState, msgspec.Meta(description="State the connection entered.")]
    error: Annotated[ErrorInfo | None, msgspec.Meta(description="Error that came with the transition.")] = None
    path_status: Annotated[PathStatus | None, msgspec.Meta(description="The connection's path, if known.")] = None
    path_reason: Annotated[PathReason | None, msgspec.Meta(description="Its unsatisfied reason, if known.")] = None
    interface: Annotated[_Name | None, msgspec.Meta(description="Interface the connection used.")] = None


class ProbeBody(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The agent's own active check: evidence that the system path works (or does not)."""

    target: Annotated[_Text, msgspec.Meta(description="Hashed target or `host:port`.")]
    kind: Annotated[ProbeKind, msgspec.Meta(description="`tcp`, `dns` or `https`.")]
    ok: Annotated[bool, msgspec.Meta(description="The probe succeeded.")]
    latency_ms: Annotated[
        Annotated[float, msgspec.Meta(ge=0)] | None, msgspec.Meta(description="Time to success or failure.")
    ] = None
    error: Annotated[ErrorInfo | None, msgspec.Meta(description="Why it failed.")] = None
    interface: Annotated[_Name | None, msgspec.Meta(description="Interface the probe left by.")] = None


class SourceErrors(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A source's failures by the stage they happened in, counted since the agent started (cumulative)."""

    reading: Annotated[
        _Count, msgspec.Meta(description="Its command or log stream failed: missing, hung, exited, unreadable.")
    ]
    parsing: Annotated[_Count, msgspec.Meta(description="It read output it could not make sense of.")]
    sending: Annotated[
        _Count, msgspec.Meta(description="Its observations were refused: invalid, or the disk was full.")
    ]


class SourceHealth(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One evidence source of the agent as it stands: a device whose sources are blind cannot be judged."""

    name: Annotated[_Name, msgspec.Meta(description="The source's name in the agent's config, e.g. `macos_path`.")]
    role: Annotated[SourceRole, msgspec.Meta(description="The evidence it gives: `system_path`, `app_view`, `probe`.")]
    running: Annotated[
        bool, msgspec.Meta(description="It works now: false while its command is missing or its stream keeps dying.")
    ]
    events: Annotated[_Count, msgspec.Meta(description="Observations it emitted since the agent started.")]
    errors: Annotated[SourceErrors, msgspec.Meta(description="Its failures by stage since the agent started.")]
    last_success_ms: Annotated[
        _Count | None,
        msgspec.Meta(description="When it last read and parsed successfully (Unix ms, device clock); null if never."),
    ] = None


class HeartbeatBody(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Liveness and device facts, at least every 5 minutes."""

    uptime_s: Annotated[int, msgspec.Meta(ge=0, description="Seconds since boot.")]
    facts: Annotated[Facts, msgspec.Meta(description="Installed extensions and VPN flags.")]
    spool: Annotated[SpoolState, msgspec.Meta(description="The agent's spool state.")]
    sources: Annotated[
        tuple[SourceHealth, ...],
        msgspec.Meta(
            max_length=MAX_SOURCES,
            description=(
                f"The health of each evidence source (at most {MAX_SOURCES}). Added in agent 0.2: older agents "
                "leave it out, older workers ignore it (unknown fields are ignored)."
            ),
        ),
    ] = ()


Body: TypeAlias = PathBody | ConnBody | ProbeBody | HeartbeatBody


def _event(tag: EventType, body: type[msgspec.Struct]) -> type[_Envelope]:
    """The wire event of one body: the envelope's fields, then the body's own, under the body's docstring.

    Built rather than written out so each field is declared once, on the body a source fills in; msgspec
    forbids inheriting fields from two Structs, and the envelope comes first in the generated reference.
    """
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (field.name, field.type) if field.default is msgspec.NODEFAULT else (field.name, field.type, field.default)
        for field in msgspec.structs.fields(body)  # every default is immutable: no default_factory to carry
    ]
    own = vars(body)
    namespace = {"__doc__": body.__doc__, **{name: own[name] for name in ("__post_init__",) if name in own}}
    event = msgspec.defstruct(
        f"{tag.capitalize()}Event",
        fields,
        bases=(_Envelope,),
        tag=tag,
        frozen=True,
        kw_only=True,
        gc=False,
        module=__name__,
        namespace=namespace,
    )
    return cast(type[_Envelope], event)


if TYPE_CHECKING:  # what the generated classes are, for the type checker: the envelope and the body in one Struct

    class PathEvent(_Envelope, PathBody, tag="path", frozen=True, kw_only=True, gc=False): ...

    class ConnEvent(_Envelope, ConnBody, tag="conn", frozen=True, kw_only=True, gc=False): ...

    class ProbeEvent(_Envelope, ProbeBody, tag="probe", frozen=True, kw_only=True, gc=False): ...

    class HeartbeatEvent(_Envelope, HeartbeatBody, tag="heartbeat", frozen=True, kw_only=True, gc=False): ...

else:
    PathEvent = _event("path", PathBody)
    ConnEvent = _event("conn", ConnBody)
    ProbeEvent = _event("probe", ProbeBody)
    HeartbeatEvent = _event("heartbeat", HeartbeatBody)

Event: TypeAlias = PathEvent | ConnEvent | ProbeEvent | HeartbeatEvent

_EVENT_OF_BODY: Final[dict[type[Body], type[Event]]] = {
    PathBody: PathEvent,
    ConnBody: ConnEvent,
    ProbeBody: ProbeEvent,
    HeartbeatBody: HeartbeatEvent,
}
# Each event class's wire `type` (the tag msgspec strips into the class), read once: msgspec builds a new
# `__struct_config__` at every access, and the engine counts every event by its type.
# A plain dict, read-only by its type: a lookup in a mappingproxy costs more, and this one is per event.
EVENT_TYPE_OF: Final[Mapping[type[Event], EventType]] = {
    cls: cast(EventType, cls.__struct_config__.tag) for cls in _EVENT_OF_BODY.values()
}
EVENT_TYPES: Final[frozenset[str]] = frozenset(EVENT_TYPE_OF.values())


def event_type(event: Event) -> EventType:
    """The wire ``type`` of a decoded event."""
    return EVENT_TYPE_OF[type(event)]


def event_class(body: Body) -> type[Event]:
    """The event class a body becomes once stamped."""
    return _EVENT_OF_BODY[type(body)]


def body_type(body: Body) -> EventType:
    """The wire ``type`` of the event a body becomes."""
    return EVENT_TYPE_OF[_EVENT_OF_BODY[type(body)]]


class RejectReason(enum.StrEnum):
    """Why an event was refused; a bounded set, used as a metric label and in the DLQ record."""

    TOO_LARGE = "too_large"
    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_VERSION = "unknown_version"
    UNKNOWN_TYPE = "unknown_type"
    BAD_DEVICE_ID = "bad_device_id"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """A refused message: the reason code, the field at fault (a JSON path) and a human detail."""

    reason: RejectReason
    detail: str
    field: str | None = None


_DECODER: Final[msgspec.json.Decoder[Event]] = msgspec.json.Decoder(Event)
_RAW_DECODER: Final = msgspec.json.Decoder()
_ENCODER: Final = msgspec.json.Encoder(order="sorted")
_DEVICE_ID_RE: Final = re.compile(DEVICE_ID_PATTERN)
# msgspec names the offending location as "... - at `$.facts.vpn`"; a missing field by name.
_AT_PATH_RE: Final = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING_RE: Final = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")


def decode(data: bytes) -> Event | Rejection:
    """Decode one message into a typed event, or say precisely why it is refused. Never raises."""
    if len(data) > MAX_EVENT_BYTES:
        return Rejection(reason=RejectReason.TOO_LARGE, detail=f"{len(data)} bytes, the limit is {MAX_EVENT_BYTES}")
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeError, RecursionError) as exc:
        # UnicodeError: msgspec checks UTF-8 lazily, string by string, and raises it unwrapped.
        # RecursionError: msgspec bounds nesting by the interpreter's recursion limit; `[` * 1000 is 1 KB.
        return _diagnose(data, str(exc))


def encode(event: Event) -> bytes:
    """Canonical bytes of an event: UTF-8 JSON, keys sorted, no whitespace, every field present."""
    return _ENCODER.encode(event)


def _diagnose(data: bytes, typed_error: str) -> Rejection:
    """Name the first thing wrong with a message the typed decoder refused (slow path, rejects only)."""
    try:
        raw = _RAW_DECODER.decode(data)
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        return Rejection(reason=RejectReason.MALFORMED_JSON, detail=str(exc))
    if not isinstance(raw, dict):
        return Rejection(reason=RejectReason.NOT_AN_OBJECT, detail=f"top level is {type(raw).__name__}")
    # The envelope decides how to read the rest, so its faults are reported first, version first:
    # a v2 message may legitimately lack anything v1 requires.
    for key, is_valid, reason, expected in _ENVELOPE_CHECKS:
        if key not in raw:
            return Rejection(reason=RejectReason.MISSING_FIELD, detail=f"missing `{key}`", field=key)
        if not is_valid(raw[key]):
            return Rejection(reason=reason, detail=f"{key}={raw[key]!r}, expected {expected}", field=key)
    return _field_rejection(typed_error)


_ENVELOPE_CHECKS: Final[tuple[tuple[str, Callable[[object], bool], RejectReason, str], ...]] = (
    ("v", lambda v: type(v) is int and v == SCHEMA_VERSION, RejectReason.UNKNOWN_VERSION, str(SCHEMA_VERSION)),
    # isinstance first: `t in EVENT_TYPES` hashes t, and a JSON array or object is unhashable.
    (
        "type",
        lambda t: isinstance(t, str) and t in EVENT_TYPES,
        RejectReason.UNKNOWN_TYPE,
        f"one of {sorted(EVENT_TYPES)}",
    ),
    (
        "device_id",
        lambda d: isinstance(d, str) and _DEVICE_ID_RE.match(d) is not None,
        RejectReason.BAD_DEVICE_ID,
        f"a string matching {DEVICE_ID_PATTERN}",
    ),
)


def _field_rejection(typed_error: str) -> Rejection:
    """Turn msgspec's validation message into a missing- or invalid-field rejection with its path."""
    at = _AT_PATH_RE.search(typed_error)
    parent = at.group("path").lstrip(".") if at else ""
    missing = _MISSING_RE.match(typed_error)
    if missing:
        field = f"{parent}.{missing.group('field')}" if parent else missing.group("field")
        return Rejection(reason=RejectReason.MISSING_FIELD, detail=typed_error, field=field)
    return Rejection(reason=RejectReason.INVALID_FIELD, detail=typed_error, field=parent or None)
