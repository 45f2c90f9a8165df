"""Route parsers (BSD ``route get``, Linux ``/proc/net/*route``) and the shared emit-on-change loop."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest

from netdown import wire
from netdown.agent.sources.base import Observation
from netdown.agent.sources.routes import (
    KernelRoute,
    PathPoller,
    parse_proc_net_ipv6_route,
    parse_proc_net_route,
    parse_route_get,
    run_command,
)
from tests.unit.agent.golden import FIXTURES, assert_golden, cases


@pytest.mark.parametrize("case", cases("route_get"), ids=lambda path: path.stem)
def test_route_get_golden(case: Path) -> None:
    assert_golden(case, parse_route_get(case.read_text(encoding="utf-8")))


def test_route_get_default_names_interface_gateway_and_flags() -> None:
    route = parse_route_get((FIXTURES / "route_get/c6_route_get_0_default_en0.txt").read_text(encoding="utf-8"))
    assert (route.destination, route.mask, route.gateway, route.interface) == (
        "default",
        "default",
        "10.62.96.1",
        "en0",
    )
    assert route.flags == ("UP", "GATEWAY", "DONE", "STATIC", "PRCLONING", "GLOBAL")
    assert route.found
    assert route.unrecognised == 1  # the prompt line; the metrics table is known and skipped


def test_route_get_not_in_table_is_no_route_not_an_unknown_line() -> None:
    route = parse_route_get("route: writing to routing socket: not in table\n")
    assert not route.found
    assert route.unrecognised == 0


def _sysfs(case: str, name: str) -> str:
    return (FIXTURES / "linux_sysfs" / case / "proc/net" / name).read_text(encoding="ascii")


def test_proc_net_route_decodes_native_order_addresses() -> None:
    routes = parse_proc_net_route(_sysfs("netns_veth_up", "route"))
    assert routes == (
        KernelRoute(interface="veth0", destination="0.0.0.0/0", gateway="10.231.0.1", flags=0x3, metric=0),
        KernelRoute(interface="veth0", destination="10.231.0.0/30", gateway=None, flags=0x1, metric=0),
    )
    assert [(r.is_default, r.usable) for r in routes] == [(True, True), (False, True)]


def test_proc_net_ipv6_route_finds_the_default_and_the_reject_route() -> None:
    routes = parse_proc_net_ipv6_route(_sysfs("host_debian", "ipv6_route"))
    defaults = [(r.interface, r.gateway, r.usable) for r in routes if r.is_default]
    # eth0's real default, and the kernel's `unreachable ::/0 dev lo` (RTF_REJECT), which is not usable.
    assert defaults == [("eth0", "fd00::1", True), ("lo", None, False)]


def test_proc_parsers_skip_malformed_rows() -> None:
    assert parse_proc_net_route("Iface\tDestination\nbogus row\neth0 zz 00 0003 0 0 0 00 0 0 0\n") == ()
    assert parse_proc_net_ipv6_route("short row\n" + "x" * 32 + " 00 " * 8 + " eth0\n") == ()


def test_run_command_returns_output_whatever_the_exit_status() -> None:
    assert run_command(["sh", "-c", "echo out; echo err >&2; exit 1"]) == "out\nerr\n"


_UP: Final = wire.PathBody(observer="system", status="satisfied", interfaces=(), ipv4=True, ipv6=False, dns=True)


class _Scripted(PathPoller):
    name = "scripted"

    def __init__(self, bodies: list[wire.PathBody | Exception | None], **kwargs: Any) -> None:
        super().__init__(**{"interval_s": 0.001, "clock": lambda: 1.5, **kwargs})
        self.bodies = bodies

    def poll(self) -> wire.PathBody | None:
        body = self.bodies.pop(0) if self.bodies else None
        if isinstance(body, Exception):
            raise body
        return body


def test_poller_emits_each_change_once_and_skips_unreadable_polls() -> None:
    up = _UP
    down = msgspec.structs.replace(up, status="unsatisfied", reason="no_route")
    equal = msgspec.structs.replace(up)  # another poll's body, equal by value
    source, seen = _Scripted([up, equal, None, OSError("gone"), down, up]), list[Observation]()
    for _ in range(6):
        source.step(seen.append)
    assert [o.body for o in seen] == [up, down, up]
    assert {o.ts_ms for o in seen} == {1500}


def test_poller_reemits_an_unchanged_path_within_each_heartbeat_interval_and_a_change_at_once() -> None:
    down = msgspec.structs.replace(_UP, status="unsatisfied", reason="no_route")
    now = [0.0]
    # Polls every 2 s, heartbeats every 10 s: the refresh is due once the next poll would be late.
    source = _Scripted([], interval_s=2.0, heartbeat_interval_s=10.0, clock=lambda: now[0], monotonic=lambda: now[0])
    script = {9.0: down}  # the path changes at t=9 (between regular polls)
    seen: list[Observation] = []
    for now[0] in (0.0, 2.0, 4.0, 6.0, 8.0, 9.0, 11.0, 13.0, 15.0, 17.0, 19.0):
        source.bodies = [script.get(now[0], source.last or _UP)]
        source.step(seen.append)
    assert [(o.ts_ms, o.body.status) for o in seen if isinstance(o.body, wire.PathBody)] == [
        (0, "satisfied"),
        (8000, "satisfied"),  # unchanged, re-emitted: the poll at 10 s would be later than one heartbeat interval
        (9000, "unsatisfied"),  # a change is emitted by the first poll that sees it, and restarts the refresh
        (17000, "unsatisfied"),
    ]
    assert all(o.event_id is None for o in seen), "a refresh is an ordinary event: the agent draws its event_id"
    gaps = [b.ts_ms - a.ts_ms for a, b in itertools.pairwise(seen)]
    assert max(gaps) <= 10_000


def test_poller_refreshes_nothing_while_the_system_cannot_be_read() -> None:
    now = [0.0]
    bodies: list[wire.PathBody | Exception | None] = [_UP, None, OSError("gone"), None]
    source = _Scripted(bodies, interval_s=1.0, heartbeat_interval_s=2.0, monotonic=lambda: now[0])
    seen: list[Observation] = []
    for now[0] in (0.0, 1.0, 2.0, 3.0):
        source.step(seen.append)
    assert [o.body for o in seen] == [_UP], "no evidence is sent as the last evidence seen"


def test_poller_run_returns_when_stopped() -> None:
    stop, seen = threading.Event(), list[Observation]()
    source = _Scripted([_UP])
    worker = threading.Thread(target=source.run, args=(seen.append, stop))
    worker.start()
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()


def test_poller_refuses_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        PathPoller(interval_s=0)
    with pytest.raises(ValueError, match="heartbeat_interval_s"):
        PathPoller(interval_s=1, heartbeat_interval_s=0)
