"""Linux system view (source ``linux_path``): interface and route state from sysfs and procfs.

The Linux agent exists for the fleet's Linux hosts and, above all, so the system-path logic can be
proven on a real kernel: a test takes a veth link down inside a network namespace and watches the
events (``tests/integration/test_netns_system_view.py``).

Why files and polling rather than netlink: the files need no dependency and no privilege, a fake
tree under a test's ``tmp_path`` stands in for the kernel (the root path is injectable), and a
one-second poll is far finer than the detector's settle grace (10 s). The same loop as macOS's
(:class:`~netdown.agent.sources.routes.PathPoller`) emits changes, and the unchanged path once per
heartbeat interval.

Read per interface (``/sys/class/net/<name>/``): ``operstate`` (RFC 2863 as the kernel keeps it),
``flags`` (IFF_UP), ``carrier``, ``type`` (ARPHRD_*), ``uevent`` ``DEVTYPE``, and whether
``wireless``/``phy80211`` or ``tun_flags`` exist. Routes from ``/proc/net/route`` and
``/proc/net/ipv6_route``; DNS from the nameservers in ``/etc/resolv.conf``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from netdown import wire
from netdown.agent.sources.base import register
from netdown.agent.sources.routes import (
    DEFAULT_HEARTBEAT_INTERVAL_S,
    Clock,
    KernelRoute,
    PathPoller,
    parse_proc_net_ipv6_route,
    parse_proc_net_route,
)
from netdown.wire import InterfaceType

__all__ = [
    "Link",
    "LinuxPathSource",
    "classify_link",
    "linux_path_from",
    "parse_resolv_conf_nameservers",
    "read_links",
    "read_routes",
]

# linux/if.h
_IFF_UP: Final = 0x1
# linux/if_arp.h
_ARPHRD_ETHER: Final = 1
_ARPHRD_RAWIP: Final = 519  # qmi_wwan and other cellular modems in raw-IP mode
_ARPHRD_LOOPBACK: Final = 772
_ARPHRD_TUNNELS: Final = frozenset({768, 769, 776, 778, 823, 65534})  # ipip, ip6tnl, sit, gre, ip6gre, none (tun, wg)


@dataclass(frozen=True)
class Link:
    """One network interface as sysfs describes it."""

    name: str
    operstate: str
    flags: int
    arphrd: int
    devtype: str | None
    wireless: bool
    tun: bool
    carrier: bool | None  # None where the kernel refuses to say (an administratively down link)

    @property
    def usable(self) -> bool:
        """Able to carry traffic now: operstate ``up``, or ``unknown`` while IFF_UP with carrier.

        Drivers that do not maintain operstate (tun, wireguard, lo) leave it ``unknown``; the
        kernel's operstates document tells userspace to treat that as up, so IFF_UP and the
        carrier decide. (sysfs ``flags`` never shows IFF_RUNNING; ``carrier`` is its equivalent.)
        """
        if self.operstate == "up":
            return True
        return self.operstate == "unknown" and bool(self.flags & _IFF_UP) and self.carrier is not False

    @property
    def type(self) -> InterfaceType:
        """The contract's interface type."""
        return classify_link(self.name, self.arphrd, self.devtype, wireless=self.wireless, tun=self.tun)


def classify_link(name: str, arphrd: int, devtype: str | None, *, wireless: bool, tun: bool) -> InterfaceType:
    """Link type from sysfs facts; the name is used only where the kernel says nothing more.

    ``ppp`` is ``other``: on Linux it carries DSL (PPPoE), dial-up modems and L2TP/PPTP VPNs alike.
    Ethernet-framed virtual links (veth, bridge, bond, vlan) are ``wired``: they are how containers
    and namespaces reach the network, and the system view inside one should say so.
    """
    if wireless or devtype == "wlan":
        return "wifi"
    if devtype == "wwan" or arphrd == _ARPHRD_RAWIP or name.startswith("wwan"):
        return "cellular"
    if arphrd == _ARPHRD_LOOPBACK:
        return "loopback"
    if tun or devtype == "wireguard" or arphrd in _ARPHRD_TUNNELS:
        return "tunnel"
    return "wired" if arphrd == _ARPHRD_ETHER else "other"  # ARPHRD_PPP included, as said above


_DEVTYPE: Final = re.compile(r"^DEVTYPE=(?P<devtype>\S+)$", re.MULTILINE)
_NAMESERVER: Final = re.compile(r"^\s*nameserver\s+(?P<address>\S+)", re.MULTILINE)


def read_links(root: Path = Path("/")) -> tuple[Link, ...]:
    """Every interface under ``<root>/sys/class/net``, sorted by name; unreadable ones skipped."""
    links: list[Link] = []
    base = root / "sys/class/net"
    for entry in sorted(base.iterdir()) if base.is_dir() else ():
        try:
            operstate = (entry / "operstate").read_text(encoding="ascii").strip()
            flags = int((entry / "flags").read_text(encoding="ascii").strip(), 16)
            arphrd = int((entry / "type").read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue  # an interface that vanished between listing and reading
        devtype = _DEVTYPE.search(_read_optional(entry / "uevent"))
        links.append(
            Link(
                name=entry.name,
                operstate=operstate,
                flags=flags,
                arphrd=arphrd,
                devtype=devtype["devtype"] if devtype else None,
                wireless=(entry / "wireless").exists() or (entry / "phy80211").exists(),
                tun=(entry / "tun_flags").exists(),
                carrier={"1": True, "0": False}.get(_read_optional(entry / "carrier").strip()),
            )
        )
    return tuple(links)


def read_routes(root: Path = Path("/")) -> tuple[KernelRoute, ...]:
    """The kernel's IPv4 and IPv6 main-table routes under ``<root>/proc/net``."""
    return parse_proc_net_route(_read_optional(root / "proc/net/route")) + parse_proc_net_ipv6_route(
        _read_optional(root / "proc/net/ipv6_route")
    )


def parse_resolv_conf_nameservers(text: str) -> tuple[str, ...]:
    """The ``nameserver`` addresses of a resolv.conf, in order."""
    return tuple(found["address"] for found in _NAMESERVER.finditer(text))


def _read_optional(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def linux_path_from(links: Iterable[Link], routes: Sequence[KernelRoute], nameservers: Sequence[str]) -> wire.PathBody:
    """One ``path`` body (observer ``system``) from links, routes and resolvers.

    Satisfied: a usable non-loopback interface carries a usable default route. Otherwise
    ``interface_unavailable`` when no non-loopback interface is usable, else ``no_route``.
    ``ipv4``/``ipv6`` say which families have such a default route; ``dns``, that a resolver is
    configured and an interface is usable to reach it.
    """
    usable = {link.name: link for link in links if link.usable and link.type != "loopback"}
    defaults = [route for route in routes if route.usable and route.is_default and route.interface in usable]
    ipv4 = any(":" not in route.destination for route in defaults)
    ipv6 = any(":" in route.destination for route in defaults)
    reason: wire.PathReason | None = None if defaults else ("no_route" if usable else "interface_unavailable")
    return wire.PathBody(
        observer="system",
        status="satisfied" if reason is None else "unsatisfied",
        reason=reason,
        interfaces=tuple(wire.Interface(name=name, type=link.type) for name, link in usable.items()),
        ipv4=ipv4,
        ipv6=ipv6,
        dns=bool(nameservers) and bool(usable),
    )


@register("linux_path")
class LinuxPathSource(PathPoller):
    """Polls sysfs/procfs under ``root``; emits the system path on change and once per heartbeat."""

    name = "linux_path"

    def __init__(
        self,
        interval_s: float = 1.0,
        root: Path | str = "/",
        heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> None:
        super().__init__(interval_s, heartbeat_interval_s=heartbeat_interval_s, clock=clock, monotonic=monotonic)
        self.root = Path(root)

    def poll(self) -> wire.PathBody | None:
        """Evaluate once; None when the tree has no interfaces at all (not a Linux root: a reading error)."""
        links = read_links(self.root)
        if not links:
            self.health.failed("reading")
            return None
        nameservers = parse_resolv_conf_nameservers(_read_optional(self.root / "etc/resolv.conf"))
        return linux_path_from(links, read_routes(self.root), nameservers)
