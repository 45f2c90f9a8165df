"""macOS system view (source ``macos_path``): what an unrestricted process sees of the network.

The monitored extension may be told "no interface is usable" by NECP while the system itself is
fine; this source is the "system is fine" half of that comparison. It polls three commands that
any process may run and emits a ``path`` event (observer ``system``) when the result changes, and
the unchanged result again once per heartbeat interval (:class:`~netdown.agent.sources.routes.PathPoller`):

- ``scutil --nwi``: configd's network information, the same ranked interface list and
  IPv4/IPv6/DNS flags that Network.framework's path evaluation starts from. Two layouts are
  known: the modern one (``flags      : 0x5 (IPv4,DNS)``, corpus C2) and the older one with
  ``generation`` and ``Signature Hash`` lines (C24).
- ``route -n get default`` and ``route -n get -inet6 default``: whether a default route exists
  (parsed in :mod:`netdown.agent.sources.routes`).
- ``networksetup -listallhardwareports``: which BSD name is Wi-Fi and which is Ethernet; nwi does
  not say. Read once and again only when nwi names an interface it does not know.

Network.framework through PyObjC would give the path directly; it is not used, so the agent runs
with the standard library only and its parsing is tested on Linux.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from netdown import wire
from netdown.agent.sources.base import register
from netdown.agent.sources.routes import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    Clock,
    PathPoller,
    RouteGet,
    Runner,
    parse_route_get,
    run_command,
)
from netdown.wire import InterfaceType

__all__ = [
    "HardwarePort",
    "MacPathSource",
    "Nwi",
    "NwiInterface",
    "classify_macos_interface",
    "parse_networksetup_hardware_ports",
    "parse_scutil_nwi",
    "system_path_from",
]

Family = Literal["ipv4", "ipv6"]

# SCNetworkReachabilityFlags (SCNetworkReachability.h): reachable, and whether a connection must be made first.
_REACHABLE: Final = 0x2
_CONNECTION_REQUIRED: Final = 0x4


@dataclass(frozen=True)
class NwiInterface:
    """One interface of one address family as ``scutil --nwi`` lists it."""

    name: str
    family: Family
    flags: tuple[str, ...]  # e.g. ("IPv4", "DNS")
    reachable: bool | None  # from its own ``reach`` line; None where the layout prints none
    address: str | None = None
    vpn_server: str | None = None


@dataclass(frozen=True)
class Nwi:
    """The parsed ``scutil --nwi`` output."""

    interfaces: tuple[NwiInterface, ...]
    reach_ipv4: bool | None  # the family-wide ``REACH`` line
    reach_ipv6: bool | None
    order: tuple[str, ...] | None  # the modern trailer ``Network interfaces: en0 utun4``
    generation: int | None
    recognised: bool  # a header or a family section was seen: the text is nwi output at all
    unrecognised: int


_NWI_HEADER: Final = re.compile(r"^Network information(?: \(generation (?P<generation>\d+)\))?\s*$")
_NWI_SECTION: Final = re.compile(r"^\s*IPv(?P<v>[46]) network interface information\s*$")
_NWI_NO_STATES: Final = re.compile(r"^\s*No IPv[46] states found\s*$")
# Modern "utun4 : flags      : 0x5 (IPv4,DNS)"; older "en0 : flags 0x5 (IPv4,DNS)".
_NWI_INTERFACE: Final = re.compile(
    r"^\s*(?P<name>[a-z][a-z0-9_]*\d+)\s*:\s*flags\s*:?\s*(?P<hex>0x[0-9a-fA-F]+)\s*\((?P<flags>[^)]*)\)\s*$"
)
_NWI_REACH: Final = re.compile(r"^\s*(?:REACH\s*:\s*flags|reach)\s*:?\s*(?P<hex>0x[0-9a-fA-F]+)\b.*$")
_NWI_FAMILY_REACH: Final = re.compile(r"^\s*REACH\s*:")
_NWI_ATTRIBUTE: Final = re.compile(
    r"^\s*(?P<key>address|VPN server|Signature Hash|generation)\s*:?\s+(?P<value>.*?)\s*$"
)
_NWI_ORDER: Final = re.compile(r"^\s*Network interfaces\s*:\s*(?P<names>.*?)\s*$")


def _reachable(hex_flags: str) -> bool:
    value = int(hex_flags, 16)
    return bool(value & _REACHABLE) and not value & _CONNECTION_REQUIRED


def parse_scutil_nwi(text: str) -> Nwi:
    """Interfaces, flags and reachability from ``scutil --nwi``, either layout; unknown lines counted."""
    builder = _NwiBuilder()
    for line in text.splitlines():
        if line.strip():
            builder.feed(line)
    return builder.result()


class _NwiBuilder:
    """Line-by-line state of :func:`parse_scutil_nwi`: the current family and interface."""

    def __init__(self) -> None:
        self.family: Family | None = None
        self.current: dict[str, Any] | None = None
        self.done: list[NwiInterface] = []
        self.reach: dict[Family, bool] = {}
        self.order: tuple[str, ...] | None = None
        self.generation: int | None = None
        self.recognised = False
        self.unrecognised = 0

    def feed(self, line: str) -> None:  # noqa: PLR0911 (one return per line kind reads as the grammar)
        if header := _NWI_HEADER.match(line):
            self.recognised = True
            self.generation = int(header["generation"]) if header["generation"] else self.generation
            return
        if section := _NWI_SECTION.match(line):
            self._close()
            self.family, self.recognised = ("ipv4" if section["v"] == "4" else "ipv6"), True
            return
        if _NWI_NO_STATES.match(line):
            return
        if (interface := _NWI_INTERFACE.match(line)) and self.family is not None:
            self._close()
            flags = tuple(flag.strip() for flag in interface["flags"].split(",") if flag.strip())
            self.current = {"name": interface["name"], "family": self.family, "flags": flags, "reachable": None}
            return
        if (reach := _NWI_REACH.match(line)) and self.family is not None:
            if _NWI_FAMILY_REACH.match(line):
                self._close()
                self.reach[self.family] = _reachable(reach["hex"])
            elif self.current is not None:
                self.current["reachable"] = _reachable(reach["hex"])
            return
        if (attribute := _NWI_ATTRIBUTE.match(line)) and self.current is not None:
            if attribute["key"] in ("address", "VPN server"):
                self.current["address" if attribute["key"] == "address" else "vpn_server"] = attribute["value"]
            return
        if order := _NWI_ORDER.match(line):
            self._close()
            self.order = tuple(order["names"].split())
            return
        self.unrecognised += 1

    def _close(self) -> None:
        if self.current is not None:
            self.done.append(NwiInterface(**self.current))
            self.current = None

    def result(self) -> Nwi:
        self._close()
        return Nwi(
            interfaces=tuple(self.done),
            reach_ipv4=self.reach.get("ipv4"),
            reach_ipv6=self.reach.get("ipv6"),
            order=self.order,
            generation=self.generation,
            recognised=self.recognised,
            unrecognised=self.unrecognised,
        )


@dataclass(frozen=True)
class HardwarePort:
    """One block of ``networksetup -listallhardwareports``: the port's name, its BSD device, its type."""

    port: str
    device: str
    type: InterfaceType


_PORT_LINE: Final = re.compile(r"^Hardware Port:\s*(?P<port>.*?)\s*$")
_DEVICE_LINE: Final = re.compile(r"^Device:\s*(?P<device>\S+)\s*$")
_KNOWN_LINES: Final = re.compile(r"^(Ethernet Address:.*|VLAN Configurations|=+|)\s*$")
_WIFI_PORTS: Final = re.compile(r"^(Wi-Fi|AirPort)$", re.IGNORECASE)
# Built-in and adapter Ethernet ("Ethernet", "USB 10/100/1000 LAN", "Thunderbolt Ethernet Slot 1"),
# Thunderbolt ports and bridge (IP over a Thunderbolt cable), and iPhone/iPad USB tethering: the
# contract's `type` is the link type, and that link is USB Ethernet even when a phone's cellular
# network is behind it.
_WIRED_PORTS: Final = re.compile(r"ethernet|\bLAN\b|thunderbolt|10/100|i(Phone|Pad) USB", re.IGNORECASE)


def parse_networksetup_hardware_ports(text: str) -> tuple[HardwarePort, ...]:
    """Hardware ports with their device and link type; blocks without a device are skipped."""
    ports: list[HardwarePort] = []
    port: str | None = None
    for line in text.splitlines():
        if found := _PORT_LINE.match(line.strip()):
            port = found["port"]
        elif (device := _DEVICE_LINE.match(line.strip())) and port is not None:
            ports.append(HardwarePort(port=port, device=device["device"], type=_port_type(port)))
            port = None
    return tuple(ports)


def _port_type(port: str) -> InterfaceType:
    if _WIFI_PORTS.match(port):
        return "wifi"
    if _WIRED_PORTS.search(port):
        return "wired"
    return "other"  # Bluetooth PAN, FireWire, modems: none is what the fleet's healthy path runs on


# BSD name prefixes whose kind the name itself says: tunnels (utun: NE packet tunnels and
# WireGuard/Tailscale; ipsec: IKEv2; ppp: PPTP/L2TP; gif/stf: 6in4/6to4), the cellular data
# interfaces of iPhone-class hardware, and loopback.
_NAME_TYPES: Final[tuple[tuple[re.Pattern[str], InterfaceType], ...]] = (
    (re.compile(r"^(utun|ipsec|ppp|gif|stf|tun|tap|wg)\d+$"), "tunnel"),
    (re.compile(r"^pdp_ip\d+$"), "cellular"),
    (re.compile(r"^lo\d+$"), "loopback"),
)


def classify_macos_interface(name: str, hardware: Mapping[str, InterfaceType]) -> InterfaceType:
    """The contract's interface type: from the hardware ports if listed, else from the BSD name."""
    if name in hardware:
        return hardware[name]
    for pattern, kind in _NAME_TYPES:
        if pattern.match(name):
            return kind
    return "other"  # en* not in the hardware list, awdl0, llw0, bridge100, anpi0, ...


def system_path_from(nwi: Nwi, routes: Sequence[RouteGet], hardware: Mapping[str, InterfaceType]) -> wire.PathBody:
    """One ``path`` body (observer ``system``) from nwi and the default-route lookups.

    Satisfied: nwi lists a reachable non-loopback interface and a default route exists (either
    family). Otherwise unsatisfied with ``interface_unavailable`` (nothing usable) or ``no_route``.
    ``interfaces`` lists the usable ones in nwi's rank order (IPv4 first), whatever the status.
    """
    usable = [entry for entry in nwi.interfaces if entry.reachable is not False]
    names = dict.fromkeys(entry.name for entry in usable)  # nwi lists each family in configd's rank order
    interfaces = tuple(
        wire.Interface(name=name, type=kind)
        for name in names
        if (kind := classify_macos_interface(name, hardware)) != "loopback"
    )
    has_route = any(route.found for route in routes)
    reason: wire.PathReason | None = (
        None if interfaces and has_route else ("no_route" if interfaces else "interface_unavailable")
    )
    return wire.PathBody(
        observer="system",
        status="satisfied" if reason is None else "unsatisfied",
        reason=reason,
        interfaces=interfaces,
        ipv4=any(entry.family == "ipv4" and "IPv4" in entry.flags for entry in usable),
        ipv6=any(entry.family == "ipv6" and "IPv6" in entry.flags for entry in usable),
        dns=any("DNS" in entry.flags for entry in usable),
    )


@register("macos_path")
class MacPathSource(PathPoller):
    """Polls ``scutil --nwi`` and ``route get default``; emits the system path on change and once per heartbeat."""

    name = "macos_path"

    def __init__(
        self,
        interval_s: float = 2.0,
        hardware_refresh_s: float = 600.0,
        heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S,
        run: Runner = run_command,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> None:
        super().__init__(interval_s, heartbeat_interval_s=heartbeat_interval_s, clock=clock, monotonic=monotonic)
        self.hardware_refresh_s = hardware_refresh_s
        self._run = run
        self._hardware: dict[str, InterfaceType] = {}
        self._hardware_read_at: float | None = None

    def poll(self) -> wire.PathBody | None:
        """Evaluate once; None when nwi printed nothing recognisable (no evidence, no event: a parsing error)."""
        nwi = parse_scutil_nwi(self._run(["/usr/sbin/scutil", "--nwi"]))
        if not nwi.recognised:
            self.health.failed("parsing")
            return None
        routes = [
            parse_route_get(self._run(["/sbin/route", "-n", "get", *family, "default"])) for family in ((), ("-inet6",))
        ]
        if self._hardware_stale(nwi):
            text = self._run(["/usr/sbin/networksetup", "-listallhardwareports"])
            self._hardware = {port.device: port.type for port in parse_networksetup_hardware_ports(text)}
            self._hardware_read_at = self.clock()
        return system_path_from(nwi, routes, self._hardware)

    def _hardware_stale(self, nwi: Nwi) -> bool:
        """Read the hardware ports first, then again (rate-limited) when nwi names an unknown adapter.

        A USB Ethernet adapter plugged in later appears as a new ``en*``; tunnels and loopback are
        typed by name and never trigger a read.
        """
        if self._hardware_read_at is None:
            return True
        unknown = any(
            entry.name not in self._hardware and classify_macos_interface(entry.name, {}) == "other"
            for entry in nwi.interfaces
        )
        return unknown and self.clock() - self._hardware_read_at >= self.hardware_refresh_s
