"""The one stamper: a typed body and a device's identity make a validated wire event, or a refusal naming the field."""

from __future__ import annotations

import re

import msgspec
import pytest

from netdown import wire
from netdown.agent.envelope import Stamper
from netdown.agent.sources.base import Observation
from netdown.stamping import DeviceIdentity, stamp
from netdown.testing import SAMPLE_BODIES, SAMPLE_IDENTITY
from netdown.version import __version__

IDENTITY = DeviceIdentity(
    device_id="mac-0123456789abcdef01234567", boot_id="b1", platform="darwin", os_version="15.1", os_build="24B83"
)
PROBE = wire.ProbeBody(target="10.0.0.1:443", kind="tcp", ok=True, latency_ms=12.5, interface="en0")


def test_the_event_carries_the_identity_the_numbers_and_every_field_of_the_body() -> None:
    event = stamp(IDENTITY, PROBE, seq=7, ts_ms=1_732_540_800_123, event_id="e-7")
    assert isinstance(event, wire.ProbeEvent)
    assert (event.v, event.event_id, event.seq, event.ts_ms) == (wire.SCHEMA_VERSION, "e-7", 7, 1_732_540_800_123)
    assert (event.device_id, event.boot_id, event.platform, event.os_version, event.os_build) == (
        "mac-0123456789abcdef01234567",
        "b1",
        "darwin",
        "15.1",
        "24B83",
    )
    assert event.agent_version == __version__, "the agent's own version, unless an identity says otherwise"
    assert {name: getattr(event, name) for name in PROBE.__struct_fields__} == msgspec.structs.asdict(PROBE)


@pytest.mark.parametrize("event_type", sorted(wire.EVENT_TYPES))
def test_every_body_becomes_the_event_of_its_type_and_decodes_back_to_itself(event_type: wire.EventType) -> None:
    body = SAMPLE_BODIES[event_type]
    event = stamp(SAMPLE_IDENTITY, body, seq=0, ts_ms=0, event_id="e")
    assert wire.event_type(event) == wire.body_type(body) == event_type
    assert wire.decode(wire.encode(event)) == event


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (msgspec.structs.replace(PROBE, target="x" * 513), "$.target"),  # a length only the contract bounds
        (msgspec.structs.replace(PROBE, latency_ms=-1.0), "$.latency_ms"),
        (  # nested: a Struct's constructor checks nothing, so the stamper checks the plain values
            wire.PathBody(
                observer="system",
                status="satisfied",
                interfaces=(wire.Interface(name="", type="wifi"),),
                ipv4=True,
                ipv6=True,
                dns=True,
            ),
            "$.interfaces[0].name",
        ),
        (msgspec.structs.replace(PROBE, kind="icmp"), "$.kind"),  # what a typed source cannot say, an untyped one can
    ],
)
def test_a_body_that_breaks_the_contract_is_refused_naming_the_field(body: wire.Body, field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=re.escape(f"at `{field}`")):
        stamp(IDENTITY, body, seq=0, ts_ms=0, event_id="e")


def test_an_identity_that_breaks_the_contract_is_refused_too() -> None:
    bad = DeviceIdentity(device_id="short", boot_id="b1", platform="darwin", os_version="", os_build="")
    with pytest.raises(msgspec.ValidationError, match=r"\$\.device_id"):
        stamp(bad, PROBE, seq=0, ts_ms=0, event_id="e")
    with pytest.raises(msgspec.ValidationError, match=r"\$\.seq"):
        stamp(IDENTITY, PROBE, seq=-1, ts_ms=0, event_id="e")


def test_the_agents_stamper_advances_seq_only_for_the_events_it_makes() -> None:
    stamper = Stamper(IDENTITY, next_seq=5)
    first = stamper.stamp(Observation(ts_ms=1, body=PROBE))
    with pytest.raises(msgspec.ValidationError):
        stamper.stamp(Observation(ts_ms=2, body=msgspec.structs.replace(PROBE, latency_ms=-1.0)))
    second = stamper.stamp(Observation(ts_ms=3, body=PROBE, event_id="named-by-the-source"))
    assert (first.seq, second.seq) == (5, 6)
    assert second.event_id == "named-by-the-source"
    assert first.event_id != second.event_id
