"""What one event costs to decode: JSON parsers alone, and parse + validate into a typed wire event.

The stream job decodes every message on the topic, so this is the number that sizes its CPU. It
compares the stdlib, orjson and msgspec parsing to plain dicts, then the three ways to end with a
validated :data:`netdown.wire.Event`: parse then ``msgspec.convert``, or msgspec's typed decoder in
one pass (:func:`netdown.wire.decode`, the production path).

Run ``python -m benchmarks.json_decode [--events N] [--repeat R] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple, get_args

import msgspec
import orjson

from netdown import wire
from netdown.cli_args import positive_int
from netdown.testing import sample_event

__all__ = ["CONTENDERS", "Contender", "Result", "build_messages", "main", "measure"]

SEED: Final = 20_241_125
# Roughly what a fleet sends: path and connection churn dominate, probes and heartbeats are periodic.
MIX: Final[dict[wire.EventType, int]] = {"path": 45, "conn": 40, "probe": 10, "heartbeat": 5}
APPS: Final = ("com.example.vpn.tunnel", "com.example.vpn.app", "com.example.proxy.agent", "com.example.filter")


class Contender(NamedTuple):
    """One way to turn bytes into something usable."""

    library: str
    mode: str
    decode: Callable[[bytes], object]


class Result(NamedTuple):
    """A contender's best per-event cost over the repeats."""

    library: str
    mode: str
    ns_per_event: float

    @property
    def events_per_s(self) -> float:
        """Throughput of one core at this cost, the unit capacity planning uses."""
        return 1e9 / self.ns_per_event


_RAW: Final = msgspec.json.Decoder()
_CLASS_BY_TYPE: Final[dict[str, type[msgspec.Struct]]] = {
    str(cls.__struct_config__.tag): cls for cls in get_args(wire.Event)
}


def _orjson_convert_by_type(data: bytes) -> object:
    """orjson, then convert to the one class ``type`` names.

    ``msgspec.convert(obj, wire.Event)`` rebuilds its validator for the union on every call (a bare
    union has no class to cache it on; about 3.5 us an event here), so this row shows the two-step
    design at its best.
    """
    obj = orjson.loads(data)
    return msgspec.convert(obj, _CLASS_BY_TYPE[obj["type"]])


CONTENDERS: Final = (
    Contender("json (stdlib)", "dict", json.loads),
    Contender("orjson", "dict", orjson.loads),
    Contender("msgspec", "dict", _RAW.decode),
    Contender("json + msgspec.convert", "typed, validated", lambda data: msgspec.convert(json.loads(data), wire.Event)),
    Contender(
        "orjson + msgspec.convert", "typed, validated", lambda data: msgspec.convert(orjson.loads(data), wire.Event)
    ),
    Contender("orjson + msgspec.convert", "typed, validated, class by `type`", _orjson_convert_by_type),
    Contender("netdown.wire.decode", "typed, validated", wire.decode),
)


def build_messages(count: int, seed: int = SEED) -> list[bytes]:
    """``count`` valid encoded events in a realistic mix, deterministic for a seed so runs compare."""
    rng = random.Random(seed)
    devices = [f"mac-{rng.getrandbits(48):012x}" for _ in range(500)]
    kinds, weights = zip(*MIX.items(), strict=True)
    return [wire.encode(_event(rng, rng.choices(kinds, weights)[0], devices, seq)) for seq in range(count)]


def _event(rng: random.Random, event_type: wire.EventType, devices: Sequence[str], seq: int) -> wire.Event:
    """One varied event: the sample of its type with the fields that change between messages redrawn."""
    envelope = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "device_id": rng.choice(devices),
        "boot_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper(),
        "seq": seq,
        "ts_ms": 1_732_540_800_000 + seq * 250 + rng.randrange(250),
    }
    body: dict[str, Any]
    match event_type:
        case "path":
            status = rng.choice(get_args(wire.PathStatus))
            reason = None if status == "satisfied" else rng.choice(get_args(wire.PathReason))
            body = {"app": rng.choice(APPS), "status": status, "reason": reason}
        case "conn":
            state = rng.choice(get_args(wire.ConnState))
            body = {
                "app": rng.choice(APPS),
                "conn_id": f"C{rng.randrange(1, 5000)}",
                "endpoint": f"Hostname#{rng.getrandbits(32):08x}:{rng.choice((443, 853, 8443))}",
                "state": state,
                **({} if state == "failed" else {"error": None}),  # the sample's error is ENETDOWN
            }
        case "probe":
            body = {"kind": rng.choice(get_args(wire.ProbeKind)), "latency_ms": round(rng.uniform(1, 900), 3)}
        case "heartbeat":
            body = {"uptime_s": rng.randrange(60, 3_000_000)}
    event: wire.Event = msgspec.convert(sample_event(event_type, **envelope, **body), wire.Event)
    return event


def measure(contender: Contender, messages: Sequence[bytes], repeat: int) -> Result:
    """Best-of-``repeat`` cost per event, with the garbage collector paused as ``timeit`` does."""
    decode = contender.decode
    best = sys.maxsize
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter_ns()
            for message in messages:
                decode(message)
            best = min(best, time.perf_counter_ns() - start)
    finally:
        gc.enable()
    return Result(contender.library, contender.mode, best / len(messages))


def _markdown(results: Sequence[Result]) -> str:
    """The results as the Markdown table the docs and PRs quote."""
    rows = [f"| {r.library} | {r.mode} | {r.ns_per_event:,.0f} | {r.events_per_s:,.0f} |" for r in results]
    return "\n".join(["| library | mode | ns/event | events/s |", "| --- | --- | ---: | ---: |", *rows])


def main(argv: Sequence[str] | None = None) -> int:
    """Build the messages, time every contender, print the table and optionally save the numbers as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.json_decode", description="Time JSON decoding of wire events, per event."
    )
    parser.add_argument("--events", type=positive_int, default=50_000, help="messages per repeat (default: 50000)")
    parser.add_argument("--repeat", type=positive_int, default=5, help="repeats; the best is kept (default: 5)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be at least 1")

    messages = build_messages(args.events)
    # A rejected message would time the diagnosis path, not the decode this benchmark is about.
    if rejected := [result for result in map(wire.decode, messages) if isinstance(result, wire.Rejection)]:
        parser.error(f"{len(rejected)} benchmark messages are invalid, e.g. {rejected[0]}")
    sizes = [len(message) for message in messages]
    print(
        f"{len(messages):,} events, {min(sizes)}-{max(sizes)} bytes (mean {statistics.fmean(sizes):.0f}), "
        f"best of {args.repeat}; Python {platform.python_version()}, msgspec {msgspec.__version__}, "
        f"orjson {orjson.__version__}\n"
    )
    results = [measure(contender, messages, args.repeat) for contender in CONTENDERS]
    print(_markdown(results))
    if args.json:
        report = {
            "events": len(messages),
            "repeat": args.repeat,
            "bytes": {"min": min(sizes), "mean": statistics.fmean(sizes), "max": max(sizes)},
            "python": platform.python_version(),
            "versions": {"msgspec": msgspec.__version__, "orjson": orjson.__version__},
            "results": [{**r._asdict(), "events_per_s": r.events_per_s} for r in results],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
