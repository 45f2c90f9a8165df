"""How fast ``netdown-stream replay`` chews through a fleet capture, against merely parsing its lines.

A post-mortem replays hours of a fleet's events, so the replay must stay close to the cost of reading
them: the target is at least 100k events/s and at least a quarter of a decode-only pass (``json.loads``
of every line) over the same file, measured in the same run so the machine's speed cancels out.

The capture comes from the project's fleet simulator (:mod:`netdown.sim`), deterministic for a seed and
shaped like the real thing: every device boots, reports its system path on changes and with every
heartbeat, probes two targets every 30 s ± 20 %, sends a heartbeat every 5 min and logs the monitored
extension's connections; some devices hit an NECP
episode (recovering, or stuck until a reboot), an outage or a wake transient; delivery adds
jitter, late spool replays, duplicates (some resent past the allowed lateness) and a few lost events.
:func:`fleet_capture` is public so the replay tests run the same kind of input.

Run ``python -m benchmarks.replay_throughput [--events N] [--devices D] [--seed S] [--keep FILE] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, NamedTuple

import msgspec

from netdown import wire
from netdown.cli_args import positive_int
from netdown.detection.detector import DetectorParams
from netdown.sim import DEFAULT_RELEASES, DEFAULT_START_MS, Delivery, FleetSpec, Release, simulate
from netdown.stream import replay

__all__ = [
    "Result",
    "fleet_capture",
    "fleet_events",
    "main",
    "measure_decode_only",
    "measure_replay_cli",
    "measure_replay_in_process",
]

TARGET_EVENTS_PER_S: Final = 100_000
TARGET_RATIO: Final = 0.25
# A few Linux endpoints besides the Macs, so the replay meets both platforms' releases.
RELEASES: Final = (*DEFAULT_RELEASES, Release("6.8.0-45-generic", "", weight=10.0, platform="linux"))
# What a device meets over the whole capture, whatever its length (a short capture is still eventful).
EPISODES_PER_CAPTURE: Final = 0.3
STUCK_SHARE: Final = 0.4
OUTAGES_PER_CAPTURE: Final = 0.12
TRANSIENTS_PER_CAPTURE: Final = 0.1
EVENTS_PER_S: Final = 0.1  # a device's average rate at the default parameters, to size the simulated span
_DAY_MS: Final = 86_400_000


def fleet_capture(events: int, devices: int, seed: int = 1) -> list[bytes]:
    """``events`` wire-encoded lines (no newline) of a simulated fleet, in arrival order; same seed, same lines."""
    return [wire.encode(event) for event in fleet_events(events, devices, seed)]


def fleet_events(events: int, devices: int, seed: int = 1) -> list[wire.Event]:
    """``events`` events of a simulated fleet at the production parameters, in arrival order; same seed, same events.

    The input of every throughput benchmark: the simulator's interleaved fleet at the agent's real cadence.
    """
    if events < 1 or devices < 1:
        raise ValueError("a capture needs at least one event and one device")
    # Simulate a little longer than the events need, then cut at the arrival of the events-th line: the capture
    # ends mid-story, as a real one does. Should the estimate of the rate fall short, simulate longer.
    duration_ms = int(events / devices / EVENTS_PER_S * 1000 * 1.05)
    while len(deliveries := _simulate_fleet(devices, seed, duration_ms)) < events:
        duration_ms *= 2
    return [delivery.event for delivery in deliveries[:events]]


def _simulate_fleet(devices: int, seed: int, duration_ms: int) -> list[Delivery]:
    """Every device's deliveries over ``duration_ms``, in arrival order."""
    per_day = _DAY_MS / duration_ms
    spec = FleetSpec(
        devices=devices,
        seed=seed,
        releases=RELEASES,
        episodes_per_device_day=EPISODES_PER_CAPTURE * per_day,
        stuck_share=STUCK_SHARE,
        outages_per_device_day=OUTAGES_PER_CAPTURE * per_day,
        transients_per_device_day=TRANSIENTS_PER_CAPTURE * per_day,
    )
    return simulate(spec, start_ms=DEFAULT_START_MS, duration_ms=duration_ms, params=DetectorParams()).deliveries


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
    parser.add_argument("--events", type=positive_int, default=200_000, help="lines in the capture (default: 200000)")
    parser.add_argument("--devices", type=positive_int, default=2_000, help="devices in the fleet (default: 2000)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default: 1)")
    parser.add_argument("--repeat", type=positive_int, default=3, help="in-process passes, best kept (default: 3)")
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
