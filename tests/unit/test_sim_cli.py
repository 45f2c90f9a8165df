"""``netdown-sim``: a capture replays and scores like the library says, and bad flags are refused clearly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from netdown import wire
from netdown.sim import cli as sim_cli
from netdown.sim import read_truth
from netdown.sim.cli import main
from netdown.sim.profile import AgentProfile

BIN = Path(sys.executable).parent
# A demo's time scale, so ten simulated minutes hold many episodes.
DEMO_FLAGS = ["--window", "6", "--settle", "2", "--stuck-after", "30", "--lateness", "10", "--stale-after", "60"]
# The agent at the same scale (T and S ten times shorter than the defaults): probes every 3 s.
DEMO_AGENT_FLAGS = ["--probe-interval", "3s", "--heartbeat-interval", "30s", "--path-poll", "200ms"]


def _capture(tmp_path: Path, name: str, *extra: str) -> tuple[Path, Path]:
    events, truth = tmp_path / f"{name}.ndjson", tmp_path / f"{name}.truth.ndjson"
    fleet = [
        "--devices",
        "20",
        "--duration",
        "10m",
        "--episodes-per-day",
        "300",
        *DEMO_FLAGS,
        *DEMO_AGENT_FLAGS,
        *extra,
    ]
    code = main(["capture", *fleet, "--events", str(events), "--truth", str(truth)])
    assert code == 0
    return events, truth


def test_a_capture_replayed_by_netdown_stream_scores_high(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events, truth = _capture(tmp_path, "fleet", "--seed", "4")
    incidents = tmp_path / "incidents.ndjson"
    with incidents.open("wb") as out:
        replay = subprocess.run(
            [BIN / "netdown-stream", "replay", "--input", str(events), *DEMO_FLAGS],
            stdout=out,
            stderr=subprocess.PIPE,
            timeout=120,
            check=False,
        )
    assert replay.returncode == 0, replay.stderr
    capsys.readouterr()

    code = main(["score", "--truth", str(truth), "--incidents", str(incidents)])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    precision, recall = (float(part.split("=")[1]) for part in lines[-1].split())
    assert lines[-1].startswith("precision=")
    assert precision >= 0.95
    assert recall >= 0.95
    assert int(lines[0].split()[-1]) >= 20  # true positives: the capture had episodes to find


def test_the_same_flags_write_the_same_bytes(tmp_path: Path) -> None:
    first = _capture(tmp_path, "first", "--seed", "9")
    second = _capture(tmp_path, "second", "--seed", "9")

    assert first[0].read_bytes() == second[0].read_bytes()
    assert first[1].read_bytes() == second[1].read_bytes()


def test_releases_and_correlates_from_flags_are_planted(tmp_path: Path) -> None:
    _, truth_path = _capture(
        tmp_path,
        "planted",
        "--release",
        "15.1:24B83:1:3",
        "--release",
        "14.4.1:23E224:3",
        "--correlate",
        "ext:content_filter:com.example.filter:0.25:3",
        "--correlate",
        "vpn:include_all_networks:0.5",
    )

    truth = read_truth(truth_path.read_bytes().splitlines())

    assert sorted(d.os_version for d in truth.devices) == ["14.4.1"] * 15 + ["15.1"] * 5
    assert sum("content_filter:com.example.filter" in d.correlates for d in truth.devices) == 5
    assert sum("include_all_networks" in d.correlates for d in truth.devices) == 10
    assert {d.hazard_per_day for d in truth.devices if d.os_version == "15.1" and not d.correlates} == {900.0}
    assert truth.run.settle_ms == 2_000


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--devices", "0"], "--devices: must be at least 1"),
        (["--devices", "many"], "'many' is not a whole number"),
        (["--duration", "10x"], "'10x' is not a positive duration"),
        (["--duration", "0"], "is not a positive duration"),
        (["--release", "15.1:24B83"], "expected OS:BUILD:WEIGHT[:INCIDENCE]"),
        (["--release", "15.1:24B83:-1"], "weight must be positive"),
        (["--correlate", "ext:firewall:com.x:0.2"], "extension kind 'firewall' is not one of"),
        (["--correlate", "vpn:no_such_flag:0.2"], "vpn_flag 'no_such_flag' is not one of"),
        (["--correlate", "vpn:include_all_networks:1.5"], "share must be in [0, 1]"),
        (["--correlate", "dns:x:0.2"], "expected ext:KIND:ID:SHARE[:MULT] or vpn:FLAG:SHARE[:MULT]"),
        (["--p-lost", "2"], "--p-lost: must be in [0, 1]"),
        (["--episodes-per-day", "-1"], "--episodes-per-day: must be at least 0"),
        (["--settle", "0"], "--settle / NETDOWN_SETTLE: must be positive"),
        (["--probes", "maybe"], "--probes: invalid choice: 'maybe'"),
        (["--probe-jitter", "1"], "--probe-jitter: must be in [0, 1)"),
        (["--probe-interval", "0"], "--probe-interval: '0' is not a positive duration"),
        (["--blind-share", "1.5"], "--blind-share: must be in [0, 1]"),
    ],
)
def test_a_bad_flag_is_an_argparse_error_naming_it(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = {"--devices": "5", "--duration": "60"}
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        base[flag] = value
    argv = ["capture", *(part for item in base.items() for part in item)]

    with pytest.raises(SystemExit) as exited:
        main([*argv, "--events", str(tmp_path / "e"), "--truth", str(tmp_path / "t")])

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def _events(path: Path) -> list[wire.Event]:
    events = [wire.decode(line) for line in path.read_bytes().splitlines()]
    assert not [event for event in events if isinstance(event, wire.Rejection)]
    return events  # type: ignore[return-value]  # no rejection, as asserted


def test_the_agent_flags_set_what_the_devices_report(tmp_path: Path) -> None:
    events_path, truth_path = _capture(tmp_path, "quiet", "--probes", "off", "--blind-share", "0.25")
    events, truth = _events(events_path), read_truth(truth_path.read_bytes().splitlines())

    assert truth.run.agent == AgentProfile(probes=False, probe_interval_ms=3_000, path_poll_ms=200, heartbeat_ms=30_000)
    assert not [event for event in events if isinstance(event, wire.ProbeEvent)]
    blind = {device.device_id for device in truth.devices if device.blind}
    assert len(blind) == 5  # an exact share of the 20
    with_paths = {e.device_id for e in events if isinstance(e, wire.PathEvent) and e.observer == "system"}
    assert with_paths == {device.device_id for device in truth.devices} - blind
    for event in events:
        if isinstance(event, wire.HeartbeatEvent):
            assert [source.name for source in event.sources] == ["macos_path", "unified_log"]
            assert event.sources[0].running == (event.device_id not in blind)


def test_score_refuses_a_file_that_is_not_a_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, truth = _capture(tmp_path, "fleet")
    not_truth, empty = tmp_path / "incidents.ndjson", tmp_path / "empty.ndjson"
    not_truth.write_text('{"device_id": "x"}\n')
    empty.write_text("")

    assert main(["score", "--truth", str(not_truth), "--incidents", str(empty)]) == 2
    assert "no `run` record" in capsys.readouterr().err
    assert main(["score", "--truth", str(truth), "--incidents", str(truth)]) == 2
    assert "line 1: not an incident record" in capsys.readouterr().err
    assert main(["score", "--truth", str(tmp_path / "missing"), "--incidents", str(empty)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_console_script_answers_help() -> None:
    done = subprocess.run([BIN / "netdown-sim", "--help"], capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: netdown-sim")


def test_a_sped_up_publish_starts_early_enough_that_no_event_is_ever_ahead_of_the_wall_clock() -> None:
    duration_ms, speed = 3_600_000, 20.0
    before = time.time_ns() // 1_000_000
    start = sim_cli._live_start_ms(duration_ms, speed)
    # At wall time w the publisher sends event time start + (w - w0) * speed: the latest, at the end, must be <= w.
    assert start + duration_ms <= time.time_ns() // 1_000_000 + duration_ms / speed
    assert start + duration_ms >= before + duration_ms / speed - 1_000
    assert sim_cli._live_start_ms(duration_ms, 1.0) >= before, "at real time the run starts now"
