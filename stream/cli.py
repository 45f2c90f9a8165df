"""``netdown-stream``: the stream job's command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The stream job's argument parser; the worker and replay land with the detector issue."""
    return argparse.ArgumentParser(
        prog="netdown-stream",
        description=(
            "Stream job: correlates the app view with the system view per device in event time "
            "and exposes episodes as incidents and Prometheus metrics. No subcommands are available yet."
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``netdown-stream``."""
    build_parser().parse_args(argv)
    return 0
