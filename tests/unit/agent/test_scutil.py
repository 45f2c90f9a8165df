"""The macOS system view: ``scutil --nwi`` and ``networksetup`` parsers, the path they make, the poller."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from netdown.agent.sources import discover
from netdown.agent.sources.base import Observation
from netdown.agent.sources.routes import parse_route_get
from netdown.agent.sources.scutil import (
    MacPathSource,
    classify_macos_interface,
    parse_networksetup_hardware_ports,
    parse_scutil_nwi,
    system_path_from,
)
from tests.unit.agent.golden import as_wire_event, assert_golden, cases, fixture_text, jsonable


@pytest.mark.parametrize("case", cases("scutil_nwi"), ids=lambda path: path.stem)
def test_scutil_nwi_golden(case: Path) -> None:
    assert_golden(case, parse_scutil_nwi(case.read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", cases("networksetup"), ids=lambda path: path.stem)
def test_networksetup_golden(case: Path) -> None:
    assert_golden(case, parse_networksetup_hardware_ports(case.read_text(encoding="utf-8")))


def test_modern_layout_reads_flags_address_and_vpn_server() -> None:
    nwi = parse_scutil_nwi(fixture_text("scutil_nwi", "c2_modern_utun_primary"))
    (utun,) = nwi.interfaces
    assert (utun.name, utun.family, utun.flags) == ("utun4", "ipv4", ("IPv4", "DNS"))
    assert (utun.address, utun.vpn_server, utun.reachable) == ("198.18.0.1", "254.1.1.1", None)
    assert nwi.recognised
    assert nwi.unrecognised == 1  # the pasted command line


def test_older_layout_reads_generation_and_reachability() -> None:
    nwi = parse_scutil_nwi(fixture_text("scutil_nwi", "c24_older_generation"))
    (en0,) = nwi.interfaces
    assert (en0.name, en0.flags, en0.reachable) == ("en0", ("IPv4", "DNS"), True)
    assert nwi.generation == 375595192471657
    assert (nwi.reach_ipv4, nwi.reach_ipv6) == (True, None)


def test_text_that_is_not_nwi_output_is_not_recognised() -> None:
    nwi = parse_scutil_nwi("scutil: command not found\n")
    assert not nwi.recognised
    assert nwi.unrecognised == 1


def test_hardware_ports_give_link_types_and_skip_ports_without_a_device() -> None:
    ports = parse_networksetup_hardware_ports(fixture_text("networksetup", "synth_laptop_with_dock"))
    types = {port.device: port.type for port in ports}
    assert types == {
        "en0": "wifi",
        "bridge0": "wired",
        "en1": "wired",
        "en8": "wired",
        "en7": "wired",
        "en6": "wired",
        "en9": "other",
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("utun3", "tunnel"),
        ("ipsec0", "tunnel"),
        ("ppp0", "tunnel"),
        ("pdp_ip0", "cellular"),
        ("lo0", "loopback"),
        ("en0", "other"),
        ("awdl0", "other"),
        ("bridge100", "other"),
    ],
)
def test_interface_type_from_name_when_no_hardware_port_lists_it(name: str, expected: str) -> None:
    assert classify_macos_interface(name, {}) == expected


def test_hardware_port_wins_over_the_name() -> None:
    assert classify_macos_interface("en0", {"en0": "wifi"}) == "wifi"


_DEFAULT_EN0 = parse_route_get(fixture_text("route_get", "c6_route_get_0_default_en0"))
_NO_ROUTE = parse_route_get(fixture_text("route_get", "synth_no_default_route"))


def test_vpn_and_wifi_with_a_default_route_is_satisfied_in_rank_order() -> None:
    nwi = parse_scutil_nwi(fixture_text("scutil_nwi", "synth_wifi_and_vpn_dual_stack"))
    body = system_path_from(nwi, [_DEFAULT_EN0, _NO_ROUTE], {"en0": "wifi"})
    assert jsonable(body) == {
        "observer": "system",
        "app": None,
        "status": "satisfied",
        "reason": None,
        "interfaces": [{"name": "utun3", "type": "tunnel"}, {"name": "en0", "type": "wifi"}],
        "ipv4": True,
        "ipv6": True,
        "dns": True,
    }
    as_wire_event(body)


def test_interfaces_without_a_default_route_are_no_route() -> None:
    nwi = parse_scutil_nwi(fixture_text("scutil_nwi", "c24_older_generation"))
    body = jsonable(system_path_from(nwi, [_NO_ROUTE, _NO_ROUTE], {"en0": "wifi"}))
    assert (body["status"], body["reason"]) == ("unsatisfied", "no_route")
    assert body["interfaces"] == [{"name": "en0", "type": "wifi"}]


def test_no_interface_is_interface_unavailable() -> None:
    nwi = parse_scutil_nwi(fixture_text("scutil_nwi", "synth_no_network"))
    body = system_path_from(nwi, [_NO_ROUTE, _NO_ROUTE], {})
    assert body.status == "unsatisfied"
    assert body.reason == "interface_unavailable"
    assert (body.interfaces, body.ipv4, body.ipv6, body.dns) == ((), False, False, False)
    as_wire_event(body)


def test_an_interface_nwi_calls_unreachable_is_not_usable() -> None:
    nwi = parse_scutil_nwi(
        "Network information\n\nIPv4 network interface information\n"
        "     en0 : flags      : 0x5 (IPv4,DNS)\n           reach      : 0x00000000 (Not Reachable)\n"
    )
    assert system_path_from(nwi, [_DEFAULT_EN0], {}).reason == "interface_unavailable"


class _FakeMac:
    """Command outputs a test changes between polls; counts networksetup reads."""

    def __init__(self) -> None:
        self.nwi = fixture_text("scutil_nwi", "c24_older_generation")
        self.route4 = fixture_text("route_get", "c6_route_get_0_default_en0")
        self.hardware_reads = 0

    def __call__(self, argv: Sequence[str]) -> str:
        if argv[-1] == "--nwi":
            return self.nwi
        if argv[-1] == "-listallhardwareports":
            self.hardware_reads += 1
            return fixture_text("networksetup", "synth_laptop_with_dock")
        return self.route4 if "-inet6" not in argv else fixture_text("route_get", "synth_no_default_route")


def test_poller_emits_on_change_only_with_the_clock_time() -> None:
    mac, now, seen = _FakeMac(), [1_700_000_000.0], list[Observation]()
    source = MacPathSource(interval_s=1, run=mac, clock=lambda: now[0])
    assert source.step(seen.append)
    now[0] += 1
    assert not source.step(seen.append)  # same path, another poll: nothing
    mac.route4 = fixture_text("route_get", "synth_no_default_route")
    now[0] += 1
    assert source.step(seen.append)
    assert [(o.type, o.ts_ms, jsonable(o.body)["status"], jsonable(o.body)["reason"]) for o in seen] == [
        ("path", 1_700_000_000_000, "satisfied", None),
        ("path", 1_700_000_002_000, "unsatisfied", "no_route"),
    ]
    assert jsonable(seen[0].body)["interfaces"] == [{"name": "en0", "type": "wifi"}]


def test_poller_emits_nothing_when_scutil_prints_no_nwi() -> None:
    mac, seen = _FakeMac(), list[Observation]()
    mac.nwi = "scutil: command not found\n"
    assert not MacPathSource(run=mac).step(seen.append)
    assert seen == []


def test_poller_survives_a_missing_command() -> None:
    def missing(argv: Sequence[str]) -> str:
        raise FileNotFoundError(argv[0])

    assert not MacPathSource(run=missing).step(lambda _: None)


def test_a_missing_or_hung_command_is_not_running_with_reading_errors_until_a_poll_succeeds() -> None:
    mac, now = _FakeMac(), [1_700_000_000.0]
    broken: list[BaseException] = []

    def run(argv: Sequence[str]) -> str:
        if broken:
            raise broken[0]
        return mac(argv)

    source = MacPathSource(run=run, clock=lambda: now[0])
    broken.append(FileNotFoundError("/usr/sbin/scutil"))
    readings = []
    for _ in range(3):
        source.step(lambda _: None)
        readings.append((source.health.snapshot().running, source.health.snapshot().errors.reading))
    assert readings == [(False, 1), (False, 2), (False, 3)]
    broken[0] = subprocess.TimeoutExpired("/sbin/route", 10)
    source.step(lambda _: None)
    assert source.health.snapshot().errors.reading == 4, "a hung command is a reading error too"
    broken.clear()
    now[0] += 2
    source.step(lambda _: None)
    health = source.health.snapshot()
    assert (health.running, health.errors.reading, health.last_success_ms) == (True, 4, 1_700_000_002_000)


def test_nwi_output_not_recognised_is_a_parsing_error() -> None:
    mac = _FakeMac()
    mac.nwi = "scutil: unexpected\n"
    source = MacPathSource(run=mac)
    source.step(lambda _: None)
    health = source.health.snapshot()
    assert (health.role, health.running, health.errors.parsing, health.last_success_ms) == (
        "system_path",
        True,
        1,
        None,
    )


def test_hardware_ports_are_read_once_then_only_for_an_unknown_adapter_after_the_refresh_time() -> None:
    mac, now = _FakeMac(), [0.0]
    source = MacPathSource(run=mac, clock=lambda: now[0], hardware_refresh_s=600)
    source.step(lambda _: None)
    mac.nwi = fixture_text("scutil_nwi", "c2_modern_utun_primary")  # a tunnel: typed by its name
    source.step(lambda _: None)
    mac.nwi = mac.nwi.replace("utun4", "en5")  # a new adapter
    source.step(lambda _: None)
    assert mac.hardware_reads == 1  # not yet: rate-limited
    now[0] = 601
    source.step(lambda _: None)
    assert mac.hardware_reads == 2


def test_the_sources_register_themselves() -> None:
    registry = discover()
    assert {"macos_path", "linux_path", "probes"} <= registry.keys()
    assert registry["macos_path"] is MacPathSource
