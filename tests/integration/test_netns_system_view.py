"""The Linux system view on a real kernel: a veth link goes down and up inside network namespaces.

Two namespaces joined by a veth pair (10.231.0.2/30 <-> 10.231.0.1/30, addresses that exist only
inside them); the client namespace's default route points at the peer, where a listener accepts.
Inside the client namespace the real ``linux_path`` source and a TCP probe bound to the veth run in
a child process that prints each observation as a JSON line. The test then breaks the path two
ways and asserts the system path events and the probe errors the kernel really gives:

1. ``ip link set veth0 down`` in the client namespace: the kernel flushes the routes, the path is
   ``interface_unavailable`` and a connect fails at once (ENETUNREACH on Linux).
2. ``ip link set veth0 up``: the link is back but its default route is not (a DHCP client would
   re-add it): ``no_route``; the test re-adds it: ``satisfied``.
3. ``ip link set veth1 down`` on the peer: carrier lost, routes kept: ``interface_unavailable``
   again, and a connect fails when neighbour resolution gives up (EHOSTUNREACH after ~3 s).
4. The peer comes back: ``satisfied``, and probes succeed again.

A second test polls less often and heartbeats every 1.5 s: with the link unchanged the same path
is sent again within one heartbeat interval, and a link taken down shows by the next poll.

No packet leaves the two namespaces; both are deleted even when the test fails.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

pytestmark = [
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0, reason="network namespaces need root (CI runs as root)"
    ),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2's `ip` is not installed"),
    pytest.mark.timeout(90),
]

CLIENT_ADDR: Final = "10.231.0.2"
PEER_ADDR: Final = "10.231.0.1"
PORT: Final = 18080
REPO: Final = Path(__file__).resolve().parents[2]
# The kernel's own answers to a connect through a path that is down, whichever way it went down.
PATH_DOWN_ERRORS: Final = {"ENETUNREACH", "ENETDOWN", "EHOSTUNREACH"}

# Accepts and closes connections until killed; bounded so a leaked process cannot outlive the run.
LISTENER: Final = f"""
import socket, time
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("{PEER_ADDR}", {PORT}))
server.listen(64)
server.settimeout(0.5)
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        server.accept()[0].close()
    except OSError:
        pass
"""


def observer_program(poll_s: float = 0.05, heartbeat_interval_s: float = 300.0) -> str:
    """The agent's real sources, run in the client namespace; stops when stdin closes (or after 120 s).

    With the default heartbeat interval no unchanged path is re-emitted within a test's run.
    """
    return f"""
import json, sys, threading
import msgspec
from netdown.agent.sources.linux_sysfs import LinuxPathSource
from netdown.agent.sources.probes import ProbesSource
stop, lock = threading.Event(), threading.Lock()
def emit(observation):
    with lock:
        body = msgspec.json.decode(msgspec.json.encode(observation.body))  # the typed body as its JSON object
        print(json.dumps({{"type": observation.type, "ts_ms": observation.ts_ms, **body}}), flush=True)
sources = [
    LinuxPathSource(interval_s={poll_s}, heartbeat_interval_s={heartbeat_interval_s}),
    ProbesSource(["tcp:{PEER_ADDR}:{PORT}@veth0"], interval_s=0.2, jitter=0.2, timeout_s=5.0),
]
threads = [threading.Thread(target=s.run, args=(emit, stop), daemon=True) for s in sources]
for thread in threads:
    thread.start()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
stop.wait(120)
stop.set()
for thread in threads:
    thread.join(6)
"""


def ip(*args: str) -> None:
    """Run one iproute2 command; fail the test with its message if it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr.strip()}"


def wait_until_up(namespace: str, link: str, timeout_s: float = 10) -> None:
    """Wait for the kernel's operstate UP: it lags ``ip link set up`` by the link watcher's delay."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        shown = subprocess.run(
            ["ip", "-n", namespace, "-o", "link", "show", link], capture_output=True, text=True, check=False
        )
        if " state UP " in shown.stdout:
            return
        time.sleep(0.05)
    raise AssertionError(f"{link} in {namespace} did not come up within {timeout_s} s")


@dataclass
class Namespaces:
    """The two namespaces of one test run, and the processes started in them."""

    client: str
    peer: str
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    def start(self, namespace: str, program: str) -> subprocess.Popen[str]:
        """A Python program run inside ``namespace`` with the project's interpreter."""
        process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", program],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    """Client and peer namespaces joined by veth0/veth1, the client's default route via the peer."""
    tag = f"{os.getpid() % 100000}"
    ns = Namespaces(client=f"nd-client-{tag}", peer=f"nd-peer-{tag}")
    try:
        ip("netns", "add", ns.client)
        ip("netns", "add", ns.peer)
        ip("link", "add", "veth0", "netns", ns.client, "type", "veth", "peer", "name", "veth1", "netns", ns.peer)
        ip("-n", ns.client, "addr", "add", f"{CLIENT_ADDR}/30", "dev", "veth0")
        ip("-n", ns.peer, "addr", "add", f"{PEER_ADDR}/30", "dev", "veth1")
        for name, link in ((ns.client, "lo"), (ns.peer, "lo"), (ns.peer, "veth1"), (ns.client, "veth0")):
            ip("-n", name, "link", "set", link, "up")
        ip("-n", ns.client, "route", "add", "default", "via", PEER_ADDR)
        wait_until_up(ns.client, "veth0")  # so the observer's first event is the healthy path
        yield ns
    finally:
        for process in ns.processes:
            process.kill()
            process.wait(timeout=10)
        for reader in ns.readers:  # each ends at its process's EOF; then the pipes can be closed
            reader.join(timeout=10)
        for process in ns.processes:
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        for name in (ns.client, ns.peer):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)


class Observations:
    """The observer's JSON lines, collected by a reader thread; the test waits on them in order."""

    def __init__(self, process: subprocess.Popen[str], namespaces: Namespaces) -> None:
        self.process = process
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        assert process.stdout is not None
        reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        namespaces.readers.append(reader)
        reader.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(json.loads(line))

    def wait_for(self, what: str, matches: Callable[[dict[str, Any]], bool], timeout_s: float = 15) -> dict[str, Any]:
        """The next observation (after those already consumed) that ``matches``."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                observation = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(observation)
            if matches(observation):
                return observation
        stderr = self.process.stderr.read() if self.process.poll() is not None and self.process.stderr else "(running)"
        raise AssertionError(f"no {what} within {timeout_s} s; saw {self.seen[-12:]}; observer stderr: {stderr}")

    def path(self, status: str, reason: str | None) -> dict[str, Any]:
        """The next system path event with this status and reason."""
        return self.wait_for(
            f"path {status}/{reason}", lambda o: o["type"] == "path" and (o["status"], o["reason"]) == (status, reason)
        )

    def probe_after(self, ts_ms: int, ok: bool) -> dict[str, Any]:
        """The first probe that started at or after ``ts_ms`` with this outcome."""
        return self.wait_for(f"probe ok={ok}", lambda o: o["type"] == "probe" and o["ts_ms"] >= ts_ms and o["ok"] is ok)


def test_link_down_and_up_gives_the_right_system_path_events_and_the_kernels_probe_errors(
    namespaces: Namespaces,
) -> None:
    ns = namespaces
    namespaces.start(ns.peer, LISTENER)
    observer = namespaces.start(ns.client, observer_program())
    seen = Observations(observer, namespaces)
    veth0 = [{"name": "veth0", "type": "wired"}]

    up = seen.path("satisfied", None)
    assert (up["observer"], up["app"], up["interfaces"], up["ipv4"]) == ("system", None, veth0, True)
    seen.probe_after(up["ts_ms"], ok=True)

    ip("-n", ns.client, "link", "set", "veth0", "down")
    down = seen.path("unsatisfied", "interface_unavailable")
    assert (down["interfaces"], down["ipv4"], down["dns"]) == ([], False, False)
    admin_down_error = seen.probe_after(down["ts_ms"], ok=False)
    assert admin_down_error["error"]["name"] in PATH_DOWN_ERRORS
    assert admin_down_error["error"]["code"] == getattr(errno, admin_down_error["error"]["name"])
    assert (admin_down_error["target"], admin_down_error["interface"]) == (f"{PEER_ADDR}:{PORT}", "veth0")

    ip("-n", ns.client, "link", "set", "veth0", "up")
    no_route = seen.path("unsatisfied", "no_route")
    assert no_route["interfaces"] == veth0
    ip("-n", ns.client, "route", "add", "default", "via", PEER_ADDR)
    back = seen.path("satisfied", None)
    seen.probe_after(back["ts_ms"], ok=True)

    ip("-n", ns.peer, "link", "set", "veth1", "down")
    carrier_lost = seen.path("unsatisfied", "interface_unavailable")
    carrier_error = seen.probe_after(carrier_lost["ts_ms"], ok=False)
    assert carrier_error["error"]["name"] in PATH_DOWN_ERRORS
    ip("-n", ns.peer, "link", "set", "veth1", "up")
    again = seen.path("satisfied", None)
    seen.probe_after(again["ts_ms"], ok=True)

    paths = [(o["status"], o["reason"], [i["name"] for i in o["interfaces"]]) for o in seen.seen if o["type"] == "path"]
    assert paths == [
        ("satisfied", None, ["veth0"]),
        ("unsatisfied", "interface_unavailable", []),
        ("unsatisfied", "no_route", ["veth0"]),
        ("satisfied", None, ["veth0"]),
        ("unsatisfied", "interface_unavailable", []),
        ("satisfied", None, ["veth0"]),
    ]
    # Shown with `pytest -s`: the evidence this test saw, for the record.
    print(json.dumps({"paths": paths, "admin_down": admin_down_error, "carrier_lost": carrier_error}, indent=1))


def test_a_link_change_shows_within_one_poll_and_an_unchanged_path_is_refreshed_each_heartbeat(
    namespaces: Namespaces,
) -> None:
    poll_s, heartbeat_s = 0.25, 1.5
    # What a poll costs besides its interval: reading sysfs and the thread waking up (generous).
    slack_ms = 150
    ns = namespaces
    observer = namespaces.start(ns.client, observer_program(poll_s=poll_s, heartbeat_interval_s=heartbeat_s))
    seen = Observations(observer, namespaces)

    def is_path(o: dict[str, Any]) -> bool:
        return bool(o["type"] == "path")

    up = seen.path("satisfied", None)
    refreshed = seen.wait_for("the unchanged path again", is_path)
    assert {**refreshed, "ts_ms": 0} == {**up, "ts_ms": 0}, "nothing changed, so the same path is sent again"
    # Due once the next poll would be later than one heartbeat interval after the last event.
    assert (heartbeat_s - poll_s) * 1000 - slack_ms <= refreshed["ts_ms"] - up["ts_ms"] <= heartbeat_s * 1000 + slack_ms

    ip("-n", ns.client, "link", "set", "veth0", "down")
    changed_ms = time.time() * 1000  # the kernel has applied the change when `ip` returns
    down = seen.wait_for("the changed path", is_path)
    assert (down["status"], down["reason"]) == ("unsatisfied", "interface_unavailable")
    assert down["ts_ms"] - changed_ms <= poll_s * 1000 + slack_ms, "a change is sent by the next poll"
    again = seen.wait_for("the unchanged path again", is_path)
    assert {**again, "ts_ms": 0} == {**down, "ts_ms": 0}
    assert again["ts_ms"] - down["ts_ms"] <= heartbeat_s * 1000 + slack_ms
