"""``netdown-agent parse-log``: a captured log in, wire events out, a summary on stderr, never a crash.

The command-line contract (exit codes, stdin, stdout, stderr) is proven on the installed console
script; option handling in process, which is faster.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Final

import pytest

from netdown import wire
from netdown.agent import parse_log
from netdown.version import __version__
from tests.unit.agent.golden import FIXTURES

NETDOWN_AGENT: Final = Path(sys.executable).parent / "netdown-agent"
CASES: Final = FIXTURES / "unified_log"
FIELD_LOG: Final = CASES / "field_log_2022_console.txt"
RAW: Final = CASES / "synth_raw_endpoints.txt"


def _cli(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [NETDOWN_AGENT, "parse-log", *argv], input=stdin, capture_output=True, timeout=120, check=False
    )


def _events(stdout: bytes) -> list[wire.Event]:
    decoded = [wire.decode(line) for line in stdout.splitlines()]
    assert not [event for event in decoded if isinstance(event, wire.Rejection)]
    return decoded  # type: ignore[return-value]


def _in_process(*argv: str, data: bytes) -> tuple[list[dict[str, Any]], parse_log.ParseLogSummary]:
    parser = argparse.ArgumentParser()
    parse_log.configure_parser(parser)
    arguments = parser.parse_args(["--input", "capture.log", *argv])
    out = io.BytesIO()
    summary = parse_log.parse_stream(io.BytesIO(data), out.write, **parse_log.stream_options(arguments, "capture.log"))
    return [json.loads(line) for line in out.getvalue().splitlines()], summary


def test_the_field_log_becomes_wire_events_on_stdout_and_a_summary_on_stderr() -> None:
    done = _cli("--input", str(FIELD_LOG), "--date", "2022-10-05", "--os-version", "14.4.1", "--os-build", "23E224")
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    assert [event.seq for event in events] == list(range(6))
    assert {(event.platform, event.os_version, event.os_build, event.agent_version) for event in events} == {
        ("darwin", "14.4.1", "23E224", __version__)
    }
    assert {event.boot_id for event in events} == {"unknown-boot"}
    enetdown = events[-1]
    assert isinstance(enetdown, wire.ConnEvent)
    assert (enetdown.state, enetdown.error, enetdown.ts_ms) == (
        "waiting",
        wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN"),
        1_664_960_935_854,
    )
    summary = done.stderr.decode()
    assert summary.startswith(f"netdown-agent parse-log of {FIELD_LOG}:")
    for expected in (r"lines\s+36", r"records\s+36\s+console 36", r"unknown\s+0", r"events\s+6\s+conn 5, path 1"):
        assert re.search(expected, summary), (expected, summary)


def test_stdin_is_read_with_a_dash_and_the_output_is_the_same_on_every_run() -> None:
    data = FIELD_LOG.read_bytes()
    first = _cli("--input", "-", "--date", "2022-10-05", stdin=data)
    second = _cli("--input", "-", "--date", "2022-10-05", stdin=data)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout
    assert first.stderr.decode().startswith("netdown-agent parse-log of stdin:")


def test_event_ids_are_name_based_uuids_and_the_default_device_id_is_the_inputs() -> None:
    events, _ = _in_process("--date", "2022-10-05", data=FIELD_LOG.read_bytes())
    ids = [event["event_id"] for event in events]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(event_id).version == 5 for event_id in ids)
    assert {event["device_id"] for event in events} == {parse_log.default_device_id("capture.log")}
    assert parse_log.default_device_id("/elsewhere/capture.log") == parse_log.default_device_id("capture.log")
    assert re.fullmatch(wire.DEVICE_ID_PATTERN, parse_log.default_device_id("capture.log"))
    named, _ = _in_process("--date", "2022-10-05", "--device-id", "mac-0123456789ab", data=FIELD_LOG.read_bytes())
    assert {event["device_id"] for event in named} == {"mac-0123456789ab"}
    assert {event["event_id"] for event in named}.isdisjoint(ids)


def test_an_input_that_cannot_be_read_exits_2_with_a_message(tmp_path: Path) -> None:
    missing = _cli("--input", str(tmp_path / "nope.log"))
    assert missing.returncode == 2
    assert b"cannot read" in missing.stderr
    assert b"No such file or directory" in missing.stderr
    directory = _cli("--input", str(tmp_path))
    assert directory.returncode == 2
    assert b"cannot read" in directory.stderr
    assert missing.stdout == directory.stdout == b""


def test_bad_options_exit_2_and_help_exits_0() -> None:
    assert _cli("--input", "-", "--date", "05/10/2022").returncode == 2
    assert _cli("--input", "-", "--tz", "Mars/Olympus").returncode == 2
    assert _cli("--input", "-", "--device-id", "short").returncode == 2
    assert _cli("--input", "-", "--app-id", "no-equals-sign").returncode == 2
    helped = _cli("--help")
    assert helped.returncode == 0
    assert helped.stdout.startswith(b"usage: netdown-agent parse-log")
    top = subprocess.run([NETDOWN_AGENT, "--help"], capture_output=True, timeout=60, check=False)
    assert top.returncode == 0
    assert b"parse-log" in top.stdout


def test_garbage_is_counted_not_fatal() -> None:
    done = _cli("--input", str(CASES / "synth_garbage.txt"))
    assert done.returncode == 0
    assert len(_events(done.stdout)) == 6
    summary = done.stderr.decode()
    for expected in (r"unknown\s+13\s+first at line 2", r"truncated\s+3", r"bad bytes\s+7"):
        assert re.search(expected, summary), (expected, summary)


def test_raw_hostnames_urls_and_addresses_never_reach_the_output(monkeypatch: pytest.MonkeyPatch) -> None:
    raw_names = ("example", "142.250.69.78", "2607:f8b0", "wss://", "token=")
    done = _cli("--input", str(RAW))
    assert done.returncode == 0
    for name in raw_names:
        assert name.encode() not in done.stdout + done.stderr
    keyed, _ = _in_process("--hash-key", "one", data=RAW.read_bytes())
    monkeypatch.setenv(parse_log.HASH_KEY_ENV, "one")
    from_environment, _ = _in_process(data=RAW.read_bytes())
    other, _ = _in_process("--hash-key", "two", data=RAW.read_bytes())
    assert [event["endpoint"] for event in keyed if event["type"] == "conn"] == [
        event["endpoint"] for event in from_environment if event["type"] == "conn"
    ]
    assert keyed[0]["endpoint"] != other[0]["endpoint"]


def test_app_ids_only_and_transitions_only() -> None:
    data = FIELD_LOG.read_bytes()
    mapped, _ = _in_process("--date", "2022-10-05", "--app-id", "mynetworkextension=com.example.vpn", data=data)
    assert {event["app"] for event in mapped} == {"com.example.vpn"}
    nothing, summary = _in_process("--date", "2022-10-05", "--only", "Safari", data=data)
    assert (nothing, summary.written, summary.events["conn"]) == ([], 0, 5)
    kept, _ = _in_process(
        "--date", "2022-10-05", "--only", "com.example.vpn", "--app-id", "mynetworkextension=com.example.vpn", data=data
    )
    assert len(kept) == 6
    transitions, summary = _in_process("--date", "2022-10-05", "--transitions-only", data=data)
    assert [(event["type"], event.get("state")) for event in transitions] == [
        ("conn", "waiting"),
        ("path", None),
        ("conn", "preparing"),
        ("conn", "waiting"),
    ]
    assert summary.collapsed == 2
    assert [event["seq"] for event in transitions] == [0, 1, 2, 3]


def test_a_console_copy_without_any_date_is_dated_today_and_says_so() -> None:
    done = _cli("--input", str(FIELD_LOG))
    assert done.returncode == 0
    assert len(_events(done.stdout)) == 6
    assert re.search(r"assumed\s+36\s+date-less records dated today: pass --date", done.stderr.decode())


def test_zone_options() -> None:
    compact = b"2024-03-01 10:00:00.123 Df vpn[1:2] [com.apple.network:connection] Connection state changed to ready\n"
    for zone, hour in (("UTC", 10), ("+05:30", 4), ("Europe/Paris", 9), ("-0800", 18)):
        (event,), _ = _in_process("--tz", zone, data=compact)
        assert (event["ts_ms"] // 3_600_000) % 24 == hour, zone
    local = parse_log.parse_zone("local")
    assert local.utcoffset(None) is not None
    undated = b"default\t14:38:55.853753+0530\tvpn\tConnection state changed to ready\n"
    for data in (compact, undated, compact.replace(b"2024", b"9999")):
        _, summary = _in_process("--tz", "local", data=data)
        assert summary.records["compact"] + summary.records["console"] + summary.unknown == 1


def test_the_summary_json_holds_every_count(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    done = _cli("--input", str(CASES / "synth_mixed_layouts.txt"), "--year", "2022", "--summary-json", str(target))
    assert done.returncode == 0
    summary = json.loads(target.read_text())
    assert summary["records"] == {
        "default": 1,
        "syslog": 1,
        "compact": 1,
        "json": 1,
        "ndjson": 1,
        "console": 2,
        "xcode": 1,
        "short": 1,
        "legacy_syslog": 1,
        "keyvalue": 1,
    }
    assert (summary["unknown"], summary["first_unknown_line"], summary["written"], summary["invalid"]) == (1, 11, 12, 0)
    assert summary["events"] == {"conn": 10, "path": 2}


def test_a_reader_that_goes_away_ends_the_command_with_1() -> None:
    data = FIELD_LOG.read_bytes() * 2000
    child = subprocess.Popen(
        [NETDOWN_AGENT, "parse-log", "--input", "-", "--date", "2022-10-05"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    child.stdout.close()
    _, stderr = child.communicate(data, timeout=120)
    assert child.returncode == 1
    assert b"stdout closed" in stderr
