"""``netdown-report`` from the command line: reports from NDJSON files, and one clear line on every failure."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from netdown.detection.device_facts import encode_device_facts
from netdown.detection.incident import encode_incident
from netdown.devstack.kafka import free_port
from netdown.report.cli import main
from netdown.report.testing import HOUR_MS, T0_MS, device, incident

FILTER = "com.acme.filter"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A week of 600 Macs: 15.2 and a content filter each triple the episode rate."""
    rng = random.Random(3)
    macs, incidents = [], []
    for index in range(600):
        version, build = rng.choice([("15.1", "24B83"), ("15.2", "24C101"), ("14.7", "23H124")])
        filtered = index % 5 == 0
        mac = device(
            f"mac-cli-{index:06d}",
            os_version=version,
            os_build=build,
            extensions=("com.example.vpn.tunnel", FILTER) if filtered else ("com.example.vpn.tunnel",),
            include_all_networks=rng.random() < 0.5,
            first_seen_ms=T0_MS,
            last_seen_ms=T0_MS + 7 * 24 * HOUR_MS,
        )
        macs.append(mac)
        rate = 0.04 * (3 if version == "15.2" else 1) * (3 if filtered else 1)
        for day in range(7):
            if rng.random() < rate:
                opened = T0_MS + day * 24 * HOUR_MS + rng.randrange(20 * HOUR_MS)
                incidents.append(incident(mac, opened, closed_ms=opened + rng.randrange(30_000, 900_000)))
    folder = tmp_path_factory.mktemp("report")
    devices_path, incidents_path = folder / "devices.ndjson", folder / "incidents.ndjson"
    devices_path.write_bytes(b"".join(encode_device_facts(mac) + b"\n" for mac in macs))
    incidents_path.write_bytes(b"".join(encode_incident(record) + b"\n" for record in incidents))
    return devices_path, incidents_path


def _files(inputs: tuple[Path, Path]) -> list[str]:
    return ["--devices", str(inputs[0]), "--incidents", str(inputs[1])]


def test_releases_from_files_flags_the_worse_release(
    inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    chart = tmp_path / "chart.png"
    code = main(["releases", *_files(inputs), "--compare", "15.2", "15.1", "--chart", str(chart)])
    out = capsys.readouterr().out
    assert code == 0
    assert "flagged: 15.2, 24C101" in out
    assert "compare: 15.2 is worse than 15.1" in out
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_releases_json_window_ends_at_the_latest_event(
    inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["releases", *_files(inputs), "--format", "json", "--range", "3d"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["end_ms"] - data["start_ms"] == 3 * 24 * HOUR_MS
    assert data["end_ms"] >= T0_MS + 7 * 24 * HOUR_MS - 1  # the devices were last seen at the week's end
    assert {row["name"] for row in data["versions"]} == {"14.7", "15.1", "15.2"}


def test_suspects_flag_the_filter_not_the_flag(inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suspects", *_files(inputs), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ranked"][0]["fact"] in {f"extension:{FILTER}", "build:24C101"}  # both triple the rate
    flagged = {row["fact"] for row in data["ranked"] if row["flagged"]}
    assert f"extension:{FILTER}" in flagged
    assert "vpn:include_all_networks" not in flagged


def test_suspects_csv(inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suspects", *_files(inputs), "--format", "csv"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.startswith("section,fact,devices_with,affected_with")
    assert rows[0].startswith("ranked,")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--range", "7 days"], "--range/--at: '7 days' is not a positive duration"),
        (["--at", "yesterday"], "--range/--at: 'yesterday' is neither Unix seconds nor an ISO 8601 time"),
        (["--at", "2020-01-01T00:00:00Z"], "no active devices and no episodes from files"),
        (["--compare", "15.2", "16.0"], "--compare: no release or build '16.0' in the window; known: 14.7, 15.1"),
        (["--confidence", "1.5"], "--confidence must be between 0 and 1"),
    ],
)
def test_bad_options_and_empty_windows_are_one_line_and_exit_2(
    inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["releases", *_files(inputs), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"netdown-report releases: {message}")
    assert captured.err.count("\n") == 1


def test_suspects_of_an_empty_window_exit_2(inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["suspects", *_files(inputs), "--at", "2020-01-01T00:00:00Z"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netdown-report suspects: no device in files")
    assert err.count("\n") == 1


def test_missing_sources_exit_2(inputs: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["suspects", "--devices", str(tmp_path / "none.ndjson"), "--incidents", str(inputs[1])]) == 2
    assert "cannot read device facts from" in capsys.readouterr().err
    assert main(["suspects", "--devices", str(inputs[0])]) == 2
    assert "--devices and --incidents go together" in capsys.readouterr().err
    assert main(["releases"]) == 2
    assert "give --devices FILE and --incidents FILE" in capsys.readouterr().err
    assert main(["releases", "--prometheus", f"http://127.0.0.1:{free_port()}", "--timeout", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("netdown-report releases: cannot reach Prometheus at http://127.0.0.1:")
    assert err.count("\n") == 1


def test_the_console_script_answers_help() -> None:
    script = Path(sys.executable).with_name("netdown-report")
    result = subprocess.run([script, "releases", "--help"], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0
    assert "--compare A B" in result.stdout
