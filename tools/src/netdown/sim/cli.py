"""`netdown-sim`: simulate a fleet to a capture file or live to a broker, and score a detector's incidents.

    netdown-sim capture --devices 500 --duration 6h --events fleet.ndjson --truth truth.ndjson
    netdown-stream replay --input fleet.ndjson > incidents.ndjson
    netdown-sim score --truth truth.ndjson --incidents incidents.ndjson

`capture` writes the wire events in delivery order and the ground truth; `publish` sends the same
kind of fleet to a broker in real time, through the agent's spool and publisher, starting now; `score`
prints true and false positives and negatives and, last, `precision=P recall=R`. The detection
parameters (`--window` ... `--stale-after`) set the time scale of what happens: simulate with the
ones the detector will run with. How each Mac's agent reports it (`--probes`, `--probe-interval` ...)
defaults to the shipped agent config. See docs/simulator.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import msgspec

from netdown import cli_io, wire
from netdown.cli_args import duration, fraction, non_negative_number, number, positive_int, positive_number
from netdown.sim.files import read_incidents, write_capture
from netdown.sim.fleet import DEFAULT_AGENT, DEFAULT_START_MS, Simulation, simulate
from netdown.sim.profile import AgentProfile
from netdown.sim.score import score
from netdown.sim.spec import DEFAULT_RELEASES, Correlate, FleetSpec, Release
from netdown.sim.truth import read_truth, write_truth
from netdown.stream.settings import add_detector_arguments, detector_params
from netdown.topics import EVENTS_TOPIC

__all__ = ["main"]

_PROG: Final = "netdown-sim"
_EXTENSION_KINDS: Final = ("packet_tunnel", "app_proxy", "transparent_proxy", "content_filter", "dns_proxy", "other")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the exit status is 0 on success, 1 when output fails, 2 for bad input."""
    args = _parser().parse_args(argv)
    return int(args.run(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_PROG, description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    capture = commands.add_parser(
        "capture",
        help="simulate a fleet to an NDJSON capture and its ground truth",
        description="Simulate a fleet; write its wire events in delivery order (for `netdown-stream replay`) "
        "and its ground truth (for `score`). Give the detection parameters the replay will use.",
    )
    _fleet_arguments(
        capture, start_help=f"run start, epoch ms (default: {DEFAULT_START_MS}, so a seed gives the same bytes)"
    )
    capture.add_argument("--events", required=True, metavar="FILE", help="write the wire events here (`-`: stdout)")
    capture.add_argument("--truth", required=True, type=Path, metavar="FILE", help="write the ground truth here")
    capture.set_defaults(run=_capture)

    publish = commands.add_parser(
        "publish",
        help="publish a simulated fleet to a broker in real time",
        description="Simulate a fleet and publish its events as they fall due, through the agent's spool and "
        "publisher; progress on stderr every 5 s. The topic must exist. Give the detection parameters the "
        "worker runs with.",
    )
    _fleet_arguments(
        publish,
        start_help="run start, epoch ms (default: now, so event time tracks the wall clock; sped up, early enough "
        "that it reaches the wall clock as the run ends, never passes it)",
    )
    publish.add_argument("--bootstrap", required=True, metavar="HOST:PORT", help="the broker")
    publish.add_argument("--topic", default=None, metavar="NAME", help="events topic (default: the agent's)")
    publish.add_argument(
        "--speed",
        type=positive_number,
        default=1.0,
        metavar="X",
        help="simulated seconds per real second (default: 1: event time keeps to the wall clock)",
    )
    publish.add_argument(
        "--spool-dir", type=Path, metavar="DIR", help="spool folder, new or empty (default: a temporary one)"
    )
    publish.add_argument("--truth", required=True, type=Path, metavar="FILE", help="write the ground truth here")
    publish.set_defaults(run=_publish)

    score_parser = commands.add_parser(
        "score",
        help="score incident records against a ground truth",
        description="Match incident records to the planted episodes; print the counts and, last, "
        "`precision=P recall=R`. Exit status 2 when an input cannot be read.",
    )
    score_parser.add_argument(
        "--truth",
        required=True,
        type=Path,
        metavar="FILE",
        help="the run's ground truth (capture's or publish's --truth)",
    )
    score_parser.add_argument(
        "--incidents",
        required=True,
        metavar="FILE",
        help="NDJSON incident records: replay's stdout or the incidents topic (`-`: stdin)",
    )
    score_parser.set_defaults(run=_score)
    return parser


def _fleet_arguments(parser: argparse.ArgumentParser, start_help: str) -> None:
    """The fleet's spec, the run's span, and the detection parameters the timelines are shaped for."""
    defaults = FleetSpec(devices=1)
    parser.add_argument("--devices", type=positive_int, required=True, metavar="N", help="how many simulated Macs")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    parser.add_argument(
        "--duration",
        type=duration,
        required=True,
        metavar="TIME",
        help="simulated time: 600 (seconds), 90s, 10m, 6h, 1d",
    )
    parser.add_argument("--start", type=int, metavar="MS", help=start_help)
    parser.add_argument(
        "--release",
        type=_release,
        action="append",
        metavar="OS:BUILD:WEIGHT[:INCIDENCE]",
        help="a release of the fleet, repeatable, e.g. 15.1:24B83:25:3 (default: "
        + ", ".join(f"{r.os_version}:{r.os_build}:{r.weight:g}" for r in DEFAULT_RELEASES)
        + ")",
    )
    parser.add_argument(
        "--correlate",
        type=_correlate,
        action="append",
        metavar="ext:KIND:ID:SHARE[:MULT] | vpn:FLAG:SHARE[:MULT]",
        help="plant a correlate, repeatable, e.g. ext:content_filter:com.example.filter:0.2:3 "
        "or vpn:include_all_networks:0.5",
    )
    rates = parser.add_argument_group("what happens (rates per device per simulated day; probabilities)")
    for flag, field, kind, metavar, what in (
        (
            "episodes-per-day",
            "episodes_per_device_day",
            non_negative_number,
            "RATE",
            "episodes, incidence 1, no correlate",
        ),
        (
            "outages-per-day",
            "outages_per_device_day",
            non_negative_number,
            "RATE",
            "real network outages, not episodes",
        ),
        ("transients-per-day", "transients_per_device_day", non_negative_number, "RATE", "wakes with the path down"),
        ("stuck-share", "stuck_share", fraction, "P", "share of episodes that last until a reboot"),
        ("p-duplicate", "p_duplicate", fraction, "P", "chance that an event is delivered twice"),
        ("p-late-spool", "p_late_spool", fraction, "P", "chance that a device is cut off once, its spool late"),
        ("p-lost", "p_lost", fraction, "P", "chance that an event is never delivered"),
        ("blind-share", "blind_share", fraction, "P", "share of devices whose system-path source is not running"),
    ):
        default = getattr(defaults, field)
        rates.add_argument(
            f"--{flag}", dest=field, type=kind, default=default, metavar=metavar, help=f"{what} (default: {default:g})"
        )
    _agent_arguments(parser)
    add_detector_arguments(parser)


def _agent_arguments(parser: argparse.ArgumentParser) -> None:
    """How each simulated Mac's agent reports: the shipped config's cadences unless told otherwise."""
    agent = parser.add_argument_group("the agent on each Mac (defaults: deploy/agent.example.toml)")
    agent.add_argument(
        "--probes",
        choices=("on", "off"),
        default="on" if DEFAULT_AGENT.probes else "off",
        help="run the probe source (default: %(default)s; admins may turn it off)",
    )
    for flag, field, what in (
        ("probe-interval", "probe_interval_ms", "between two probe rounds, before jitter"),
        ("heartbeat-interval", "heartbeat_ms", "between two heartbeats (each re-reports the system path)"),
        ("path-poll", "path_poll_ms", "between two polls of the system path (a change shows at the next)"),
    ):
        default_ms = getattr(DEFAULT_AGENT, field)
        agent.add_argument(
            f"--{flag}",
            dest=field,
            type=duration,
            default=default_ms,
            metavar="TIME",
            help=f"{what} (default: {default_ms / 1000:g}s)",
        )
    agent.add_argument(
        "--probe-jitter",
        dest="probe_jitter",
        type=_jitter,
        default=DEFAULT_AGENT.probe_jitter,
        metavar="F",
        help=f"each probe interval is scaled by a uniform 1 ± F, F in [0, 1) (default: {DEFAULT_AGENT.probe_jitter:g})",
    )


def _agent(args: argparse.Namespace) -> AgentProfile:
    return msgspec.structs.replace(
        DEFAULT_AGENT,
        probes=args.probes == "on",
        probe_interval_ms=args.probe_interval_ms,
        probe_jitter=args.probe_jitter,
        path_poll_ms=args.path_poll_ms,
        heartbeat_ms=args.heartbeat_ms,
    )


def _spec(args: argparse.Namespace) -> FleetSpec:
    return FleetSpec(
        devices=args.devices,
        seed=args.seed,
        releases=tuple(args.release or DEFAULT_RELEASES),
        episodes_per_device_day=args.episodes_per_device_day,
        stuck_share=args.stuck_share,
        outages_per_device_day=args.outages_per_device_day,
        transients_per_device_day=args.transients_per_device_day,
        p_duplicate=args.p_duplicate,
        p_late_spool=args.p_late_spool,
        p_lost=args.p_lost,
        blind_share=args.blind_share,
        correlates=tuple(args.correlate or ()),
    )


def _simulate(args: argparse.Namespace, start_ms: int) -> Simulation:
    started = time.perf_counter()
    agent = _agent(args)
    simulation = simulate(
        _spec(args), start_ms=start_ms, duration_ms=args.duration, params=detector_params(args), agent=agent
    )
    truth = simulation.truth
    stuck = sum(episode.stuck for episode in truth.episodes)
    probes = (
        f"probes every {agent.probe_interval_ms / 1000:g} s ± {agent.probe_jitter:.0%}" if agent.probes else "no probes"
    )
    print(
        f"{_PROG}: {len(simulation.deliveries):,} deliveries from {args.devices:,} devices over "
        f"{args.duration / 1000:g} s (seed {args.seed}): {len(truth.episodes):,} episodes planted ({stuck:,} stuck), "
        f"{len(truth.disturbances):,} outages and transients; {probes}; simulated in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return simulation


def _write_truth(simulation: Simulation, path: Path) -> None:
    with path.open("wb") as stream:
        write_truth(simulation.truth, stream)


def _capture(args: argparse.Namespace) -> int:
    simulation = _simulate(args, DEFAULT_START_MS if args.start is None else args.start)
    try:
        _write_truth(simulation, args.truth)
        if args.events == cli_io.STDIN:
            write_capture(simulation.deliveries, sys.stdout.buffer)
            sys.stdout.flush()
        else:
            with open(args.events, "wb") as stream:
                write_capture(simulation.deliveries, stream)
    except OSError as exc:
        print(f"{_PROG} capture: cannot write: {cli_io.os_reason(exc)}", file=sys.stderr)
        return cli_io.EXIT_OUTPUT_FAILED
    return cli_io.EXIT_OK


def _live_start_ms(duration_ms: int, speed: float) -> int:
    """The run start that makes event time reach the wall clock just as the run ends, never pass it.

    Sped up, simulated time runs ahead of the wall clock; started now, a run's later events would be
    in the future, which the worker refuses as clock skew past its bound (``--max-clock-skew``).
    """
    now_ms = time.time_ns() // 1_000_000
    return now_ms - round(duration_ms * (1 - 1 / speed)) if speed > 1 else now_ms


def _publish(args: argparse.Namespace) -> int:
    from netdown.sim.live import LiveProgress, LivePublisher  # noqa: PLC0415 - needs the agent extra

    simulation = _simulate(args, _live_start_ms(args.duration, args.speed) if args.start is None else args.start)
    try:
        _write_truth(simulation, args.truth)
    except OSError as exc:
        print(f"{_PROG} publish: cannot write {args.truth}: {cli_io.os_reason(exc)}", file=sys.stderr)
        return cli_io.EXIT_OUTPUT_FAILED

    def report(progress: LiveProgress) -> None:
        print(
            f"{_PROG}: sent {progress.sent:,} of {progress.total:,} ({progress.events_per_s:,.0f}/s), "
            f"spooled {progress.spooled:,}",
            file=sys.stderr,
        )

    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="netdown-sim-") as scratch:
        publisher = LivePublisher(
            simulation,
            bootstrap=args.bootstrap,
            spool_dir=args.spool_dir or Path(scratch) / "spool",
            topic=args.topic or EVENTS_TOPIC,
            speed=args.speed,
        )
        try:
            final = publisher.run(stop, on_progress=report, every_s=5.0)
        except KeyboardInterrupt:
            stop.set()
            return 130
    return cli_io.EXIT_OK if final.sent >= final.total else cli_io.EXIT_OUTPUT_FAILED


def _score(args: argparse.Namespace) -> int:
    # Incidents first: in `capture --truth t | replay | score --truth t`, the truth file is complete only
    # once the capture has finished, which the end of the piped incidents proves.
    reading = args.incidents
    try:
        with cli_io.open_input(args.incidents) as stream:
            incidents = read_incidents(stream)
        reading = args.truth
        truth = read_truth(args.truth.read_bytes().splitlines())
    except OSError as exc:
        print(f"{_PROG} score: cannot read {reading}: {cli_io.os_reason(exc)}", file=sys.stderr)
        return cli_io.EXIT_INPUT_UNREADABLE
    except ValueError as exc:
        print(f"{_PROG} score: {reading}: {exc}", file=sys.stderr)
        return cli_io.EXIT_INPUT_UNREADABLE
    print(score(truth, incidents).summary())
    return cli_io.EXIT_OK


# --- argument types: a bad value is an argparse error naming what was expected ---


def _release(text: str) -> Release:
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"{text!r}: expected OS:BUILD:WEIGHT[:INCIDENCE], e.g. 15.1:24B83:25:3")
    try:
        return Release(parts[0], parts[1], weight=number(parts[2]), incidence=number(parts[3]) if parts[3:] else 1.0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _correlate(text: str) -> Correlate:
    parts = text.split(":")
    try:
        match parts:
            case ["ext", kind, bundle_id, share, *multiplier] if len(multiplier) <= 1:
                if kind not in _EXTENSION_KINDS:
                    raise ValueError(f"extension kind {kind!r} is not one of {', '.join(_EXTENSION_KINDS)}")
                extension = wire.NetworkExtension(id=bundle_id, kind=kind)  # type: ignore[arg-type]
                return Correlate(extension=extension, share=number(share), multiplier=_mult(multiplier))
            case ["vpn", flag, share, *multiplier] if len(multiplier) <= 1:
                return Correlate(vpn_flag=flag, share=number(share), multiplier=_mult(multiplier))
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    raise argparse.ArgumentTypeError(f"{text!r}: expected ext:KIND:ID:SHARE[:MULT] or vpn:FLAG:SHARE[:MULT]")


def _mult(parts: list[str]) -> float:
    return number(parts[0]) if parts else 1.0


def _jitter(text: str) -> float:
    value = number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


if __name__ == "__main__":
    sys.exit(main())
