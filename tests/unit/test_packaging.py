"""The wheel installs one import package, ``netdown``, with the product folders inside it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_holds_only_the_netdown_package_with_agent_and_stream_inside(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path, ROOT],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("netdown-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.startswith("netdown-")}
    assert top_level == {"netdown"}
    for module in ("netdown/wire.py", "netdown/agent/cli.py", "netdown/stream/detector.py", "netdown/py.typed"):
        assert module in names
    assert "netdown/devstack/kafka/pom.xml" in names
