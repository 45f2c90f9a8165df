"""Heartbeat facts: system extensions, VPN services, the NE configuration store, uptime and boot id."""

from __future__ import annotations

import plistlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from netdown import wire
from netdown.agent.facts import (
    NE_CONFIGURATION_PLIST,
    facts_from,
    parse_boot_id,
    parse_kern_boottime,
    parse_ne_configurations,
    parse_proc_uptime,
    parse_scutil_nc_list,
    parse_systemextensionsctl,
    read_boot_id,
    read_facts,
    read_uptime_s,
)
from tests.unit.agent.golden import FIXTURES, as_wire_event, assert_golden, cases, fixture_text, jsonable

_NE_PLIST = FIXTURES / "ne_configuration/synth_tunnel_filter_proxy.plist"


@pytest.mark.parametrize("case", cases("systemextensionsctl"), ids=lambda path: path.stem)
def test_systemextensionsctl_golden(case: Path) -> None:
    assert_golden(case, parse_systemextensionsctl(case.read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", cases("scutil_nc_list"), ids=lambda path: path.stem)
def test_scutil_nc_list_golden(case: Path) -> None:
    assert_golden(case, parse_scutil_nc_list(case.read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", cases("ne_configuration", suffix=".plist"), ids=lambda path: path.stem)
def test_ne_configuration_golden(case: Path) -> None:
    assert_golden(case, parse_ne_configurations(case.read_bytes()))


def test_both_systemextensionsctl_layouts_list_lulu_as_a_running_network_extension() -> None:
    for case in ("c1_lulu_macos11", "c10_lulu_macos15_settings_hint"):
        (lulu,) = parse_systemextensionsctl(fixture_text("systemextensionsctl", case)).extensions
        assert lulu.bundle_id == "com.objective-see.lulu.extension"
        assert (lulu.team_id, lulu.enabled, lulu.active, lulu.state) == ("VBG97UB4TA", True, True, "activated enabled")
        assert lulu.running_network_extension


def test_an_extension_waiting_for_the_user_is_not_running() -> None:
    (row,) = parse_systemextensionsctl(fixture_text("systemextensionsctl", "s8_collapsed_waiting_for_user")).extensions
    assert (row.bundle_id, row.version, row.name, row.state) == (
        "com.objective-see.lulu.extension",
        "4.4.0/4.4.0",
        "LuLu",
        "activated waiting for user",
    )
    assert not row.running_network_extension


def test_a_sandboxed_systemextensionsctl_is_unreadable_not_empty() -> None:
    parsed = parse_systemextensionsctl(fixture_text("systemextensionsctl", "c12_sandbox_error"))
    assert not parsed.readable
    assert parsed.extensions == ()
    assert parsed.error is not None
    assert "list command failed" in parsed.error


def test_nc_list_reads_status_kind_name_and_the_ne_providers_app() -> None:
    (tailscale,) = parse_scutil_nc_list(fixture_text("scutil_nc_list", "c18_tailscale_connected")).services
    assert (tailscale.status, tailscale.service_id, tailscale.kind, tailscale.name, tailscale.provider) == (
        "Connected",
        "[uuid here]",
        "VPN (io.tailscale.ipn.macsys)",
        "Tailscale",
        "io.tailscale.ipn.macsys",
    )
    (l2tp,) = parse_scutil_nc_list(fixture_text("scutil_nc_list", "c20_l2tp")).services
    assert (l2tp.kind, l2tp.type, l2tp.provider, l2tp.enabled) == ("PPP --> L2TP", "PPP:L2TP", None, True)
    assert parse_scutil_nc_list(fixture_text("scutil_nc_list", "c19_empty")).services == ()


def test_the_ne_store_reads_the_same_from_binary_and_from_plutil_xml() -> None:
    def to_uids(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"CF$UID"}:
                return plistlib.UID(value["CF$UID"])
            return {key: to_uids(item) for key, item in value.items()}
        if isinstance(value, list):
            return [to_uids(item) for item in value]
        return value

    binary = plistlib.dumps(to_uids(plistlib.loads(_NE_PLIST.read_bytes())), fmt=plistlib.FMT_BINARY)
    assert parse_ne_configurations(binary) == parse_ne_configurations(_NE_PLIST.read_bytes())


def test_the_ne_store_gives_provider_kinds_and_the_tunnels_flags() -> None:
    by_provider = {c.provider: c for c in parse_ne_configurations(_NE_PLIST.read_bytes())}
    tunnel = by_provider["com.example.vpn.tunnel"]
    assert (tunnel.kind, tunnel.include_all_networks, tunnel.enforce_routes, tunnel.exclude_local_networks) == (
        "packet_tunnel",
        True,
        False,
        True,
    )
    assert by_provider["com.objective-see.lulu.extension"].kind == "content_filter"
    assert by_provider["com.example.proxy.extension"].kind == "transparent_proxy"


def test_a_plain_dictionary_plist_and_garbage() -> None:
    plain = plistlib.dumps({"Cfg": {"Name": "X", "DNSProxy": {"ProviderBundleIdentifier": "com.example.dns"}}})
    (config,) = parse_ne_configurations(plain)
    assert (config.kind, config.provider, config.include_all_networks) == ("dns_proxy", "com.example.dns", None)
    with pytest.raises(ValueError, match="not a property list"):
        parse_ne_configurations(b"\x00 not a plist")


_LULU = parse_systemextensionsctl(fixture_text("systemextensionsctl", "c1_lulu_macos11"))


def test_facts_take_kinds_from_the_ne_store() -> None:
    facts = facts_from(_LULU, parse_ne_configurations(_NE_PLIST.read_bytes()), None, "com.example.vpn.tunnel")
    assert jsonable(facts) == {
        "network_extensions": [{"id": "com.objective-see.lulu.extension", "kind": "content_filter"}],
        "vpn": {"include_all_networks": True, "enforce_routes": False, "exclude_local_networks": True},
    }
    as_wire_event(wire.HeartbeatBody(uptime_s=10, facts=facts, spool=wire.SpoolState(pending=0, dropped=0)))


def test_without_a_readable_store_the_kind_is_other_and_the_flags_null() -> None:
    assert jsonable(facts_from(_LULU, None, None, "com.example.vpn.tunnel")) == {
        "network_extensions": [{"id": "com.objective-see.lulu.extension", "kind": "other"}],
        "vpn": None,
    }


def test_without_a_monitored_app_the_connected_services_profile_is_chosen() -> None:
    configurations = parse_ne_configurations(_NE_PLIST.read_bytes())
    connected = parse_scutil_nc_list(
        '* (Connected)      6F1C2B7E VPN (com.example.vpn) "Example VPN"      [VPN:com.example.vpn]\n'
        '* (Disconnected)   C4D2A1B0 VPN (com.example.proxy) "Example Proxy"  [VPN:com.example.proxy]\n'
    )
    assert jsonable(facts_from(_LULU, configurations, connected, None).vpn) == {
        "include_all_networks": True,
        "enforce_routes": False,
        "exclude_local_networks": True,
    }
    # Two candidate profiles and nothing to choose between them: unknown, not a guess.
    assert facts_from(_LULU, configurations, None, None).vpn is None


def test_read_facts_on_a_mac_with_injected_commands_and_root(tmp_path: Path) -> None:
    (tmp_path / NE_CONFIGURATION_PLIST).parent.mkdir(parents=True)
    (tmp_path / NE_CONFIGURATION_PLIST).write_bytes(_NE_PLIST.read_bytes())

    def run(argv: Sequence[str]) -> str:
        return fixture_text("systemextensionsctl", "c10_lulu_macos15_settings_hint") if "list" in argv[-1] else ""

    facts = read_facts("darwin", "com.example.vpn.tunnel", run=run, root=tmp_path)
    assert jsonable(facts.network_extensions) == [{"id": "com.objective-see.lulu.extension", "kind": "content_filter"}]
    assert facts.vpn is not None
    assert jsonable(read_facts("linux")) == {"network_extensions": [], "vpn": None}


def test_read_facts_when_nothing_is_readable(tmp_path: Path) -> None:
    def missing(argv: Sequence[str]) -> str:
        raise FileNotFoundError(argv[0])

    assert jsonable(read_facts("darwin", run=missing, root=tmp_path)) == {"network_extensions": [], "vpn": None}


def test_uptime_and_boot_id_parsers() -> None:
    assert parse_kern_boottime("kern.boottime: { sec = 1732521600, usec = 123456 } Mon Nov 25 08:00:00 2024\n") == (
        1732521600
    )
    assert parse_kern_boottime("{ sec = 1732521600, usec = 0 } Mon Nov 25 08:00:00 2024") == 1732521600
    assert parse_kern_boottime("sysctl: unknown oid 'kern.boottime'") is None
    assert parse_proc_uptime("350735.47 234388.90\n") == 350735
    assert parse_proc_uptime("") is None
    assert parse_boot_id("6A1F0C2E-93B4-4D7A-8E15-2C9B7F3D4A60\n") == "6A1F0C2E-93B4-4D7A-8E15-2C9B7F3D4A60"
    assert parse_boot_id("sysctl: unknown oid") is None


def test_linux_uptime_and_boot_id_from_a_captured_tree() -> None:
    root = FIXTURES / "linux_sysfs/host_debian"
    assert read_uptime_s("linux", root=root) == 2438
    assert read_boot_id("linux", root=root) == "5db04645-6116-4e50-951a-c9106dabe02c"


def test_macos_uptime_and_boot_id_from_injected_sysctl() -> None:
    def sysctl(argv: Sequence[str]) -> str:
        if argv[-1] == "kern.boottime":
            return "{ sec = 1732521600, usec = 5 } Mon Nov 25 08:00:00 2024\n"
        return "6A1F0C2E-93B4-4D7A-8E15-2C9B7F3D4A60\n"

    assert read_uptime_s("darwin", run=sysctl, clock=lambda: 1732521600 + 86_400.9) == 86_400
    assert read_boot_id("darwin", run=sysctl) == "6A1F0C2E-93B4-4D7A-8E15-2C9B7F3D4A60"


def test_unreadable_uptime_and_boot_id_are_none(tmp_path: Path) -> None:
    assert read_uptime_s("linux", root=tmp_path) is None
    assert read_boot_id("linux", root=tmp_path) is None
