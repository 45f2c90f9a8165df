"""``netdown-agent``: the endpoint agent's command line; each subcommand is a module of its own."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType
from typing import Final

from netdown.agent import parse_log, run

__all__ = ["build_parser", "main"]

# Each module declares NAME, configure_parser(parser), run(args) -> int, and a docstring (its help).
COMMANDS: Final[tuple[ModuleType, ...]] = (run, parse_log)


def build_parser() -> argparse.ArgumentParser:
    """The agent's argument parser; each subcommand's module declares its own arguments."""
    parser = argparse.ArgumentParser(
        prog="netdown-agent",
        description=(
            "Endpoint agent: observes the monitored extension's and the system's view of the network "
            "and publishes wire-contract v1 events to Kafka."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        summary = (module.__doc__ or "").strip().splitlines()[0]
        command = commands.add_parser(
            module.NAME,
            help=summary,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure_parser(command)
        command.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``netdown-agent``."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))
