"""``netdown-agent``: the endpoint agent's command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The agent's argument parser; its sources and publisher land with the agent issue."""
    return argparse.ArgumentParser(
        prog="netdown-agent",
        description=(
            "Endpoint agent: observes the monitored extension's and the system's view of the network "
            "and publishes wire-contract v1 events to Kafka. No subcommands are available yet."
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``netdown-agent``."""
    build_parser().parse_args(argv)
    return 0
