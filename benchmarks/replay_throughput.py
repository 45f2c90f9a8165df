"""How fast ``netdown-stream replay`` chews through a fleet capture, against merely parsing its lines.

A post-mortem replays hours of a fleet's events, so the replay must stay close to the cost of reading
them: the target is at least 100k events/s and at least a quarter of a decode-only pass (``json.loads``
of every line) over the same file, measured in the same run so the machine's speed cancels out.

The capture is simulated, deterministic for a seed, and shaped like the real thing: every device boots,
reports its system path on changes, probes every ~30 s, sends a heartbeat every 5 min and logs the
monitored extension's connections; some devices hit an NECP episode (recovering, stuck, or ended by a
reboot), an outage or a transient; delivery adds jitter, spool bursts, stragglers past the allowed
lateness, duplicates and a few lost events. :func:`fleet_capture` is public so the replay tests run the
same kind of input.

Run ``python -m benchmarks.replay_throughput [--events N] [--devices D] [--seed S] [--keep FILE] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, TypeAlias, TypeVar

import msgspec

from netdown import wire
from netdown.stream import replay
from netdown.stream.detector import DetectorParams
from netdown.testing import sample_event

__all__ = ["Result", "fleet_capture", "main", "measure_decode_only", "measure_replay_cli", "measure_replay_in_process"]

T0_MS: Final = 1_732_540_800_000
APP: Final = "com.example.vpn.tunnel"  # the monitored extension (one episode key per device)
TARGET_EVENTS_PER_S: Final = 100_000
TARGET_RATIO: Final = 0.25
# (os_version, os_build, platform, weight): a fleet spread over a few releases, a few Linux endpoints.
RELEASES: Final = (
    ("14.4.1", "23E224", "darwin", 30),
    ("14.3.1", "23D60", "darwin", 20),
    ("13.6.4", "22G513", "darwin", 15),
    ("15.1", "24B83", "darwin", 25),
    ("6.8.0-45-generic", "", "linux", 10),
)
Scenario: TypeAlias = Literal["quiet", "episode", "stuck", "stuck_reboot", "outage", "transient"]
SCENARIOS: Final[dict[Scenario, int]] = {
    "quiet": 58,
    "episode": 12,
    "stuck": 4,
    "stuck_reboot": 4,
    "outage": 12,
    "transient": 10,
}
# Delivery faults, per event (per device for spool bursts).
P_DUPLICATE: Final = 0.005
P_STRAGGLER: Final = 0.002
P_LOST: Final = 0.001
P_SPOOL_BURST: Final = 0.05
EVENTS_PER_S: Final = 0.1  # a device's average rate, to size its timeline for its share of the events

_E = TypeVar("_E", bound=wire.Event)


def _template(event_type: wire.EventType, cls: type[_E], **fields: Any) -> _E:
    """A realistic event of ``cls`` from :func:`netdown.testing.sample_event`, to be stamped per emission."""
    return msgspec.convert(sample_event(event_type, **fields), cls)


_SYSTEM_PATH: Final = _template("path", wire.PathEvent, observer="system", app=None, status="satisfied", reason=None)
_APP_PATH: Final = _template("path", wire.PathEvent)
_CONN: Final = _template("conn", wire.ConnEvent)
_PROBE: Final = _template("probe", wire.ProbeEvent)
_HEARTBEAT: Final = _template("heartbeat", wire.HeartbeatEvent)
_WIFI: Final = (wire.Interface(name="en0", type="wifi"), wire.Interface(name="utun3", type="tunnel"))
_WIRED: Final = (wire.Interface(name="en7", type="wired"), *_WIFI)
_READY: Final[dict[str, Any]] = {"state": "ready", "error": None, "path_status": "satisfied", "path_reason": None}


@dataclass
class _Window:
    """A span of a device's timeline in which something is wrong (``end_ms`` None: until it stops reporting)."""

    start_ms: int
    end_ms: int | None

    def covers(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms and (self.end_ms is None or ts_ms < self.end_ms)


@dataclass
class _Device:
    """One simulated Mac: its identity, its boots, its scenario, and the events it emitted (any order)."""

    rng: random.Random
    device_id: str
    release: tuple[str, str, str]
    start_ms: int
    boots: list[tuple[int, str]]  # (start_ms, boot_id), in time order
    episode: _Window | None = None
    outage: _Window | None = None
    emitted: list[tuple[int, wire.Event]] = field(default_factory=list)

    def boot_at(self, ts_ms: int) -> tuple[int, str]:
        """The boot a time falls in: when it started, and its id."""
        return [boot for boot in self.boots if boot[0] <= ts_ms][-1]

    def reboot(self, ts_ms: int) -> None:
        """The user restarts the Mac at ``ts_ms``: a new ``boot_id`` from then on."""
        self.boots.append((ts_ms, _uuid(self.rng).upper()))

    def emit(self, template: wire.Event, ts_ms: int, **fields: Any) -> None:
        """Stamp ``template`` with this device's envelope at ``ts_ms`` (``seq`` is assigned later, in time order)."""
        os_version, os_build, platform_ = self.release
        event = msgspec.structs.replace(
            template,
            event_id=_uuid(self.rng),
            device_id=self.device_id,
            boot_id=self.boot_at(ts_ms)[1],
            ts_ms=ts_ms,
            platform=platform_,
            os_version=os_version,
            os_build=os_build,
            **fields,
        )
        self.emitted.append((ts_ms, event))


def _uuid(rng: random.Random) -> str:
    """A random UUID drawn from the simulation's generator, so a seed fixes every id."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _enetdown(platform_: str) -> wire.ErrorInfo:
    """ENETDOWN as each platform numbers it (design brief: 50 on darwin, 100 on linux)."""
    return wire.ErrorInfo(domain="posix", code=50 if platform_ == "darwin" else 100, name="ENETDOWN")


def _new_device(rng: random.Random, index: int, duration_ms: int) -> _Device:
    """A device with its identity and scenario drawn, and the scenario's windows and reboot placed in its timeline."""
    release = rng.choices([release[:3] for release in RELEASES], [release[3] for release in RELEASES])[0]
    start_ms = T0_MS + rng.randrange(600_000)
    device = _Device(
        rng=rng,
        device_id=f"mac-{index:04d}-{rng.getrandbits(40):010x}",
        release=release,
        start_ms=start_ms,
        boots=[(start_ms, _uuid(rng).upper())],
    )
    scenario = rng.choices(list(SCENARIOS), list(SCENARIOS.values()))[0]
    at_ms = start_ms + 60_000 + int(duration_ms * rng.uniform(0.1, 0.35))  # after boot has settled
    match scenario:
        case "episode":
            device.episode = _Window(at_ms, at_ms + rng.randrange(60_000, 240_000))
        case "stuck":
            device.episode = _Window(at_ms, None)
        case "stuck_reboot":  # the field's workaround: the user reboots, and the episode closes with it
            reboot_ms = at_ms + rng.randrange(400_000, 700_000)
            device.episode = _Window(at_ms, reboot_ms)
            device.reboot(reboot_ms)
        case "outage":
            device.outage = _Window(at_ms, at_ms + rng.randrange(30_000, 120_000))
    _simulate(device, at_ms if scenario == "transient" else None, start_ms + duration_ms)
    return device


def _simulate(device: _Device, transient_ms: int | None, end_ms: int) -> None:
    """Emit the device's whole timeline: boots, periodic reports, its extension's connections, its scenario."""
    for boot_ms, _ in device.boots:
        device.emit(_HEARTBEAT, boot_ms, uptime_s=device.rng.randrange(30, 90))
        device.emit(_SYSTEM_PATH, boot_ms + device.rng.randrange(100, 2_000), interfaces=_WIFI)
    _periodic(device, end_ms)
    _connections(device, end_ms)
    if device.outage is not None:
        _outage_paths(device, device.outage)
    if device.episode is not None:
        _episode_paths(device, device.episode)
    if transient_ms is not None:
        _transient(device, transient_ms)


def _periodic(device: _Device, end_ms: int) -> None:
    """Probes every ~30 s (failing during an outage), heartbeats every 5 min, a dock or undock now and then."""
    rng = device.rng
    ts = device.start_ms + rng.randrange(1_000, 30_000)
    while ts < end_ms:
        if device.outage is not None and device.outage.covers(ts):
            device.emit(_PROBE, ts, ok=False, latency_ms=None, error=_enetdown(device.release[2]), interface=None)
        else:
            device.emit(_PROBE, ts, latency_ms=round(rng.uniform(8, 300), 1))
        ts += rng.randrange(28_000, 32_000)
    for ts in range(device.start_ms + 300_000, end_ms, 300_000):
        sent_ms = ts + rng.randrange(1_000)
        device.emit(_HEARTBEAT, sent_ms, uptime_s=60 + (sent_ms - device.boot_at(sent_ms)[0]) // 1000)
    ts = device.start_ms + rng.randrange(300_000, 900_000)
    while ts < end_ms:  # wired joins or leaves: the system path is re-evaluated, healthy throughout
        device.emit(_SYSTEM_PATH, ts, interfaces=rng.choice((_WIFI, _WIRED)))
        ts += rng.randrange(300_000, 900_000)


def _connections(device: _Device, end_ms: int) -> None:
    """The extension's connections: ready when its path is allowed, ENETDOWN retries with a backoff when not."""
    rng = device.rng
    ts = device.start_ms + rng.randrange(500, 5_000)
    while ts < end_ms:
        conn = _conn_ids(rng)
        device.emit(_CONN, ts, state="preparing", error=None, path_status=None, **conn)
        if device.episode is not None and device.episode.covers(ts):
            device.emit(_CONN, ts + rng.randrange(5, 50), **_failed(device, "policy_denied"), **conn)
            ts += rng.randrange(5_000, 30_000)
        elif device.outage is not None and device.outage.covers(ts):
            device.emit(_CONN, ts + rng.randrange(5, 50), **_failed(device, "no_route"), **conn)
            ts += rng.randrange(5_000, 30_000)
        else:
            device.emit(_CONN, ts + rng.randrange(20, 400), **_READY, **conn)
            ts += rng.randrange(20_000, 60_000)


def _conn_ids(rng: random.Random) -> dict[str, str]:
    """A new connection's id and (hashed) endpoint."""
    return {"conn_id": f"C{rng.randrange(1, 9999)}", "endpoint": f"Hostname#{rng.getrandbits(32):08x}:443"}


def _failed(device: _Device, path_reason: str) -> dict[str, Any]:
    """The fields of a connection that failed with ENETDOWN, its path unsatisfied for ``path_reason``."""
    return {"state": "failed", "error": _enetdown(device.release[2]), "path_reason": path_reason}


def _episode_paths(device: _Device, window: _Window) -> None:
    """The extension's own path monitor during an NECP episode: denied by policy, then satisfied again."""
    device.emit(_APP_PATH, window.start_ms + 3)
    if window.end_ms is not None and all(boot_ms != window.end_ms for boot_ms, _ in device.boots):
        device.emit(_APP_PATH, window.end_ms, status="satisfied", reason=None)


def _outage_paths(device: _Device, window: _Window) -> None:
    """The system's path during a real outage (every app is offline): unsatisfied, then back."""
    device.emit(_SYSTEM_PATH, window.start_ms - 500, status="unsatisfied", reason="no_route", interfaces=())
    assert window.end_ms is not None
    device.emit(_SYSTEM_PATH, window.end_ms - 1_000, interfaces=_WIFI)


def _transient(device: _Device, at_ms: int) -> None:
    """Wi-Fi re-associates; one ENETDOWN a few seconds after the path is back, ready again within G."""
    rng = device.rng
    device.emit(_SYSTEM_PATH, at_ms - 3_000, status="unsatisfied", reason="interface_unavailable", interfaces=())
    device.emit(_SYSTEM_PATH, at_ms, interfaces=_WIFI)
    conn = _conn_ids(rng)
    failed_ms = at_ms + rng.randrange(1_000, 6_000)
    device.emit(_CONN, failed_ms, **_failed(device, "no_route"), **conn)
    device.emit(_CONN, failed_ms + rng.randrange(500, 3_000), **_READY, **conn)


class _Delivery(NamedTuple):
    """One line as the broker received it; tuples sort by arrival, ties in a fixed order."""

    arrival_ms: int
    device: int
    order: int
    line: bytes


def _deliveries(device: _Device, index: int) -> Iterator[_Delivery]:
    """The device's events as the broker receives them: seq in event-time order, then delivery's faults."""
    rng = device.rng
    device.emitted.sort(key=lambda emitted: emitted[0])
    burst: _Window | None = None
    if rng.random() < P_SPOOL_BURST:  # the broker was unreachable: the spool delivers minutes later, in order
        start_ms = device.start_ms + rng.randrange(60_000, 600_000)
        burst = _Window(start_ms, start_ms + rng.randrange(120_000, 480_000))
    for seq, (ts_ms, event) in enumerate(device.emitted):
        line = wire.encode(msgspec.structs.replace(event, seq=seq))
        arrival = ts_ms + 20 + int(rng.expovariate(1 / 200))  # jitter reorders events a few ms apart
        if burst is not None and burst.covers(ts_ms):
            assert burst.end_ms is not None
            arrival = burst.end_ms + 2_000 + seq
        draw = rng.random()
        if draw < P_LOST:
            continue
        if draw < P_LOST + P_STRAGGLER:  # resent long after: past the allowed lateness, dropped as late
            arrival += rng.randrange(180_000, 600_000)
        yield _Delivery(arrival, index, seq, line)
        if rng.random() < P_DUPLICATE:  # a retry after a lost acknowledgement
            yield _Delivery(arrival + rng.randrange(500, 30_000), index, seq, line)


def fleet_capture(events: int, devices: int, seed: int = 1) -> list[bytes]:
    """``events`` wire-encoded lines (no newline) of a simulated fleet, in arrival order; same seed, same lines."""
    if events < 1 or devices < 1:
        raise ValueError("a capture needs at least one event and one device")
    # Simulate a little longer than the events need, then cut at the arrival of the events-th line: the capture
    # ends mid-story, as a real one does. Should the estimate of the rate fall short, simulate longer.
    duration_ms = int(events / devices / EVENTS_PER_S * 1000 * 1.05)
    while len(deliveries := _simulate_fleet(devices, seed, duration_ms)) < events:
        duration_ms *= 2
    return [delivery.line for delivery in deliveries[:events]]


def _simulate_fleet(devices: int, seed: int, duration_ms: int) -> list[_Delivery]:
    """Every device's deliveries over ``duration_ms``, merged in arrival order."""
    rng = random.Random(seed)
    deliveries = [
        delivery
        for index in range(devices)
        for delivery in _deliveries(_new_device(random.Random(rng.getrandbits(64)), index, duration_ms), index)
    ]
    deliveries.sort()
    return deliveries


# --- measurement ---


class Result(NamedTuple):
    """One pass over the capture."""

    name: str
    seconds: float
    events: int

    @property
    def events_per_s(self) -> float:
        """Throughput of the pass on one core."""
        return self.events / self.seconds


def _timed(name: str, events: int, action: Callable[[], object], repeat: int = 1) -> Result:
    """Best wall time of ``action`` over ``repeat`` runs; the collector stays on, as in production."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return Result(name, best, events)


def measure_decode_only(path: Path, events: int, repeat: int = 1) -> Result:
    """Read the file's lines and ``json.loads`` each: the floor any replay pays."""

    def decode_all() -> None:
        with path.open("rb") as stream:
            for line in stream:
                json.loads(line)

    return _timed("decode only (`json.loads` per line)", events, decode_all, repeat)


def measure_replay_in_process(path: Path, events: int, params: DetectorParams, repeat: int = 1) -> Result:
    """The replay command's own function over the file, incidents written to /dev/null (one write at the end)."""

    def replay_all() -> None:
        with path.open("rb") as stream, open(os.devnull, "wb") as sink:
            replay.replay_stream(stream, sink, params)

    return _timed("replay, in process (`replay.replay_stream`)", events, replay_all, repeat)


def measure_replay_cli(path: Path, events: int) -> Result:
    """The real ``netdown-stream replay`` command, stdout to /dev/null: start-up and imports included."""
    command = [str(Path(sys.executable).parent / "netdown-stream"), "replay", "--input", str(path)]

    def run_cli() -> None:
        with open(os.devnull, "wb") as devnull:
            subprocess.run(command, stdout=devnull, stderr=subprocess.PIPE, check=True)

    return _timed("replay, CLI (`netdown-stream replay`)", events, run_cli)


def _markdown(decode_only: Result, replays: Sequence[Result]) -> str:
    """The passes as the Markdown table quoted in reports, with the ratio each replay keeps of decode-only."""
    rows = [
        f"| {r.name} | {r.events:,} | {r.seconds:.2f} | {r.events_per_s:,.0f} "
        f"| {r.events_per_s / decode_only.events_per_s:.2f} |"
        for r in (decode_only, *replays)
    ]
    return "\n".join(["| pass | events | s | events/s | x decode-only |", "| --- | ---: | ---: | ---: | ---: |", *rows])


def _verdict(decode_only: Result, replay_result: Result) -> str:
    """Whether the in-process replay meets both targets of the issue."""
    ratio = replay_result.events_per_s / decode_only.events_per_s
    met = replay_result.events_per_s >= TARGET_EVENTS_PER_S and ratio >= TARGET_RATIO
    return (
        f"targets (>= {TARGET_EVENTS_PER_S:,} events/s and >= {TARGET_RATIO} x decode-only): "
        f"{'met' if met else 'NOT met'} ({replay_result.events_per_s:,.0f} events/s, {ratio:.2f} x)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Generate the capture, time decode-only and replay passes over it, print the table."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.replay_throughput", description="Time `netdown-stream replay` on a fleet capture."
    )
    parser.add_argument("--events", type=int, default=200_000, help="lines in the capture (default: 200000)")
    parser.add_argument("--devices", type=int, default=2_000, help="devices in the fleet (default: 2000)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default: 1)")
    parser.add_argument("--repeat", type=int, default=3, help="in-process passes, best kept (default: 3)")
    parser.add_argument("--keep", type=Path, metavar="FILE", help="write the capture here and keep it")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if min(args.events, args.devices, args.repeat) < 1:
        parser.error("--events, --devices and --repeat must be at least 1")

    started = time.perf_counter()
    lines = fleet_capture(args.events, args.devices, args.seed)
    with contextlib.ExitStack() as stack:
        path = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory())) / "capture.ndjson"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        sizes = sorted(map(len, lines))
        print(
            f"{len(lines):,} events from {args.devices:,} devices (seed {args.seed}), "
            f"{sizes[0]}-{sizes[-1]} bytes (median {sizes[len(sizes) // 2]}), {path.stat().st_size / 1e6:.1f} MB, "
            f"generated in {time.perf_counter() - started:.1f} s; Python {platform.python_version()}, "
            f"msgspec {msgspec.__version__}\n"
        )
        del lines
        decode_only = measure_decode_only(path, args.events, args.repeat)
        replays = [
            measure_replay_in_process(path, args.events, DetectorParams(), args.repeat),
            measure_replay_cli(path, args.events),  # once: a user runs it once
        ]
    print(_markdown(decode_only, replays))
    print("\n" + _verdict(decode_only, replays[0]))
    if args.json:
        report = {
            "events": args.events,
            "devices": args.devices,
            "seed": args.seed,
            "repeat": args.repeat,
            "python": platform.python_version(),
            "results": [{**r._asdict(), "events_per_s": r.events_per_s} for r in (decode_only, *replays)],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
