"""Test helpers for the wire contract: realistic valid events and Hypothesis strategies.

Shipped inside the package so every suite (unit, integration, a consumer's own tests) and the
benchmarks build events the same way. The strategies are derived from :mod:`netdown.wire`'s own
type information, so a field, a bound or an allowed value added to the contract is generated
without an edit here.

Importing this module imports Hypothesis, which is a development dependency (``netdown[dev]``):
production code never imports :mod:`netdown.testing`.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import msgspec
from hypothesis import reject
from hypothesis import strategies as st
from msgspec import inspect as mi

from netdown import wire
from netdown.stamping import DeviceIdentity, stamp

__all__ = ["SAMPLE_BODIES", "SAMPLE_IDENTITY", "events", "json_values", "sample_event"]

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
        case mi.VarTupleType(item_type=item, min_length=None, max_length=None):
            return st.lists(_from_type_info(item), max_size=_MAX_ITEMS).map(tuple)
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
