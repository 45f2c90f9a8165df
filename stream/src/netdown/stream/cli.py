"""``netdown-stream``: the stream job's command line (``worker`` and ``replay``)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Final

__all__ = ["build_parser", "main"]

# Subcommand -> (module, one-line help). Only the chosen subcommand's module is imported: `replay`
# must not pay for importing Faust and aiohttp (a third of a second) that only `worker` needs.
COMMANDS: Final = {
    "worker": ("netdown.stream.worker", "run the Faust worker: consume events, write incidents, serve /metrics"),
    "replay": ("netdown.stream.replay", "run the detector over captured events (NDJSON) and print the incidents"),
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The stream job's parser; the subcommand named in ``argv`` gets its module's own arguments."""
    parser = argparse.ArgumentParser(
        prog="netdown-stream",
        description=(
            "Stream job: correlates the monitored app's view with the system's view per device in event "
            "time, opens and closes episodes of ENETDOWN with a healthy interface, writes incidents and "
            "exposes Prometheus metrics."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        if name != chosen:
            commands.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        command = commands.add_parser(name, help=help_text, description=module.__doc__)
        module.configure_parser(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``netdown-stream``."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(arguments).parse_args(arguments)
    return int(args.handler(args))
