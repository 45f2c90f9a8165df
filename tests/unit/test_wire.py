"""Wire contract v1: what ``netdown.wire.decode`` accepts, what it refuses and why, and what ``encode`` writes."""

from __future__ import annotations

import json
from typing import Any, Final, NamedTuple, get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdown import wire
from netdown.testing import events, json_values, sample_event
from netdown.wire import Rejection, RejectReason

EVENT_CLASSES: Final[dict[str, type[msgspec.Struct]]] = {
    str(cls.__struct_config__.tag): cls for cls in get_args(wire.Event)
}
EVENT_TYPES: Final = tuple(EVENT_CLASSES)
PROPERTY_SETTINGS: Final = settings(max_examples=250, deadline=None)
DELETE: Final = object()  # as a value for `_edited`: remove the field instead of replacing it


def _edited(event: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """``event`` with the field at ``path`` (keys and list indexes) replaced by ``value``, or removed by DELETE."""
    parent: Any = event
    for step in path[:-1]:
        parent = parent[step]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return event


def _sample_with(event_type: wire.EventType, path: tuple[str | int, ...], value: object) -> bytes:
    """The encoded sample event with one field replaced or removed: the input of a precise rejection."""
    return msgspec.json.encode(_edited(sample_event(event_type), path, value))


def _padded_to(size: int) -> bytes:
    """A valid path event grown to exactly ``size`` bytes by an unknown field, to probe the size limit."""
    unpadded = len(msgspec.json.encode(sample_event("path", padding="")))
    return msgspec.json.encode(sample_event("path", padding="x" * (size - unpadded)))


def _accepted(data: bytes) -> wire.Event:
    """Decode a message the test expects to be valid, failing with the rejection when it is not."""
    result = wire.decode(data)
    assert not isinstance(result, Rejection), result
    return result


def _assert_total(data: bytes) -> None:
    """The decoder's promise for any input: no exception, an event that re-encodes stably, or a rejection."""
    result = wire.decode(data)
    if isinstance(result, Rejection):
        assert isinstance(result.reason, RejectReason)
        assert result.detail
    else:
        assert isinstance(result, tuple(EVENT_CLASSES.values()))
        assert wire.decode(wire.encode(result)) == result


# --- accepted events ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_event_type_decodes_to_its_class_with_every_field_value(event_type: wire.EventType) -> None:
    sample = sample_event(event_type)

    event = _accepted(msgspec.json.encode(sample))

    assert type(event) is EVENT_CLASSES[event_type]
    assert wire.event_type(event) == event_type
    # Through stdlib json: tuples become arrays, so the event compares with the object it was decoded from.
    assert json.loads(json.dumps(msgspec.to_builtins(event))) == sample


def test_nested_objects_decode_to_their_structs() -> None:
    path = _accepted(msgspec.json.encode(sample_event("path")))
    conn = _accepted(msgspec.json.encode(sample_event("conn")))
    heartbeat = _accepted(msgspec.json.encode(sample_event("heartbeat")))

    assert isinstance(path, wire.PathEvent)
    assert path.interfaces == (wire.Interface(name="en0", type="wifi"), wire.Interface(name="utun3", type="tunnel"))
    assert isinstance(conn, wire.ConnEvent)
    assert conn.error == wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN")
    assert isinstance(heartbeat, wire.HeartbeatEvent)
    assert heartbeat.facts.network_extensions[0] == wire.NetworkExtension(
        id="com.example.vpn.tunnel", kind="packet_tunnel"
    )
    assert heartbeat.facts.vpn == wire.VpnFlags(include_all_networks=True, enforce_routes=False)
    assert heartbeat.spool == wire.SpoolState(
        pending=3, dropped=0, lost=wire.SpoolLoss(bound=4, corrupt=1, write_failed=2)
    )


def test_a_heartbeat_from_an_agent_without_spool_losses_still_decodes() -> None:
    """``spool.lost`` came after v1's first agents: a heartbeat without it is valid, its losses unknown."""
    sample = sample_event("heartbeat")
    sample["spool"] = {"pending": 3, "dropped": 0}
    heartbeat = _accepted(msgspec.json.encode(sample))
    assert isinstance(heartbeat, wire.HeartbeatEvent)
    assert heartbeat.spool.lost is None


def _source_health(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "role": "system_path",
        "running": False,
        "events": 12,
        "errors": {"reading": 3, "parsing": 0, "sending": 0},
        "last_success_ms": 1_700_000_000_000,
    }


def test_a_heartbeat_carries_its_sources_health() -> None:
    heartbeat = _accepted(msgspec.json.encode(sample_event("heartbeat", sources=[_source_health("macos_path")])))
    assert isinstance(heartbeat, wire.HeartbeatEvent)
    assert heartbeat.sources == (
        wire.SourceHealth(
            name="macos_path",
            role="system_path",
            running=False,
            events=12,
            errors=wire.SourceErrors(reading=3, parsing=0, sending=0),
            last_success_ms=1_700_000_000_000,
        ),
    )


def test_sources_health_is_forward_compatible_both_ways() -> None:
    """An agent before ``sources`` sends none (an empty tuple); a worker before it decodes a heartbeat that has it."""

    class HeartbeatBefore(msgspec.Struct, tag="heartbeat", tag_field="type"):
        uptime_s: int
        facts: wire.Facts
        spool: wire.SpoolState

    sample = sample_event("heartbeat", sources=[_source_health("macos_path")])
    before = msgspec.json.decode(msgspec.json.encode(sample), type=HeartbeatBefore)
    assert before.uptime_s == sample["uptime_s"]
    sample.pop("sources")
    heartbeat = _accepted(msgspec.json.encode(sample))
    assert isinstance(heartbeat, wire.HeartbeatEvent)
    assert heartbeat.sources == ()


def test_a_heartbeat_with_more_sources_than_the_bound_is_refused() -> None:
    sources = [_source_health(f"source{index}") for index in range(wire.MAX_SOURCES + 1)]
    result = wire.decode(msgspec.json.encode(sample_event("heartbeat", sources=sources)))
    assert isinstance(result, Rejection)
    assert (result.reason, result.field) == (RejectReason.INVALID_FIELD, "sources")


def test_unknown_fields_are_ignored_at_every_level() -> None:
    sample = sample_event("heartbeat", future_field={"anything": [1, 2]})
    sample["facts"]["kernel_extensions"] = ["com.example.kext"]
    sample["facts"]["network_extensions"][0]["team_id"] = "ABCDE12345"

    event = _accepted(msgspec.json.encode(sample))

    assert event == _accepted(msgspec.json.encode(sample_event("heartbeat")))


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_absent_optional_fields_take_their_defaults(event_type: wire.EventType) -> None:
    # A system observer needs no `app`, so every optional field of every type can be left out.
    sample = sample_event(event_type, observer="system") if event_type == "path" else sample_event(event_type)
    optional = [field for field in msgspec.structs.fields(EVENT_CLASSES[event_type]) if not field.required]
    for field in optional:
        del sample[field.name]

    event = _accepted(msgspec.json.encode(sample))

    assert {field.name: getattr(event, field.name) for field in optional} == {
        field.name: field.default for field in optional
    }


def test_absent_nested_optional_fields_take_their_defaults() -> None:
    event = _accepted(_sample_with("heartbeat", ("facts",), {}))

    assert isinstance(event, wire.HeartbeatEvent)
    assert event.facts == wire.Facts(network_extensions=(), vpn=None)


def test_a_message_of_exactly_64_kib_is_accepted() -> None:
    data = _padded_to(wire.MAX_EVENT_BYTES)

    assert len(data) == 65536
    assert isinstance(_accepted(data), wire.PathEvent)


# --- rejections --------------------------------------------------------------------------------------------------


class RejectCase(NamedTuple):
    """One input and the rejection it must produce."""

    id: str
    data: bytes
    reason: RejectReason
    field: str | None


VALID_PATH: Final = msgspec.json.encode(sample_event("path"))

REJECT_CASES: Final = [
    RejectCase("65537 bytes", _padded_to(wire.MAX_EVENT_BYTES + 1), RejectReason.TOO_LARGE, None),
    RejectCase("truncated", VALID_PATH[:-1], RejectReason.MALFORMED_JSON, None),
    RejectCase("empty", b"", RejectReason.MALFORMED_JSON, None),
    RejectCase("invalid UTF-8", VALID_PATH.replace(b'"14.4.1"', b'"14.4.\xff"'), RejectReason.MALFORMED_JSON, None),
    RejectCase("nested too deep", b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}", RejectReason.MALFORMED_JSON, None),
    RejectCase("array", b"[]", RejectReason.NOT_AN_OBJECT, None),
    RejectCase("string", b'"path"', RejectReason.NOT_AN_OBJECT, None),
    RejectCase("null", b"null", RejectReason.NOT_AN_OBJECT, None),
    RejectCase("v=2", _sample_with("path", ("v",), 2), RejectReason.UNKNOWN_VERSION, "v"),
    RejectCase('v="1"', _sample_with("path", ("v",), "1"), RejectReason.UNKNOWN_VERSION, "v"),
    RejectCase("v=true", _sample_with("path", ("v",), True), RejectReason.UNKNOWN_VERSION, "v"),
    RejectCase("v=1.0", _sample_with("path", ("v",), 1.0), RejectReason.UNKNOWN_VERSION, "v"),
    RejectCase("type=alert", _sample_with("path", ("type",), "alert"), RejectReason.UNKNOWN_TYPE, "type"),
    RejectCase("type=[]", _sample_with("path", ("type",), []), RejectReason.UNKNOWN_TYPE, "type"),
    RejectCase(
        "device_id too short", _sample_with("path", ("device_id",), "mac-123"), RejectReason.BAD_DEVICE_ID, "device_id"
    ),
    RejectCase(
        "device_id too long", _sample_with("path", ("device_id",), "m" * 65), RejectReason.BAD_DEVICE_ID, "device_id"
    ),
    RejectCase(
        "device_id bad char",
        _sample_with("path", ("device_id",), "mac/4f2a9c1e"),
        RejectReason.BAD_DEVICE_ID,
        "device_id",
    ),
    RejectCase(
        "device_id newline",
        _sample_with("path", ("device_id",), "mac-4f2a9c1e\n"),
        RejectReason.BAD_DEVICE_ID,
        "device_id",
    ),
    RejectCase(
        "device_id number", _sample_with("path", ("device_id",), 12345678), RejectReason.BAD_DEVICE_ID, "device_id"
    ),
    RejectCase("no v", _sample_with("path", ("v",), DELETE), RejectReason.MISSING_FIELD, "v"),
    RejectCase("no boot_id", _sample_with("conn", ("boot_id",), DELETE), RejectReason.MISSING_FIELD, "boot_id"),
    RejectCase("no conn_id", _sample_with("conn", ("conn_id",), DELETE), RejectReason.MISSING_FIELD, "conn_id"),
    RejectCase(
        "no extension kind",
        _sample_with("heartbeat", ("facts", "network_extensions", 0, "kind"), DELETE),
        RejectReason.MISSING_FIELD,
        "facts.network_extensions[0].kind",
    ),
    RejectCase("observer=app, no app", _sample_with("path", ("app",), DELETE), RejectReason.MISSING_FIELD, "app"),
    RejectCase("observer=app, null app", _sample_with("path", ("app",), None), RejectReason.MISSING_FIELD, "app"),
    RejectCase("ipv4 a string", _sample_with("path", ("ipv4",), "yes"), RejectReason.INVALID_FIELD, "ipv4"),
    RejectCase("status not allowed", _sample_with("path", ("status",), "online"), RejectReason.INVALID_FIELD, "status"),
    RejectCase("negative seq", _sample_with("path", ("seq",), -1), RejectReason.INVALID_FIELD, "seq"),
    RejectCase("empty event_id", _sample_with("path", ("event_id",), ""), RejectReason.INVALID_FIELD, "event_id"),
    RejectCase(
        "long os_version", _sample_with("path", ("os_version",), "1" * 513), RejectReason.INVALID_FIELD, "os_version"
    ),
    RejectCase(
        "interface type not allowed",
        _sample_with("path", ("interfaces", 1, "type"), "bluetooth"),
        RejectReason.INVALID_FIELD,
        "interfaces[1].type",
    ),
    RejectCase(
        "error code a string", _sample_with("conn", ("error", "code"), "50"), RejectReason.INVALID_FIELD, "error.code"
    ),
    RejectCase(
        "negative latency", _sample_with("probe", ("latency_ms",), -0.5), RejectReason.INVALID_FIELD, "latency_ms"
    ),
    RejectCase(
        "spool not an object", _sample_with("heartbeat", ("spool",), [3, 0]), RejectReason.INVALID_FIELD, "spool"
    ),
]


@pytest.mark.parametrize("case", REJECT_CASES, ids=[case.id for case in REJECT_CASES])
def test_each_fault_is_rejected_with_its_reason_and_field(case: RejectCase) -> None:
    result = wire.decode(case.data)

    assert isinstance(result, Rejection)
    assert (result.reason, result.field) == (case.reason, case.field), result.detail
    assert result.detail


def test_every_reject_reason_is_proven_by_a_case() -> None:
    assert {case.reason for case in REJECT_CASES} == set(RejectReason)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"v": 2}, RejectReason.UNKNOWN_VERSION),
        ({"v": 2, "type": "alert", "device_id": 1}, RejectReason.UNKNOWN_VERSION),
        ({"v": 1, "type": "alert", "device_id": 1}, RejectReason.UNKNOWN_TYPE),
        ({"v": 1, "type": "path", "device_id": 1}, RejectReason.BAD_DEVICE_ID),
        ({"v": 1, "type": "path", "device_id": "mac-4f2a9c1e7b3d"}, RejectReason.MISSING_FIELD),
    ],
    ids=["version alone", "version before type", "type before device_id", "device_id before body", "body last"],
)
def test_envelope_faults_are_reported_first_version_first(message: dict[str, Any], reason: RejectReason) -> None:
    result = wire.decode(msgspec.json.encode(message))

    assert isinstance(result, Rejection)
    assert result.reason == reason


# --- canonical encoding ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_encode_is_canonical_sorted_keys_and_no_whitespace(event_type: wire.EventType) -> None:
    encoded = wire.encode(_accepted(msgspec.json.encode(sample_event(event_type))))

    canonical = json.dumps(json.loads(encoded), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert encoded == canonical.encode()


def test_encode_writes_null_fields() -> None:
    sample = sample_event("path", observer="system")
    del sample["app"], sample["reason"]

    encoded = wire.encode(_accepted(msgspec.json.encode(sample)))

    assert b'"app":null' in encoded
    assert b'"reason":null' in encoded


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_decode_encode_cycles_are_byte_identical(event_type: wire.EventType) -> None:
    # Reversed key order, spaces and an unknown field: everything canonical encoding must erase.
    sample = sample_event(event_type, unknown="dropped")
    producer_bytes = json.dumps(dict(reversed(sample.items())), indent=1).encode()

    first = wire.encode(_accepted(producer_bytes))
    second = wire.encode(_accepted(first))

    assert first == second
    assert b"unknown" not in first


# --- properties --------------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(events())
def test_generated_events_round_trip_exactly(event: wire.Event) -> None:
    encoded = wire.encode(event)

    decoded = wire.decode(encoded)

    assert decoded == event
    assert wire.encode(_accepted(encoded)) == encoded


def _corrupted(valid: bytes) -> st.SearchStrategy[bytes]:
    """``valid`` with one random slice replaced by random bytes: near misses, not just noise."""
    return st.tuples(st.integers(0, len(valid)), st.integers(0, 8), st.binary(max_size=8)).map(
        lambda cut: valid[: cut[0]] + cut[2] + valid[cut[0] + cut[1] :]
    )


@PROPERTY_SETTINGS
@given(st.binary(max_size=2048) | _corrupted(VALID_PATH) | _corrupted(msgspec.json.encode(sample_event("heartbeat"))))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    _assert_total(data)


@PROPERTY_SETTINGS
@given(json_values())
def test_arbitrary_json_values_never_raise(value: Any) -> None:
    _assert_total(msgspec.json.encode(value))


def _field_paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path into a JSON value (object keys, array indexes), so a test can aim at a field at any depth."""
    if isinstance(value, dict):
        children: Any = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return []
    paths: list[tuple[str | int, ...]] = []
    for key, child in children:
        paths += [(*prefix, key), *_field_paths(child, (*prefix, key))]
    return paths


@st.composite
def _events_with_one_field_replaced(draw: st.DrawFn) -> bytes:
    """A valid generated event whose one field, at any depth, holds an arbitrary JSON value instead."""
    event = msgspec.to_builtins(draw(events()))
    path = draw(st.sampled_from(_field_paths(event)))
    return msgspec.json.encode(_edited(event, path, draw(json_values())))


@PROPERTY_SETTINGS
@given(_events_with_one_field_replaced())
def test_valid_events_with_one_field_replaced_never_raise(data: bytes) -> None:
    _assert_total(data)
