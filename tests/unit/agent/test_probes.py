"""Active probes: target syntax and redaction, the kernel's real errors, jitter, the run loop."""

from __future__ import annotations

import errno
import random
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from netdown.agent.redact import hash_host
from netdown.agent.sources.base import Observation
from netdown.agent.sources.probes import ProbesSource, ProbeTarget, error_info, run_probe
from tests.unit.agent.golden import as_wire_event, jsonable

KEY = b"fleet-key"


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback TCP port that accepts (the kernel completes the handshake from the backlog)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: bound then closed, so the kernel answers RST."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _probe(target: ProbeTarget, **options: Any) -> dict[str, Any]:
    """One probe's body, stamped as the agent would (so it meets the contract), as its JSON object."""
    body = run_probe(target, **options)
    as_wire_event(body)
    fields: dict[str, Any] = jsonable(body)
    return fields


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tcp:vpn.example.com:443", ProbeTarget(kind="tcp", host="vpn.example.com", port=443)),
        ("tcp:192.0.2.7:8443@en0", ProbeTarget(kind="tcp", host="192.0.2.7", port=8443, interface="en0")),
        ("tcp:[2001:db8::1]:443", ProbeTarget(kind="tcp", host="2001:db8::1", port=443)),
        ("dns:example.com", ProbeTarget(kind="dns", host="example.com")),
    ],
)
def test_target_specs(spec: str, expected: ProbeTarget) -> None:
    assert ProbeTarget.parse(spec) == expected


@pytest.mark.parametrize("spec", ["tcp:host", "tcp:host:0", "tcp:host:99999", "udp:host:53", "dns:", "dns:a:53", "x"])
def test_bad_target_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="probe target"):
        ProbeTarget.parse(spec)


def test_hostnames_leave_only_as_keyed_hashes_and_ip_literals_as_is() -> None:
    token = hash_host("VPN.example.com.", KEY)
    assert token == hash_host("vpn.example.com", KEY)  # case and the root dot do not matter
    assert token != hash_host("vpn.example.com", b"other-key")
    assert token.startswith("Hostname#")
    assert len(token) == len("Hostname#") + 8
    assert ProbeTarget.parse("tcp:vpn.example.com:443").wire_target(KEY) == f"{token}:443"
    assert ProbeTarget.parse("dns:vpn.example.com").wire_target(KEY) == token
    assert ProbeTarget.parse("tcp:192.0.2.7:443").wire_target(KEY) == "192.0.2.7:443"
    assert ProbeTarget.parse("tcp:[2001:db8::1]:443").wire_target(KEY) == "[2001:db8::1]:443"


def test_error_info_keeps_the_platform_code_and_the_canonical_name() -> None:
    assert jsonable(error_info(OSError(errno.ENETDOWN, "Network is down"))) == {
        "domain": "posix",
        "code": errno.ENETDOWN,
        "name": "ENETDOWN",
    }
    assert jsonable(error_info(TimeoutError("timed out"))) == {
        "domain": "posix",
        "code": errno.ETIMEDOUT,
        "name": "ETIMEDOUT",
    }
    assert jsonable(error_info(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))) == {
        "domain": "dns",
        "code": socket.EAI_NONAME,
        "name": "EAI_NONAME",
    }
    assert jsonable(error_info(socket.gaierror(socket.EAI_AGAIN, "try again")))["name"] == "EAI_AGAIN"
    assert jsonable(error_info(RuntimeError("odd")))["domain"] == "other"


def test_tcp_probe_to_a_listener_is_ok(listener: int) -> None:
    body = _probe(ProbeTarget(kind="tcp", host="127.0.0.1", port=listener), timeout_s=2, key=KEY)
    assert (body["ok"], body["error"], body["target"]) == (True, None, f"127.0.0.1:{listener}")
    assert body["latency_ms"] >= 0


def test_tcp_probe_to_a_closed_port_reports_the_kernels_econnrefused(closed_port: int) -> None:
    body = _probe(ProbeTarget(kind="tcp", host="127.0.0.1", port=closed_port), timeout_s=2, key=KEY)
    assert body["ok"] is False
    assert body["error"] == {"domain": "posix", "code": errno.ECONNREFUSED, "name": "ECONNREFUSED"}


def test_tcp_probe_to_a_hostname_resolves_and_reports_the_hash(listener: int) -> None:
    body = _probe(ProbeTarget(kind="tcp", host="localhost", port=listener), timeout_s=2, key=KEY)
    assert body["ok"] is True
    assert body["target"] == f"{hash_host('localhost', KEY)}:{listener}"


def test_tcp_probe_bound_to_a_missing_interface_reports_the_kernels_error(listener: int) -> None:
    target = ProbeTarget(kind="tcp", host="127.0.0.1", port=listener, interface="nd-missing0")
    body = _probe(target, timeout_s=2, key=KEY)
    assert body["ok"] is False
    assert body["interface"] == "nd-missing0"
    assert body["error"]["name"] in {"ENODEV", "EPERM", "ENXIO"}  # ENODEV as root; EPERM without CAP_NET_RAW


def test_tcp_probe_tries_each_address_and_reports_the_last_error() -> None:
    calls: list[tuple[int, tuple[Any, ...]]] = []

    def connect(family: int, address: tuple[Any, ...], interface: str | None, timeout_s: float) -> None:
        calls.append((family, address))
        raise OSError(errno.ENETUNREACH if family == socket.AF_INET6 else errno.EHOSTUNREACH, "unreachable")

    def resolve(host: str, port: int | None, **_: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::1", port, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", port)),
        ]

    target = ProbeTarget(kind="tcp", host="gateway.example", port=443)
    body = _probe(target, timeout_s=1, key=KEY, resolve=resolve, connect=connect)
    assert [family for family, _ in calls] == [socket.AF_INET6, socket.AF_INET]
    assert body["error"]["name"] == "EHOSTUNREACH"


def test_a_connect_that_times_out_is_etimedout() -> None:
    def connect(family: int, address: tuple[Any, ...], interface: str | None, timeout_s: float) -> None:
        raise TimeoutError("timed out")  # what socket.connect raises when its timeout expires

    body = _probe(ProbeTarget(kind="tcp", host="192.0.2.1", port=443), timeout_s=0.5, key=KEY, connect=connect)
    assert body["error"] == {"domain": "posix", "code": errno.ETIMEDOUT, "name": "ETIMEDOUT"}


def test_dns_probe_of_a_name_in_the_hosts_file_is_ok() -> None:
    body = _probe(ProbeTarget(kind="dns", host="localhost"), timeout_s=2, key=KEY)
    assert (body["kind"], body["ok"], body["interface"]) == ("dns", True, None)


def test_dns_probe_reports_the_resolvers_error_in_the_dns_domain() -> None:
    def resolve(host: str, port: int | None, **_: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    body = _probe(ProbeTarget(kind="dns", host="nx.example"), timeout_s=1, key=KEY, resolve=resolve)
    assert body["error"] == {"domain": "dns", "code": socket.EAI_NONAME, "name": "EAI_NONAME"}
    assert body["target"] == hash_host("nx.example", KEY)


def test_a_name_the_resolver_refuses_to_encode_is_a_failed_probe_not_a_crash() -> None:
    body = _probe(ProbeTarget(kind="dns", host="a" * 64 + ".example"), timeout_s=1, key=KEY)
    assert (body["ok"], body["error"]) == (False, {"domain": "other", "code": 0, "name": "UnicodeError"})


def test_a_resolver_that_hangs_is_cut_off_at_the_timeout() -> None:
    release = threading.Event()

    def resolve(host: str, port: int | None, **_: Any) -> list[tuple[Any, ...]]:
        release.wait(5)
        return []

    try:
        body = _probe(ProbeTarget(kind="dns", host="slow.example"), timeout_s=0.05, key=KEY, resolve=resolve)
    finally:
        release.set()
    assert body["error"]["name"] == "ETIMEDOUT"


def test_jitter_stays_within_its_bounds_and_follows_the_injected_rng() -> None:
    source = ProbesSource(["dns:localhost"], interval_s=30, jitter=0.2, rng=random.Random(7))
    delays = [source.next_delay() for _ in range(200)]
    assert all(24 <= delay <= 36 for delay in delays)
    assert len(set(delays)) > 100
    again = ProbesSource(["dns:localhost"], interval_s=30, jitter=0.2, rng=random.Random(7))
    assert [again.next_delay() for _ in range(200)] == delays


def test_source_stamps_each_probe_with_its_start_time(listener: int) -> None:
    source = ProbesSource([f"tcp:127.0.0.1:{listener}", "dns:localhost"], key="k", clock=lambda: 1_700_000_000.25)
    seen = [source.probe(target) for target in source.targets]
    assert [(o.type, o.ts_ms, jsonable(o.body)["kind"], jsonable(o.body)["ok"]) for o in seen] == [
        ("probe", 1_700_000_000_250, "tcp", True),
        ("probe", 1_700_000_000_250, "dns", True),
    ]


def test_run_probes_every_target_then_stops(listener: int) -> None:
    stop, seen = threading.Event(), list[Observation]()

    def emit(observation: Observation) -> None:
        seen.append(observation)
        if len(seen) == 4:
            stop.set()

    ProbesSource([f"tcp:127.0.0.1:{listener}", "dns:localhost"], interval_s=0.01, jitter=0.5).run(emit, stop)
    assert [jsonable(o.body)["kind"] for o in seen] == ["tcp", "dns", "tcp", "dns"]


@pytest.mark.parametrize(
    "kwargs",
    [{"interval_s": 0}, {"timeout_s": -1}, {"jitter": 1.0}, {"targets": ["dns:example.com@en0"]}],
)
def test_a_broken_configuration_fails_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="probe"):
        ProbesSource(**{"targets": ["dns:localhost"], **kwargs})
