"""The installed console scripts answer ``--help`` (what a newcomer types first after set-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(
    "script", ["netdown-agent", "netdown-stream", "netdown-kafka", "netdown-demo", "netdown-sim", "netdown-report"]
)
def test_console_script_help_exits_zero_and_names_itself(script: str) -> None:
    done = subprocess.run(
        [Path(sys.executable).parent / script, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {script}")
