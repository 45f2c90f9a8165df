"""Active probes (source ``probes``): the agent's own TCP connects and DNS lookups.

A probe is the system view's evidence that works or fails end to end: the detector counts an app
failure as an episode only when no probe in the window failed. So a failure is reported exactly as
the kernel or resolver gave it, never paraphrased: a connect through a downed link reports the
``ENETUNREACH``/``ENETDOWN``/``EHOSTUNREACH`` the kernel returned, with the platform's own code
(wire contract ``ErrorInfo``); a resolver failure reports its ``EAI_*`` name in domain ``dns``.

Targets are configured as strings (``[sources.probes] targets = [...]``):

- ``tcp:HOST:PORT``, ``tcp:[IPV6]:PORT``, optionally ``@IFACE`` to leave by one interface
  (``SO_BINDTODEVICE`` on Linux, ``IP_BOUND_IF`` on macOS), e.g. ``tcp:vpn.example.com:443@en0``;
- ``dns:NAME``, a ``getaddrinfo`` lookup through the system resolver.

A hostname never leaves the device in clear: the event's ``target`` is ``Hostname#xxxxxxxx:443``
(:func:`netdown.agent.redact.hash_host`, keyed with the fleet key); an IP literal is sent as is.
Rounds run every ``interval_s`` with random jitter, so a fleet does not probe in lockstep.
"""

from __future__ import annotations

import errno
import ipaddress
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal

from netdown import wire
from netdown.agent.redact import hash_host
from netdown.agent.source_health import SourceStats
from netdown.agent.sources.base import Emit, Observation, register

__all__ = [
    "ProbeTarget",
    "ProbesSource",
    "connect_once",
    "error_info",
    "run_probe",
]

Resolver = Callable[..., list[tuple[Any, ...]]]
Connector = Callable[[int, tuple[Any, ...], "str | None", float], None]

# netinet/in.h and netinet6/in6.h on Darwin; Python does not export them.
_IP_BOUND_IF: Final = 25
_IPV6_BOUND_IF: Final = 125

# getaddrinfo's codes differ by platform (Linux negative, Darwin positive); the names do not.
# Listed in preference order: where two names share a value, the first is the canonical one.
_GAI_NAMES: Final[dict[int, str]] = {}
for _name in (
    "EAI_NONAME",
    "EAI_AGAIN",
    "EAI_FAIL",
    "EAI_NODATA",
    "EAI_FAMILY",
    "EAI_ADDRFAMILY",
    "EAI_SERVICE",
    "EAI_SOCKTYPE",
    "EAI_BADFLAGS",
    "EAI_MEMORY",
    "EAI_OVERFLOW",
    "EAI_SYSTEM",
):
    if hasattr(socket, _name):
        _GAI_NAMES.setdefault(getattr(socket, _name), _name)


def error_info(exc: BaseException) -> wire.ErrorInfo:
    """The contract's ``ErrorInfo`` for a failed probe: the platform's own code and a canonical name."""
    if isinstance(exc, socket.gaierror) and exc.errno is not None:
        return wire.ErrorInfo(domain="dns", code=exc.errno, name=_GAI_NAMES.get(exc.errno, "EAI_UNKNOWN"))
    if isinstance(exc, OSError) and exc.errno is not None:
        return wire.ErrorInfo(domain="posix", code=exc.errno, name=errno.errorcode.get(exc.errno, f"E{exc.errno}"))
    if isinstance(exc, TimeoutError):  # socket.timeout carries no errno: our own deadline expired
        return wire.ErrorInfo(domain="posix", code=errno.ETIMEDOUT, name="ETIMEDOUT")
    return wire.ErrorInfo(domain="other", code=0, name=type(exc).__name__)


@dataclass(frozen=True)
class ProbeTarget:
    """One configured probe: what to reach, and optionally the interface to leave by."""

    kind: Literal["tcp", "dns"]
    host: str
    port: int | None = None
    interface: str | None = None

    @classmethod
    def parse(cls, spec: str) -> ProbeTarget:
        """``tcp:HOST:PORT[@IFACE]``, ``tcp:[V6]:PORT[@IFACE]`` or ``dns:NAME``; ValueError otherwise."""
        kind, _, rest = spec.partition(":")
        rest, _, interface = rest.partition("@")
        if kind == "dns" and rest and not interface and ":" not in rest:
            return cls(kind="dns", host=rest)
        if kind == "tcp":
            host, _, port = rest.rpartition(":")
            host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
            if host and port.isdigit() and 0 < int(port) < 65536:
                return cls(kind="tcp", host=host, port=int(port), interface=interface or None)
        raise ValueError(f"probe target {spec!r}: expected tcp:HOST:PORT[@IFACE] or dns:NAME")

    def wire_target(self, key: bytes) -> str:
        """The event's ``target``: an IP literal as is, a hostname as its keyed hash."""
        host = self.host if _is_ip(self.host) else hash_host(self.host, key)
        if self.port is None:
            return host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def connect_once(family: int, address: tuple[Any, ...], interface: str | None, timeout_s: float) -> None:
    """One TCP connect, bound to ``interface`` when given; raises the kernel's error as OSError."""
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if interface is not None:
            _bind_to_interface(sock, family, interface)
        sock.settimeout(timeout_s)
        sock.connect(address)


def _bind_to_interface(sock: socket.socket, family: int, interface: str) -> None:
    if sys.platform == "darwin":
        index = socket.if_nametoindex(interface)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_BOUND_IF, index)
        else:
            sock.setsockopt(socket.IPPROTO_IP, _IP_BOUND_IF, index)
    else:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())


def _resolve(resolve: Resolver, host: str, port: int | None, timeout_s: float) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` with a deadline: it has none of its own and can block for a resolver's retries.

    The lookup runs in a daemon thread; on timeout the thread is abandoned (it ends when libc gives
    up) and the probe reports ``ETIMEDOUT``.
    """
    outcome: list[Any] = []

    def lookup() -> None:
        try:
            outcome.append(resolve(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed over to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=lookup, name="netdown-probe-resolve", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        raise TimeoutError(f"resolving took longer than {timeout_s} s")
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    result: list[tuple[Any, ...]] = outcome[0]
    return result


def run_probe(
    target: ProbeTarget,
    *,
    timeout_s: float,
    key: bytes,
    monotonic: Callable[[], float] = time.monotonic,
    resolve: Resolver = socket.getaddrinfo,
    connect: Connector = connect_once,
) -> wire.ProbeBody:
    """Run one probe now; a ``probe`` body whose ``latency_ms`` is the time to success or to failure."""
    started = monotonic()
    try:
        if target.kind == "dns":
            _resolve(resolve, target.host, None, timeout_s)
        else:
            _connect_any(target, timeout_s, started, monotonic, resolve, connect)
    except (OSError, UnicodeError) as exc:  # UnicodeError: getaddrinfo's IDNA refusal of a malformed name
        error: wire.ErrorInfo | None = error_info(exc)
    else:
        error = None
    return wire.ProbeBody(
        target=target.wire_target(key),
        kind=target.kind,
        ok=error is None,
        latency_ms=round((monotonic() - started) * 1000, 3),
        error=error,
        interface=target.interface,
    )


def _connect_any(
    target: ProbeTarget,
    timeout_s: float,
    started: float,
    monotonic: Callable[[], float],
    resolve: Resolver,
    connect: Connector,
) -> None:
    """Connect to each address of the target in turn until one accepts, within one deadline.

    Raises the last address's error, as ``socket.create_connection`` does.
    """
    failure: OSError = socket.gaierror(socket.EAI_NONAME, "no address")  # getaddrinfo raises this itself
    for family, _type, _proto, _name, address in _resolve(resolve, target.host, target.port, timeout_s):
        remaining = timeout_s - (monotonic() - started)
        if remaining <= 0:
            raise TimeoutError(f"no connection within {timeout_s} s")
        try:
            connect(family, address, target.interface, remaining)
        except OSError as exc:
            failure = exc
        else:
            return
    raise failure


@register("probes")
class ProbesSource:
    """Probes every configured target once a round; rounds ``interval_s`` apart, jittered by ±``jitter``.

    Every probe that ran is a success of its ``health``, whatever its outcome: a failed connect is
    evidence about the network, not a fault of the source.
    """

    name = "probes"
    role: ClassVar[wire.SourceRole] = "probe"

    def __init__(
        self,
        targets: Sequence[str | ProbeTarget],
        interval_s: float = 30.0,
        jitter: float = 0.2,
        timeout_s: float = 5.0,
        key: bytes | str = b"",
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        resolve: Resolver = socket.getaddrinfo,
        connect: Connector = connect_once,
    ) -> None:
        if interval_s <= 0 or timeout_s <= 0 or not 0 <= jitter < 1:
            raise ValueError("probes: interval_s and timeout_s must be positive and 0 <= jitter < 1")
        self.targets = tuple(t if isinstance(t, ProbeTarget) else ProbeTarget.parse(t) for t in targets)
        if any(t.kind == "dns" and t.interface for t in self.targets):
            raise ValueError("probes: a dns probe cannot be bound to an interface")
        self.interval_s, self.jitter, self.timeout_s = interval_s, jitter, timeout_s
        self.key = key.encode() if isinstance(key, str) else key
        self.rng = rng or random.Random()
        self.clock, self.monotonic = clock, monotonic
        self._resolve, self._connect = resolve, connect
        self.health = SourceStats(self.name, self.role, clock)

    def probe(self, target: ProbeTarget) -> Observation:
        """Run one probe now; its event time is when it started."""
        ts_ms = int(self.clock() * 1000)
        body = run_probe(
            target,
            timeout_s=self.timeout_s,
            key=self.key,
            monotonic=self.monotonic,
            resolve=self._resolve,
            connect=self._connect,
        )
        self.health.succeeded()
        return Observation(ts_ms=ts_ms, body=body)

    def next_delay(self) -> float:
        """Seconds until the next round: ``interval_s`` scaled by a uniform factor in 1 ± ``jitter``."""
        return self.interval_s * (1 + self.jitter * self.rng.uniform(-1.0, 1.0))

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Probe round after round until ``stop`` is set."""
        while not stop.is_set():
            for target in self.targets:
                if stop.is_set():
                    return
                emit(self.probe(target))
            stop.wait(self.next_delay())
