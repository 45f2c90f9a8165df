"""Route state, and the loop the system-path sources share (macOS ``macos_path``, Linux ``linux_path``).

A default route is half of a path evaluation: an interface that is up but has no default route is
``unsatisfied (no_route)``. The route parsers live here, apart from the interface readers, because
both platforms' path sources combine the two into one ``path`` event; this module registers no
source of its own.

- macOS: ``route -n get default`` (and ``-inet6``), BSD ``route`` output (corpus C6). With a VPN's
  split default (``0/1`` + ``128.0/1`` on ``utun``) ``route get default`` still names the physical
  interface (C6, second command), which is what the system view wants: the path under the tunnel.
- Linux: ``/proc/net/route`` and ``/proc/net/ipv6_route``, the kernel's main table (policy-routing
  tables are not shown there; a host that routes by policy only is reported as having no route).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from netdown import wire
from netdown.agent.source_health import SourceStats
from netdown.agent.sources.base import Emit, Observation

__all__ = [
    "DEFAULT_HEARTBEAT_INTERVAL_S",
    "RTF_GATEWAY",
    "RTF_REJECT",
    "RTF_UP",
    "Clock",
    "KernelRoute",
    "PathPoller",
    "RouteGet",
    "Runner",
    "parse_proc_net_ipv6_route",
    "parse_proc_net_route",
    "parse_route_get",
    "run_command",
]

Runner = Callable[[Sequence[str]], str]
Clock = Callable[[], float]

# linux/route.h and linux/ipv6_route.h: the flag bits /proc prints in hex.
RTF_UP: Final = 0x0001
RTF_GATEWAY: Final = 0x0002
RTF_REJECT: Final = 0x0200
# How often a system-path source refreshes an unchanged path when no heartbeat interval is given: the
# agent's default heartbeat interval, the longest the wire contract allows (5 minutes).
DEFAULT_HEARTBEAT_INTERVAL_S: Final = 300.0


def run_command(argv: Sequence[str], timeout_s: float = 10.0) -> str:
    """Run a read-only system command; its stdout and stderr, whatever the exit status.

    A non-zero exit is information here (``route get`` says "not in table" and exits 1), so it is
    returned as text for the parser to recognise; only a missing or hung command raises.
    """
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
    return done.stdout + done.stderr


@dataclass(frozen=True)
class RouteGet:
    """What BSD ``route get`` says about one destination; ``interface`` is None when there is no route."""

    destination: str | None
    mask: str | None
    gateway: str | None
    interface: str | None
    flags: tuple[str, ...]
    unrecognised: int = 0

    @property
    def found(self) -> bool:
        """A route exists and names the interface it leaves by."""
        return self.interface is not None


_ROUTE_GET_FIELD: Final = re.compile(
    r"^\s*(?P<key>route to|destination|mask|gateway|interface|flags|if address|net)\s*:\s*(?P<value>.*?)\s*$"
)
_ROUTE_GET_METRICS_HEADER: Final = re.compile(r"^\s*recvpipe\s+sendpipe\s+ssthresh\b")
_ROUTE_GET_METRICS: Final = re.compile(r"^\s*-?\d+(?:\s+-?\d+)+\s*$")
# route.c's message when the kernel has no matching route (ESRCH), printed on stderr with exit 1.
_ROUTE_GET_NO_ROUTE: Final = re.compile(r"^route: writing to routing socket: (not in table|.*)$")


def parse_route_get(text: str) -> RouteGet:
    """The fields of one ``route -n get <destination>`` output; unknown lines are counted, not guessed."""
    fields: dict[str, str] = {}
    unrecognised = 0
    for line in text.splitlines():
        if not line.strip() or _ROUTE_GET_METRICS_HEADER.match(line) or _ROUTE_GET_METRICS.match(line):
            continue
        field = _ROUTE_GET_FIELD.match(line)
        if field:
            fields.setdefault(field.group("key"), field.group("value"))
        elif not _ROUTE_GET_NO_ROUTE.match(line):
            unrecognised += 1
    flags = fields.get("flags", "").strip("<>")
    return RouteGet(
        destination=fields.get("destination"),
        mask=fields.get("mask"),
        gateway=fields.get("gateway"),
        interface=fields.get("interface") or None,
        flags=tuple(flag for flag in flags.split(",") if flag),
        unrecognised=unrecognised,
    )


@dataclass(frozen=True)
class KernelRoute:
    """One row of the Linux kernel's main routing table as ``/proc`` prints it."""

    interface: str
    destination: str  # a prefix, e.g. "0.0.0.0/0", "::/0"
    gateway: str | None
    flags: int
    metric: int

    @property
    def usable(self) -> bool:
        """Up and not a reject (``unreachable``/``prohibit``) route."""
        return bool(self.flags & RTF_UP) and not self.flags & RTF_REJECT

    @property
    def is_default(self) -> bool:
        """The route matches every destination of its family."""
        return self.destination.endswith("/0")


def parse_proc_net_route(text: str) -> tuple[KernelRoute, ...]:
    """IPv4 routes from ``/proc/net/route``; malformed rows are skipped.

    Addresses are the kernel's ``__be32`` printed as a native integer (``%08X``), so they are packed
    back in native byte order: ``0100E70A`` on a little-endian host is 10.231.0.1.
    """
    routes: list[KernelRoute] = []
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:  # Iface .. Mask are the first eight columns
            continue
        try:
            destination, gateway, flags, metric, mask = (int(cols[i], 16) for i in (1, 2, 3, 6, 7))
        except ValueError:
            continue
        routes.append(_route(cols[0], _ipv4(destination), bin(mask).count("1"), _ipv4(gateway), flags, metric))
    return tuple(routes)


def parse_proc_net_ipv6_route(text: str) -> tuple[KernelRoute, ...]:
    """IPv6 routes from ``/proc/net/ipv6_route`` (no header; all numbers hex); malformed rows skipped."""
    routes: list[KernelRoute] = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) != 10:  # the file's fixed column count
            continue
        try:
            destination = ipaddress.IPv6Address(bytes.fromhex(cols[0]))
            prefix_len = int(cols[1], 16)
            next_hop = ipaddress.IPv6Address(bytes.fromhex(cols[4]))
            metric, flags = int(cols[5], 16), int(cols[8], 16)
        except ValueError:
            continue
        routes.append(_route(cols[9], str(destination), prefix_len, str(next_hop), flags, metric))
    return tuple(routes)


def _route(interface: str, destination: str, prefix_len: int, gateway: str, flags: int, metric: int) -> KernelRoute:
    """One row; the gateway column means something only when RTF_GATEWAY says so."""
    return KernelRoute(
        interface=interface,
        destination=f"{destination}/{prefix_len}",
        gateway=gateway if flags & RTF_GATEWAY else None,
        flags=flags,
        metric=metric,
    )


def _ipv4(value: int) -> str:
    return socket.inet_ntoa(struct.pack("=I", value))


class PathPoller:
    """The loop of a system-path source: evaluate the path every ``interval_s``, emit changes and refreshes.

    Bodies are compared, not timestamps, so a change is emitted by the first poll that sees it (within
    one ``interval_s``) and a steady network costs no event per poll. The unchanged path is emitted
    again once per ``heartbeat_interval_s`` (an ordinary event, a fresh ``event_id``): with change-only
    events a stable network's last system path is hours old, and the stream job could not tell
    "unchanged" from "the source died". The refresh is due when the *next* poll would come later than
    one heartbeat interval after the last emission, so two system path events of a working source are
    at most a heartbeat interval (plus one poll's duration) apart; its clock is monotonic, so a
    wall-clock step neither delays nor repeats it.

    A poll that cannot evaluate (a command missing, a file unreadable) returns None and emits
    nothing, no refresh either: no evidence is better than guessed evidence for the detector. Its
    ``health`` says why: a command missing or hung, or a file unreadable, is a reading error (not
    running until a poll succeeds again), output that is not text a parsing error; ``poll`` itself
    counts what it read and could not use.
    """

    name: str = "path"
    role: ClassVar[wire.SourceRole] = "system_path"

    def __init__(
        self,
        interval_s: float,
        *,
        heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"{self.name}: interval_s must be positive, got {interval_s!r}")
        if heartbeat_interval_s <= 0:
            raise ValueError(f"{self.name}: heartbeat_interval_s must be positive, got {heartbeat_interval_s!r}")
        self.interval_s = interval_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.clock = clock
        self.monotonic = monotonic
        self.health = SourceStats(self.name, self.role, clock)
        self.last: wire.PathBody | None = None
        self._emitted_at = 0.0  # monotonic time of the last emission (meaningless while ``last`` is None)

    def poll(self) -> wire.PathBody | None:
        """One path evaluation as a ``path`` body, or None (its error counted) when the system could not be read."""
        raise NotImplementedError

    def step(self, emit: Emit) -> bool:
        """Poll once and emit if the path changed or is due for its refresh; True when it emitted."""
        body = self._evaluate()
        if body is None or not self._due(body):
            return False
        self.last, self._emitted_at = body, self.monotonic()
        emit(Observation(ts_ms=int(self.clock() * 1000), body=body))
        return True

    def _evaluate(self) -> wire.PathBody | None:
        """:meth:`poll`, its failure counted by stage in ``health``, its success recorded."""
        try:
            body = self.poll()
        except (OSError, subprocess.SubprocessError):  # a command missing or hung (TimeoutExpired), a file unreadable
            self.health.failed("reading")
            return None
        except UnicodeError:  # output that is not text
            self.health.failed("parsing")
            return None
        if body is not None:
            self.health.succeeded()
        return body

    def _due(self, body: wire.PathBody) -> bool:
        """A change, or the same path when waiting for the next poll would overrun the heartbeat interval."""
        if body != self.last:
            return True
        return self.monotonic() - self._emitted_at >= self.heartbeat_interval_s - self.interval_s

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Poll until ``stop`` is set (waiting on it, so stopping is immediate)."""
        while not stop.is_set():
            self.step(emit)
            stop.wait(self.interval_s)
