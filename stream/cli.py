"""``netdown-stream``: the stream job's command line (``worker`` and ``replay``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from netdown.stream import replay, worker

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The stream job's parser; each subcommand's module declares its own arguments."""
    parser = argparse.ArgumentParser(
        prog="netdown-stream",
        description=(
            "Stream job: correlates the monitored app's view with the system's view per device in event "
            "time, opens and closes episodes of ENETDOWN with a healthy interface, writes incidents and "
            "exposes Prometheus metrics."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for module, help_text in (
        (worker, "run the Faust worker: consume events, write incidents, serve /metrics"),
        (replay, "run the detector over captured events (NDJSON) and print the incidents"),
    ):
        command = commands.add_parser(module.NAME, help=help_text, description=module.__doc__)
        module.configure_parser(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``netdown-stream``."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
