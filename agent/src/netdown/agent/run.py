"""Run the endpoint agent: observe the monitored extension's and the system's view, publish to Kafka.

Reads one TOML config (``--config``, or ``$NETDOWN_AGENT_CONFIG``); a bad config exits 2 with one
line naming the file and the key, and a machine that cannot tell its hardware id exits 1, also with
one line. Runs until SIGTERM or SIGINT (launchd and systemd stop it with SIGTERM), then flushes the
spool; what was not delivered is sent at the next start. No log line, at any level, shows the fleet
key or the Kafka password (:mod:`netdown.log_redaction`).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Final

from netdown.agent.config import ConfigError, Secret, load_config
from netdown.agent.facts import read_boot_id
from netdown.agent.identity import device_id_for, read_hardware_id, read_os_version
from netdown.agent.runtime import build_agent
from netdown.cli_io import os_reason
from netdown.log_redaction import install_redaction
from netdown.log_repeats import install_repeat_limiter
from netdown.stamping import DeviceIdentity

__all__ = ["LOG_FORMAT", "NAME", "configure_parser", "run"]

NAME: Final = "run"
DEFAULT_CONFIG: Final = "/etc/netdown/agent.toml"
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# How often a repeated warning is written again (with the count held back): the agent's log lives on the
# user's disk, and an outage can last a week.
AGENT_REPEAT_INTERVAL_S: Final = 600.0
# 2: the config is wrong, fix the file it names. 1: this machine cannot say who it is; no config change helps.
EXIT_BAD_CONFIG: Final = 2
EXIT_NO_IDENTITY: Final = 1


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--log-level``."""
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("NETDOWN_AGENT_CONFIG", DEFAULT_CONFIG)),
        help="the agent's TOML file (default: $NETDOWN_AGENT_CONFIG or %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        type=_log_level,
        default=os.environ.get("NETDOWN_LOG_LEVEL", "info"),
        help=f"{', '.join(LOG_LEVELS)} (default: $NETDOWN_LOG_LEVEL or info)",
    )


def _log_level(text: str) -> str:
    """A ``--log-level`` in any case, else a usage error.

    argparse applies it to the default too, so a bad ``$NETDOWN_LOG_LEVEL`` is a usage error as
    well, not a traceback from ``logging.basicConfig``.
    """
    level = text.lower()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(LOG_LEVELS)}")
    return level


def run(args: argparse.Namespace) -> int:
    """Load the config, identify the device, run until told to stop."""
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT)
    # A laptop offline for days retries the broker all along: a line per change, a summary per 10 minutes.
    install_repeat_limiter(logging.getLogger(), interval_s=AGENT_REPEAT_INTERVAL_S)
    platform = "darwin" if sys.platform == "darwin" else "linux"
    try:
        config, secrets = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_BAD_CONFIG)
    # Before anything else logs: from here on every record any logger makes passes the redactor.
    install_redaction(secret.reveal() for secret in secrets.values())
    try:
        facts = _device_identity(platform, secrets["fleet_key"])
    except (OSError, subprocess.SubprocessError, RuntimeError, UnicodeError) as exc:
        return _fail(f"cannot identify this device: {_reason(exc)}", EXIT_NO_IDENTITY)
    try:
        agent = build_agent(config, secrets, args.config, facts)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_BAD_CONFIG)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.getLogger(__name__).info(
        "netdown agent for %s (%s %s) publishing to %s",
        facts.device_id,
        platform,
        facts.os_version,
        config.broker.topic,
    )
    agent.run(stop)
    return 0


def _device_identity(platform: str, fleet_key: Secret) -> DeviceIdentity:
    """Who this device is: its pseudonymous id (hardware id under the fleet key), boot and OS.

    Raises what reading the hardware id raises (a missing ``/etc/machine-id`` or ``ioreg``, one
    that hangs, or prints no id): no config can fix that, so the caller reports it as its own kind.
    """
    os_version, os_build = read_os_version(platform)
    return DeviceIdentity(
        device_id=device_id_for(read_hardware_id(platform), fleet_key.reveal().encode(), platform),
        boot_id=read_boot_id(platform) or "unknown-boot",
        platform=platform,
        os_version=os_version,
        os_build=os_build,
    )


def _reason(exc: Exception) -> str:
    """An error in one line: an OS error in the OS's words, after the file it concerns."""
    if not isinstance(exc, OSError):
        return str(exc)
    return f"{exc.filename}: {os_reason(exc)}" if exc.filename else os_reason(exc)


def _fail(message: str, code: int) -> int:
    """Say why the agent cannot start, in one line on stderr (launchd's and systemd's log), and the exit code."""
    print(f"netdown-agent: {message}", file=sys.stderr)
    return code
