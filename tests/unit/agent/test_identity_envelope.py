"""Device ids are pseudonymous and stable; every observation becomes a valid event with the next seq."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from netdown import wire
from netdown.agent.envelope import Stamper
from netdown.agent.identity import device_id_for, parse_ioreg_platform_uuid, read_hardware_id
from netdown.agent.sources.base import Observation
from netdown.stamping import DeviceIdentity

IOREG = """+-o J314sAP  <class IOPlatformExpertDevice, id 0x100000202, registered, matched, active, busy 0 (0 ms)>
    {
      "IOPlatformSerialNumber" = "C02XXXXXXXXX"
      "IOPlatformUUID" = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
      "model" = <"MacBookPro18,3">
    }
"""
FACTS = DeviceIdentity(
    device_id="mac-0123456789abcdef01234567", boot_id="b1", platform="darwin", os_version="14.4.1", os_build="23E224"
)


def test_device_id_is_a_keyed_hash_matching_the_contract_and_hiding_the_hardware_id() -> None:
    device_id = device_id_for("3F2504E0-4F89-11D3-9A0C-0305E82C3301", b"fleet-key", "darwin")
    assert re.fullmatch(wire.DEVICE_ID_PATTERN, device_id)
    assert device_id == device_id_for("3f2504e0-4f89-11d3-9a0c-0305e82c3301", b"fleet-key", "darwin")
    assert device_id != device_id_for("3F2504E0-4F89-11D3-9A0C-0305E82C3301", b"other-fleet", "darwin")
    assert "3f2504e0" not in device_id.lower()


def test_hardware_ids_are_read_from_ioreg_and_machine_id(tmp_path: Path) -> None:
    assert parse_ioreg_platform_uuid(IOREG) == "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    assert read_hardware_id("darwin", run=lambda _cmd: IOREG) == "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    assert read_hardware_id("linux", root=tmp_path) == "0123456789abcdef0123456789abcdef"


def test_stamped_events_are_valid_with_contiguous_seq_from_where_the_stamper_is_seeded() -> None:
    stamper = Stamper(FACTS, next_seq=41)  # the agent seeds it with its spool's next index
    probe = Observation(ts_ms=1_700_000_000_000, body=wire.ProbeBody(target="10.0.0.1:443", kind="tcp", ok=True))
    events = [stamper.stamp(probe) for _ in range(3)]
    assert [e.seq for e in events] == [41, 42, 43]
    assert all(isinstance(e, wire.ProbeEvent) and e.device_id == FACTS.device_id for e in events)
    assert len({e.event_id for e in events}) == 3


def test_an_observation_that_breaks_the_contract_is_refused_without_using_a_seq() -> None:
    stamper = Stamper(FACTS, next_seq=0)
    with pytest.raises(msgspec.ValidationError):
        # A value from outside (a log, a file) that the type check could not see: refused when stamped.
        stamper.stamp(Observation(ts_ms=1, body=wire.ProbeBody(target="x", kind="icmp", ok=True)))  # type: ignore[arg-type]
    good = stamper.stamp(Observation(ts_ms=1, body=wire.ProbeBody(target="x", kind="dns", ok=False)))
    assert good.seq == 0


def test_every_event_names_the_latest_system_path_numbered_before_it() -> None:
    """``path_seq`` lets the stream job tell a lost path from a loss elsewhere: null until the first system path,
    then that path's seq; an app's path is not the system's."""
    stamper = Stamper(FACTS, next_seq=10)
    probe = Observation(ts_ms=1, body=wire.ProbeBody(target="x", kind="dns", ok=True))
    system = Observation(
        ts_ms=2,
        body=wire.PathBody(
            observer="system",
            status="satisfied",
            interfaces=(wire.Interface(name="en0", type="wifi"),),
            ipv4=True,
            ipv6=False,
            dns=True,
        ),
    )
    app = Observation(
        ts_ms=3,
        body=wire.PathBody(
            observer="app",
            app="com.example.vpn",
            status="unsatisfied",
            interfaces=(),
            ipv4=False,
            ipv6=False,
            dns=False,
        ),
    )
    events = [stamper.stamp(observation) for observation in (probe, system, probe, app, system, probe)]
    assert [(event.seq, event.path_seq) for event in events] == [
        (10, None),
        (11, None),  # a path names the one before it
        (12, 11),
        (13, 11),
        (14, 11),
        (15, 14),
    ]
