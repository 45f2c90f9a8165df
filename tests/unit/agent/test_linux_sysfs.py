"""The Linux system view on captured sysfs/procfs trees and on fake ones built per test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netdown import wire
from netdown.agent.sources.base import Observation
from netdown.agent.sources.linux_sysfs import (
    LinuxPathSource,
    classify_link,
    parse_resolv_conf_nameservers,
    read_links,
)
from tests.unit.agent.golden import FIXTURES, as_wire_event, assert_golden, cases, jsonable


@pytest.mark.parametrize("case", cases("linux_sysfs", suffix=""), ids=lambda path: path.name)
def test_linux_path_golden(case: Path) -> None:
    body = LinuxPathSource(root=case).poll()
    assert body is not None
    as_wire_event(body)
    assert_golden(case, body)


def _case(name: str) -> dict[str, Any]:
    return _fields(LinuxPathSource(root=FIXTURES / "linux_sysfs" / name).poll())


def _fields(body: wire.PathBody | None) -> dict[str, Any]:
    """A polled path body as its JSON object (a poll that found no evidence fails the test)."""
    assert body is not None
    fields: dict[str, Any] = jsonable(body)
    return fields


def test_host_with_defaults_on_eth0_is_satisfied_on_both_families() -> None:
    body = _case("host_debian")
    assert (body["status"], body["reason"], body["ipv4"], body["ipv6"], body["dns"]) == (
        "satisfied",
        None,
        True,
        True,
        True,
    )
    assert body["interfaces"] == [{"name": "eth0", "type": "wired"}]  # ifb0/ifb1 are down, lo is left out


def test_veth_taken_down_is_interface_unavailable() -> None:
    body = _case("netns_veth_admin_down")
    assert (body["status"], body["reason"], body["interfaces"]) == ("unsatisfied", "interface_unavailable", [])


def test_veth_back_up_without_its_default_route_is_no_route() -> None:
    body = _case("netns_veth_up_default_route_flushed")
    assert (body["status"], body["reason"]) == ("unsatisfied", "no_route")
    assert body["interfaces"] == [{"name": "veth0", "type": "wired"}]


def test_carrier_lost_with_the_route_kept_is_interface_unavailable() -> None:
    body = _case("netns_peer_down_carrier_lost")
    assert (body["status"], body["reason"]) == ("unsatisfied", "interface_unavailable")


def _link(root: Path, name: str, *, operstate: str, arphrd: int, flags: str = "0x1003", **extra: str) -> None:
    folder = root / "sys/class/net" / name
    folder.mkdir(parents=True)
    for file, text in {"operstate": operstate, "type": str(arphrd), "flags": flags, **extra}.items():
        if file in ("wireless", "tun_flags"):
            (folder / file).mkdir()
        else:
            (folder / file).write_text(text + "\n", encoding="ascii")


def _routes(root: Path, ipv4: str = "", ipv6: str = "") -> None:
    (root / "proc/net").mkdir(parents=True)
    header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    (root / "proc/net/route").write_text(header + ipv4, encoding="ascii")
    (root / "proc/net/ipv6_route").write_text(ipv6, encoding="ascii")


def test_wifi_with_a_default_route_and_a_tunnel_reported_unknown_but_up(tmp_path: Path) -> None:
    _link(tmp_path, "wlan0", operstate="up", arphrd=1, wireless="", uevent="DEVTYPE=wlan")
    _link(tmp_path, "tun0", operstate="unknown", arphrd=65534, flags="0x1091", tun_flags="", carrier="1")
    _link(tmp_path, "lo", operstate="unknown", arphrd=772, flags="0x9")
    _routes(tmp_path, ipv4="wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n")
    body = _fields(LinuxPathSource(root=tmp_path).poll())
    assert body["interfaces"] == [{"name": "tun0", "type": "tunnel"}, {"name": "wlan0", "type": "wifi"}]
    assert (body["status"], body["ipv4"], body["ipv6"], body["dns"]) == ("satisfied", True, False, False)


def test_a_default_route_on_a_down_interface_does_not_count(tmp_path: Path) -> None:
    _link(tmp_path, "eth0", operstate="down", arphrd=1)
    _link(tmp_path, "eth1", operstate="up", arphrd=1)
    _routes(tmp_path, ipv4="eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")
    body = _fields(LinuxPathSource(root=tmp_path).poll())
    assert (body["status"], body["reason"]) == ("unsatisfied", "no_route")


def test_an_empty_root_is_no_evidence(tmp_path: Path) -> None:
    assert LinuxPathSource(root=tmp_path).poll() is None
    assert not LinuxPathSource(root=tmp_path).step(lambda _: None)


def test_a_root_without_interfaces_is_a_reading_error_until_interfaces_appear(tmp_path: Path) -> None:
    source = LinuxPathSource(root=tmp_path, clock=lambda: 2.0)
    source.step(lambda _: None)
    assert (source.health.snapshot().running, source.health.snapshot().errors.reading) == (False, 1)
    _link(tmp_path, "eth0", operstate="up", arphrd=1)
    source.step(lambda _: None)
    health = source.health.snapshot()
    assert (health.running, health.errors.reading, health.last_success_ms) == (True, 1, 2000)


def test_an_interface_that_vanishes_mid_read_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "sys/class/net/gone").mkdir(parents=True)
    _link(tmp_path, "eth0", operstate="up", arphrd=1)
    assert [link.name for link in read_links(tmp_path)] == ["eth0"]


@pytest.mark.parametrize(
    ("name", "arphrd", "devtype", "wireless", "tun", "expected"),
    [
        ("wlp2s0", 1, "wlan", False, False, "wifi"),
        ("wlan0", 1, None, True, False, "wifi"),
        ("wwan0", 519, "wwan", False, False, "cellular"),
        ("lo", 772, None, False, False, "loopback"),
        ("wg0", 65534, "wireguard", False, False, "tunnel"),
        ("tun0", 65534, None, False, True, "tunnel"),
        ("tap0", 1, None, False, True, "tunnel"),
        ("gre1", 778, None, False, False, "tunnel"),
        ("ppp0", 512, None, False, False, "other"),
        ("veth0", 1, None, False, False, "wired"),
        ("br0", 1, "bridge", False, False, "wired"),
        ("ib0", 32, None, False, False, "other"),
    ],
)
def test_link_types(name: str, arphrd: int, devtype: str | None, wireless: bool, tun: bool, expected: str) -> None:
    assert classify_link(name, arphrd, devtype, wireless=wireless, tun=tun) == expected


def test_resolv_conf_nameservers_in_order() -> None:
    text = "# generated\nsearch example.org\nnameserver 192.0.2.53\n  nameserver 2001:db8::53\noptions edns0\n"
    assert parse_resolv_conf_nameservers(text) == ("192.0.2.53", "2001:db8::53")


def test_source_emits_when_the_tree_changes(tmp_path: Path) -> None:
    _link(tmp_path, "eth0", operstate="up", arphrd=1)
    _routes(tmp_path, ipv4="eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")
    source, seen = LinuxPathSource(root=str(tmp_path), clock=lambda: 2.0), list[Observation]()
    source.step(seen.append)
    source.step(seen.append)
    (tmp_path / "sys/class/net/eth0/operstate").write_text("down\n", encoding="ascii")
    source.step(seen.append)
    assert [(o.ts_ms, jsonable(o.body)["status"], jsonable(o.body)["reason"]) for o in seen] == [
        (2000, "satisfied", None),
        (2000, "unsatisfied", "interface_unavailable"),
    ]
