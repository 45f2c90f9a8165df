"""Options shared by the worker and the replay command: the detection parameters.

Every option is a flag with an environment fallback (``NETDOWN_<NAME>``), so the same image runs
under systemd, Kubernetes or a shell; a bad value names the flag and the variable.
"""

from __future__ import annotations

import argparse
from typing import Final

from netdown.cli_args import env_default, env_name, positive_number
from netdown.detection.detector import DetectorParams

__all__ = ["add_detector_arguments", "detector_flags", "detector_params"]

_DETECTOR_OPTIONS: Final = (
    ("window", "window_ms", "W: how far back fresh system evidence (a path, a probe) counts"),
    ("path-max-age", "path_max_age_ms", "R: how long the latest system path holds with no system path lost since it"),
    ("settle", "settle_ms", "G: how long a system path must hold before a failure is not transient"),
    ("stuck-after", "stuck_ms", "T: an episode open longer than this is stuck"),
    ("lateness", "lateness_ms", "L: how long a signal waits for late evidence"),
    ("stale-after", "stale_ms", "S: a device without events this long is no longer active"),
    ("max-clock-skew", "max_skew_ms", "F: an event further ahead of the processing clock is refused (clock_skew)"),
    ("retention", "retention_ms", "a device without events this long is forgotten (its counts are kept)"),
)


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--window`` ... ``--retention`` (seconds) with their defaults."""
    defaults = DetectorParams()
    group = parser.add_argument_group("detection parameters (seconds; env NETDOWN_<FLAG>)")
    for flag, field, help_text in _DETECTOR_OPTIONS:
        default_s = getattr(defaults, field) / 1000
        group.add_argument(
            f"--{flag}",
            type=_seconds(flag),
            # A string default goes through `type` too, so a bad environment value is reported like a bad flag.
            default=env_default(flag, f"{default_s:.15g}"),
            help=f"{help_text} (default: {default_s:.15g})",
        )


def detector_params(args: argparse.Namespace) -> DetectorParams:
    """The detector parameters the flags (or their environment variables) ask for."""
    return DetectorParams(
        **{field: round(getattr(args, flag.replace("-", "_")) * 1000) for flag, field, _ in _DETECTOR_OPTIONS}
    )


def detector_flags(params: DetectorParams) -> list[str]:
    """The flags that give a worker (or replay) ``params``: the inverse of :func:`detector_params`."""
    return [f"--{flag}={getattr(params, field) / 1000:.15g}" for flag, field, _ in _DETECTOR_OPTIONS]


def _seconds(flag: str) -> type[float]:
    """A parser of positive seconds whose error names the flag and its environment variable."""

    class Seconds(float):
        def __new__(cls, text: str) -> Seconds:
            try:
                value = positive_number(text)
            except argparse.ArgumentTypeError as exc:
                raise argparse.ArgumentTypeError(f"--{flag} / {env_name(flag)}: {exc}") from None
            return super().__new__(cls, value)

    return Seconds
