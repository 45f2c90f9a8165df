"""``netdown-stream replay``: captured events in, each episode's final record out, bad lines counted, never fatal.

The expected incidents come from the library (:class:`ReplayRun` over the same events), except for one
scenario checked by hand. The command-line contract (exit codes, stdin, stdout and stderr) is proven on
the installed console script; everything else calls the module in process, which is much faster.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
import pytest

from benchmarks.replay_throughput import fleet_capture
from netdown import cli_io, wire
from netdown.detection.detector import DetectorParams, SignalClass
from netdown.detection.device_facts import decode_device_facts
from netdown.detection.incident import encode_incident
from netdown.stream import replay
from netdown.stream.dlq import CLOCK_SKEW
from netdown.stream.replay_run import ReplayRun
from netdown.testing import sample_event

NETDOWN_STREAM: Final = Path(sys.executable).parent / "netdown-stream"
T0: Final = 1_732_540_800_000
SYSTEM_WIFI_OK: Final = {
    "observer": "system",
    "app": None,
    "status": "satisfied",
    "reason": None,
    "interfaces": [{"name": "en0", "type": "wifi"}],
}
CONN_READY: Final = {"state": "ready", "error": None, "path_status": "satisfied", "path_reason": None}


def _line(event_type: wire.EventType, seq: int, ts_ms: int, **fields: Any) -> bytes:
    """One encoded sample event of the sample device, its ``event_id`` named after its ``seq``."""
    return msgspec.json.encode(sample_event(event_type, event_id=f"evt-{seq}", seq=seq, ts_ms=ts_ms, **fields))


# The hand-checked story: healthy Wi-Fi at t0, ENETDOWN at t0+20 s (healthy for 20 s > G, path within W),
# the connection ready again at t0+80 s: one episode, recovered.
EPISODE: Final = (
    _line("path", 1, T0, **SYSTEM_WIFI_OK),
    _line("conn", 2, T0 + 20_000),  # the sample conn event is `failed` with ENETDOWN
    _line("conn", 3, T0 + 80_000, **CONN_READY),
)


def _ndjson(lines: Sequence[bytes], ending: bytes = b"\n") -> bytes:
    return b"".join(line + ending for line in lines)


def _args(*argv: str) -> argparse.Namespace:
    """The replay subcommand's arguments, parsed as the CLI would."""
    parser = argparse.ArgumentParser()
    replay.configure_parser(parser)
    return parser.parse_args(argv)


def _run_in_process(capsysbinary: pytest.CaptureFixture[bytes], *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    """``replay.run`` on ``argv``: exit code, the incident records it printed, its stderr."""
    code = replay.run(_args(*argv))
    out, err = capsysbinary.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err.decode()


def _cli(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([NETDOWN_STREAM, "replay", *argv], input=stdin, capture_output=True, timeout=120, check=False)


def _row(summary: str, label: str) -> str:
    """The summary's line for ``label``, with runs of spaces collapsed (the alignment is for eyes, not tests)."""
    rows = [" ".join(line.split()) for line in summary.splitlines() if line.split()[:1] == [label]]
    assert len(rows) == 1, summary
    return rows[0]


def _ground_truth(lines: Sequence[bytes]) -> tuple[bytes, ReplayRun]:
    """What the library itself says about these lines: the final incidents as NDJSON, and its run."""
    run = ReplayRun(DetectorParams())
    run.feed_all(event for event in map(wire.decode, lines) if not isinstance(event, wire.Rejection))
    return b"".join(encode_incident(incident) + b"\n" for incident in run.final_incidents()), run


@pytest.fixture(scope="module")
def fleet() -> list[bytes]:
    """A simulated fleet's capture with every outcome in it: recovered, rebooted, still open, stuck."""
    return fleet_capture(events=6_000, devices=60, seed=7)


def test_incidents_equal_the_librarys_final_incidents_for_a_fleet_capture(
    fleet: list[bytes], tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture = tmp_path / "fleet.ndjson"
    capture.write_bytes(_ndjson(fleet))
    expected, truth = _ground_truth(fleet)
    records = [json.loads(line) for line in expected.splitlines()]
    assert {record["close_reason"] for record in records} == {None, "recovered", "reboot"}
    assert any(record["stuck"] for record in records)

    code = replay.run(_args("--input", str(capture), "--summary-json", str(tmp_path / "summary.json")))

    out, _ = capsysbinary.readouterr()
    assert code == 0
    assert out == expected
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accepted"] == len(fleet) == sum(truth.events_by_type.values())
    assert summary["dropped"] == {"duplicate": truth.dropped["duplicate"], "late": truth.dropped["late"]}
    assert summary["dropped"]["duplicate"] > 0
    assert summary["dropped"]["late"] > 0
    assert summary["lost"] == truth.lost > 0
    assert set(summary["signals"]) == set(SignalClass)
    assert summary["signals"] == {key: truth.signals[key] for key in summary["signals"]}
    assert summary["episodes"]["opened"] == len(records)


def test_cli_writes_incidents_to_stdout_and_the_summary_to_stderr(fleet: list[bytes], tmp_path: Path) -> None:
    capture = tmp_path / "fleet.ndjson"
    capture.write_bytes(_ndjson(fleet))

    done = _cli("--input", str(capture))

    assert done.returncode == 0, done.stderr
    assert done.stdout == _ground_truth(fleet)[0]
    summary = done.stderr.decode()
    assert summary.startswith(f"netdown-stream replay of {capture}:\n")
    for label in ("lines", "dropped", "rejected", "lost", "signals", "episodes"):
        assert _row(summary, label)
    assert _row(summary, "accepted").startswith(f"accepted {len(fleet):,} conn ")


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_a_hand_checked_episode_opens_at_the_failure_and_closes_at_the_recovery(
    ending: bytes, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture = tmp_path / "episode.ndjson"
    capture.write_bytes(_ndjson(EPISODE, ending))

    code, records, err = _run_in_process(capsysbinary, "--input", str(capture))

    assert code == 0
    assert records == [
        {
            "device_id": "mac-4f2a9c1e7b3d",
            "app": "com.example.vpn.tunnel",
            "kind": "necp_denied_healthy",
            "opened_ms": T0 + 20_000,
            "closed_ms": T0 + 80_000,
            "close_reason": "recovered",
            "stuck": False,
            "os_version": "14.4.1",
            "os_build": "23E224",
            "platform": "darwin",
            "evidence": ["evt-2", "evt-1"],  # the failure, then the system path that showed health
            "facts": None,
        }
    ]
    assert _row(err, "signals") == "signals 1 episode 1, outage 0, transient 0, insufficient_evidence 0"
    assert _row(err, "episodes") == "episodes 1 still open 0, recovered 1, reboot 0, stuck 0"


def test_garbage_lines_are_counted_by_reason_and_never_stop_the_replay(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    invalid_utf8 = _line("probe", 90, T0).replace(b'"evt-90"', b'"\xff\xfe"')
    garbage = [
        b"\x00\x01\xfe\xff binary junk \x89PNG",  # malformed_json
        invalid_utf8,  # malformed_json
        EPISODE[1][: len(EPISODE[1]) // 2],  # truncated: malformed_json
        b"x" * 1_000_000,  # too_large, skipped unread
        b"",  # blank
        b" \t ",  # blank
        b"[1, 2, 3]",  # not_an_object
        _line("probe", 91, T0, v=2),  # unknown_version
        _line("probe", 92, T0, device_id="d" * 10_000),  # bad_device_id, the value quoted in its detail
    ]
    capture = tmp_path / "garbage.ndjson"
    capture.write_bytes(_ndjson([EPISODE[0], *garbage, *EPISODE[1:]]) + b"y" * 200_000)  # no newline at the end

    code, records, err = _run_in_process(
        capsysbinary, "--input", str(capture), "--summary-json", str(tmp_path / "summary.json")
    )

    assert code == 0
    assert [(record["opened_ms"], record["close_reason"]) for record in records] == [(T0 + 20_000, "recovered")]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["lines"], summary["blank"], summary["accepted"]) == (13, 2, 3)
    assert {reason: count for reason, count in summary["rejected"].items() if count} == {
        "malformed_json": 3,
        "too_large": 2,
        "not_an_object": 1,
        "unknown_version": 1,
        "bad_device_id": 1,
    }
    assert set(summary["rejected"]) == {*wire.RejectReason, CLOCK_SKEW}
    assert summary["first_rejections"]["too_large"] == {
        "line": 5,
        "detail": f"a line of 1000000 bytes (skipped unread), the limit is {wire.MAX_EVENT_BYTES}",
        "field": None,
    }
    assert "  first malformed_json at line 2: JSON is malformed" in err
    assert len(summary["first_rejections"]["bad_device_id"]["detail"]) < 300  # the 10 KB value is cut short


def test_a_line_of_64_kib_is_decoded_and_one_byte_more_is_too_large(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    unpadded = len(_line("probe", 5, T0, padding=""))
    at_limit = _line("probe", 5, T0, padding="x" * (wire.MAX_EVENT_BYTES - unpadded))
    over_limit = _line("probe", 6, T0, padding="x" * (wire.MAX_EVENT_BYTES - unpadded + 1))
    capture = tmp_path / "limits.ndjson"
    capture.write_bytes(_ndjson([at_limit, over_limit], b"\r\n"))

    replay.run(_args("--input", str(capture), "--summary-json", str(tmp_path / "summary.json")))

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["accepted"], summary["rejected"]["too_large"]) == (1, 1)


class _RecordingStream(io.BytesIO):
    """A stream that remembers the longest piece ``readline`` ever handed out."""

    largest_read = 0

    def readline(self, size: int | None = -1, /) -> bytes:
        line = super().readline(size)
        self.largest_read = max(self.largest_read, len(line))
        return line


def test_read_lines_skips_a_huge_line_in_bounded_pieces() -> None:
    stream = _RecordingStream(b"x" * 5_000_000 + b"\n" + EPISODE[0] + b"\n" + b"y" * 3_000_000)

    lines = list(replay.read_lines(stream))

    assert [line.reason if isinstance(line, wire.Rejection) else line for line in lines] == [
        wire.RejectReason.TOO_LARGE,
        EPISODE[0] + b"\n",
        wire.RejectReason.TOO_LARGE,
    ]
    assert [line.detail.split()[3] for line in lines if isinstance(line, wire.Rejection)] == ["5000000", "3000000"]
    assert stream.largest_read <= 1 << 20


def test_duplicates_and_late_events_are_counted_not_applied(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    later = _line("heartbeat", 4, T0 + 300_000)  # moves the device's applied event time to t0+300 s
    late = _line("probe", 5, T0 + 10_000)  # older than that minus L (120 s): too late to change anything
    capture = tmp_path / "dup.ndjson"
    capture.write_bytes(_ndjson([*EPISODE, EPISODE[1], later, late]))

    code, records, err = _run_in_process(capsysbinary, "--input", str(capture))

    assert code == 0
    assert [record["evidence"] for record in records] == [["evt-2", "evt-1"]]
    assert _row(err, "dropped") == "dropped 2 duplicate 1, late 1"


def test_stdin_is_read_when_the_input_is_a_dash() -> None:
    done = _cli("--input", "-", stdin=_ndjson(EPISODE))

    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["close_reason"] for line in done.stdout.splitlines()] == ["recovered"]
    assert done.stderr.decode().startswith("netdown-stream replay of stdin:")


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_an_unreadable_input_exits_2_with_one_line_naming_it(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "capture.ndjson"
    if kind == "directory":
        path.mkdir()

    done = _cli("--input", str(path))

    assert done.returncode == 2
    assert done.stdout == b""
    message = done.stderr.decode()
    assert message.count("\n") == 1
    assert message.startswith(f"netdown-stream replay: cannot read {path}: ")


def test_a_permission_error_exits_2_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    # Simulated: the suite may run as root, whom file modes do not stop.
    def denied(name: str, mode: str) -> io.BufferedReader:
        raise PermissionError(13, "Permission denied", name)

    monkeypatch.setattr(cli_io, "open", denied, raising=False)

    code, records, err = _run_in_process(capsysbinary, "--input", "/captures/secret.ndjson")

    assert (code, records) == (2, [])
    assert err == "netdown-stream replay: cannot read /captures/secret.ndjson: Permission denied\n"


def test_a_read_error_midway_exits_2_without_partial_output(
    monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    class FailingDisk(io.BytesIO):
        def readline(self, size: int | None = -1, /) -> bytes:
            if self.tell() > 0:
                raise OSError(5, "Input/output error")
            return super().readline(size)

    monkeypatch.setattr(cli_io, "open", lambda name, mode: FailingDisk(_ndjson(EPISODE)), raising=False)

    code, records, err = _run_in_process(capsysbinary, "--input", "capture.ndjson")

    assert (code, records) == (2, [])
    assert err == "netdown-stream replay: cannot read capture.ndjson: Input/output error\n"


def test_a_reader_that_goes_away_ends_it_with_1_and_no_traceback(tmp_path: Path) -> None:
    capture = tmp_path / "episode.ndjson"
    capture.write_bytes(_ndjson(EPISODE))
    with subprocess.Popen(
        [NETDOWN_STREAM, "replay", "--input", str(capture)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()  # as `| true` does, before the incidents are written
        err = process.stderr.read().decode()
        code = process.wait(timeout=120)

    assert code == 1
    assert err == "netdown-stream replay: stdout closed before the incidents were written\n"


def test_an_unwritable_summary_file_exits_1_after_the_incidents(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture = tmp_path / "episode.ndjson"
    capture.write_bytes(_ndjson(EPISODE))

    code, records, err = _run_in_process(
        capsysbinary, "--input", str(capture), "--summary-json", str(tmp_path / "no" / "such" / "dir.json")
    )

    assert (code, len(records)) == (1, 1)
    assert err.endswith(f"netdown-stream replay: cannot write {tmp_path}/no/such/dir.json: No such file or directory\n")


def test_devices_out_writes_each_devices_final_facts_as_the_library_has_them(
    fleet: list[bytes], tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture, devices = tmp_path / "fleet.ndjson", tmp_path / "devices.ndjson"
    capture.write_bytes(_ndjson(fleet))

    code, _, _ = _run_in_process(capsysbinary, "--input", str(capture), "--devices-out", str(devices))

    assert code == 0
    written = [decode_device_facts(line) for line in devices.read_bytes().splitlines()]
    truth = _ground_truth(fleet)[1]
    assert written == truth.final_device_facts()
    assert [facts.device_id for facts in written] == sorted(truth.devices)  # every device, once, in order
    assert any(facts.stuck_episodes for facts in written)
    assert any(facts.network_extensions for facts in written)


def test_devices_out_of_a_hand_checked_episode(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    capture, devices = tmp_path / "episode.ndjson", tmp_path / "devices.ndjson"
    capture.write_bytes(_ndjson(EPISODE))

    code, _, _ = _run_in_process(capsysbinary, "--input", str(capture), "--devices-out", str(devices))

    assert code == 0
    (facts,) = (decode_device_facts(line) for line in devices.read_bytes().splitlines())
    event = sample_event("path")
    assert (facts.device_id, facts.os_version, facts.platform) == (
        event["device_id"],
        event["os_version"],
        event["platform"],
    )
    assert (facts.first_seen_ms, facts.last_seen_ms) == (T0, T0 + 80_000)
    assert (facts.episodes, facts.last_episode_ms, facts.affected, facts.stuck) == (1, T0 + 20_000, False, False)


def test_an_unwritable_devices_file_exits_1_after_the_incidents(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    capture = tmp_path / "episode.ndjson"
    capture.write_bytes(_ndjson(EPISODE))

    code, records, err = _run_in_process(
        capsysbinary, "--input", str(capture), "--devices-out", str(tmp_path / "no" / "devices.ndjson")
    )

    assert (code, len(records)) == (1, 1)
    assert err.endswith(
        f"netdown-stream replay: cannot write {tmp_path}/no/devices.ndjson: No such file or directory\n"
    )
