"""Run the endpoint agent: observe the monitored extension's and the system's view, publish to Kafka.

Reads one TOML config (``--config``, or ``$NETDOWN_AGENT_CONFIG``); a bad config exits 2 naming the
file and the key. Runs until SIGTERM or SIGINT (launchd and systemd stop it with SIGTERM), then
flushes the spool; what was not delivered is sent at the next start.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Final

from netdown.agent.config import ConfigError, load_config
from netdown.agent.envelope import DeviceFacts
from netdown.agent.facts import read_boot_id
from netdown.agent.identity import device_id_for, read_hardware_id, read_os_version
from netdown.agent.runtime import build_agent

__all__ = ["NAME", "configure_parser", "run"]

NAME: Final = "run"
DEFAULT_CONFIG: Final = "/etc/netdown/agent.toml"


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--log-level``."""
    parser.add_argument(
        "--config",
        type=Path,
        default=Path(os.environ.get("NETDOWN_AGENT_CONFIG", DEFAULT_CONFIG)),
        help="the agent's TOML file (default: $NETDOWN_AGENT_CONFIG or %(default)s)",
    )
    parser.add_argument("--log-level", default=os.environ.get("NETDOWN_LOG_LEVEL", "info"), help="default: info")


def run(args: argparse.Namespace) -> int:
    """Load the config, identify the device, run until told to stop."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config, secrets = load_config(args.config)
        platform = "darwin" if sys.platform == "darwin" else "linux"
        os_version, os_build = read_os_version(platform)
        facts = DeviceFacts(
            device_id=device_id_for(read_hardware_id(platform), secrets["fleet_key"].reveal().encode(), platform),
            boot_id=read_boot_id(platform) or "unknown-boot",
            platform=platform,
            os_version=os_version,
            os_build=os_build,
        )
        agent = build_agent(config, secrets, args.config, facts)
    except ConfigError as exc:
        print(f"netdown-agent: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    logging.getLogger(__name__).info(
        "netdown agent for %s (%s %s) publishing to %s", facts.device_id, platform, os_version, config.broker.topic
    )
    agent.run(stop)
    return 0
