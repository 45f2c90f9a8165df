"""promtool and amtool on what is committed: the rules load, their unit tests pass, Alertmanager routes by severity.

The binaries come from Debian's ``prometheus`` and ``prometheus-alertmanager`` packages (``make
system-deps`` installs them). Without them these tests skip on a developer machine; in CI (``CI`` set)
a missing binary fails the run instead, so the rules are never shipped untested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

import pytest

from netdown.dashboards.rules import PROMETHEUS_DIR, render_alerting_rules, render_recording_rules

ROOT: Final = Path(__file__).resolve().parents[3]
RULES_DIR: Final = ROOT / PROMETHEUS_DIR
ALERTMANAGER_CONFIG: Final = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
_PACKAGES: Final = {"promtool": "prometheus", "amtool": "prometheus-alertmanager"}


def _tool(name: str) -> str:
    """The binary's path; a skip with the reason outside CI, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install {_PACKAGES[name]}, or `make system-deps`)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the rule tests")
        pytest.skip(reason)
    return path


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def test_promtool_accepts_every_generated_rule_file() -> None:
    checked = _run(_tool("promtool"), "check", "rules", *map(str, sorted(RULES_DIR.glob("*.yml"))))

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_accepts_the_rules_rendered_as_one_recording_and_one_alerting_file(tmp_path: Path) -> None:
    recording, alerting = tmp_path / "netdown.rules.yml", tmp_path / "netdown.alerts.yml"
    recording.write_text(render_recording_rules(), encoding="utf-8")
    alerting.write_text(render_alerting_rules(), encoding="utf-8")

    checked = _run(_tool("promtool"), "check", "rules", str(recording), str(alerting))

    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("test_file", sorted(RULES_DIR.glob("tests/*.yml")), ids=lambda path: path.name)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    tested = _run(_tool("promtool"), "test", "rules", str(test_file))

    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_amtool_accepts_the_example_alertmanager_config() -> None:
    checked = _run(_tool("amtool"), "check-config", str(ALERTMANAGER_CONFIG))

    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=NetdownEpisodeSpike", "severity=page"), "netdown-page"),
        (("alertname=NetdownReleaseRegression", "severity=ticket", "os_version=14.4"), "netdown-ticket"),
        (("alertname=SomethingElse",), "netdown-ticket"),
    ],
)
def test_the_example_alertmanager_routes_pages_and_tickets_by_severity(labels: tuple[str, ...], receiver: str) -> None:
    routed = _run(_tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels)

    assert routed.returncode == 0, routed.stdout + routed.stderr
    assert routed.stdout.split() == [receiver]
