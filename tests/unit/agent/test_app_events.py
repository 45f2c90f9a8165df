"""The app-emitted NDJSON file is followed line by line: each valid line once, nothing guessed."""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec

from netdown import wire
from netdown.agent.envelope import Stamper
from netdown.agent.sources.app_events import MAX_LINE_BYTES, AppEventsSource, parse_app_line
from netdown.agent.sources.base import Observation
from netdown.stamping import DeviceIdentity
from tests.unit.agent.golden import jsonable

APP = "com.example.vpn.tunnel"
CONN = {
    "type": "conn",
    "ts_ms": 1_732_540_800_123,
    "id": "line-1",
    "app": APP,
    "conn_id": "C221",
    "endpoint": "Hostname#8c901c3c:443",
    "state": "waiting",
    "error": {"domain": "posix", "code": 50, "name": "ENETDOWN"},
    "path_status": "unsatisfied",
    "path_reason": "policy_denied",
    "interface": "en0",
}
PATH = {
    "type": "path",
    "ts_ms": 1_732_540_800_200,
    "id": "line-2",
    "app": APP,
    "status": "unsatisfied",
    "reason": "policy_denied",
    "interfaces": [{"name": "en0", "type": "wifi"}],
    "ipv4": True,
    "ipv6": False,
    "dns": True,
}
FACTS = DeviceIdentity(
    device_id="mac-0123456789abcdef01234567", boot_id="b1", platform="darwin", os_version="15.1", os_build="24B83"
)


def _line(obj: dict[str, object]) -> bytes:
    return msgspec.json.encode(obj) + b"\n"


def test_conn_and_path_lines_become_valid_app_events_with_stable_ids() -> None:
    stamper = Stamper(FACTS, next_seq=0)
    conn = parse_app_line(_line(CONN).strip(), frozenset({APP}))
    path = parse_app_line(_line(PATH).strip(), frozenset({APP}))
    assert isinstance(conn, Observation)
    assert isinstance(path, Observation)
    conn_event, path_event = stamper.stamp(conn), stamper.stamp(path)
    assert isinstance(conn_event, wire.ConnEvent)
    assert conn_event.error == wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN")
    assert conn_event.ts_ms == CONN["ts_ms"]
    assert isinstance(path_event, wire.PathEvent)
    assert (path_event.observer, path_event.app, path_event.reason) == ("app", APP, "policy_denied")
    again = parse_app_line(_line(CONN).strip(), frozenset({APP}))
    assert isinstance(again, Observation)
    assert again.event_id == conn.event_id, "the same line read twice is the same event"


def test_lines_that_are_not_app_events_are_skipped_with_a_reason() -> None:
    allowed = frozenset({APP})
    assert parse_app_line(b"{not json", allowed) == "not_json"
    assert parse_app_line(b"\xff\xfe", allowed) == "not_json"
    assert parse_app_line(b"[1,2]", allowed) == "not_an_object"
    assert parse_app_line(_line({**CONN, "type": "probe"}).strip(), allowed) == "unknown_type"
    assert parse_app_line(_line({k: v for k, v in CONN.items() if k != "id"}).strip(), allowed) == "missing_ts_or_id"
    assert parse_app_line(_line({**CONN, "app": "com.other"}).strip(), allowed) == "app_not_monitored"


def test_a_line_that_breaks_the_contract_is_skipped_by_the_source_as_an_invalid_body() -> None:
    allowed = frozenset({APP})
    assert parse_app_line(_line({**CONN, "state": "exploded"}).strip(), allowed) == "invalid_body"
    assert parse_app_line(_line({**CONN, "conn_id": ""}).strip(), allowed) == "invalid_body"
    assert parse_app_line(_line({k: v for k, v in PATH.items() if k != "status"}).strip(), allowed) == "invalid_body"
    typed = parse_app_line(_line(PATH).strip(), allowed)
    assert isinstance(typed, Observation)
    assert isinstance(typed.body, wire.PathBody), "the source emits a typed body"


def _follow(source: AppEventsSource, until: int, timeout: float = 10.0) -> list[Observation]:
    seen: list[Observation] = []
    stop = threading.Event()
    done = threading.Event()

    def emit(observation: Observation) -> None:
        seen.append(observation)
        if len(seen) >= until:
            done.set()

    runner = threading.Thread(target=source.run, args=(emit, stop))
    runner.start()
    done.wait(timeout)
    stop.set()
    runner.join()
    return seen


def test_the_file_is_followed_across_partial_lines_overlong_lines_rotation_and_restarts(tmp_path: Path) -> None:
    events_file, state = tmp_path / "events.ndjson", tmp_path
    events_file.write_bytes(_line(CONN) + b"x" * (MAX_LINE_BYTES + 10) + b"\n" + _line(PATH)[:20])
    source = AppEventsSource(path=events_file, state_dir=state, allowed_apps=frozenset({APP}), poll_interval=0.01)
    first = _follow(source, until=1)
    assert [jsonable(o.body)["conn_id"] for o in first if o.type == "conn"] == ["C221"]
    assert source.skipped["too_long"] == 1
    with events_file.open("ab") as handle:
        handle.write(_line(PATH)[20:])  # the app finishes the line it was writing
    restarted = AppEventsSource(path=events_file, state_dir=state, allowed_apps=frozenset({APP}), poll_interval=0.01)
    second = _follow(restarted, until=1)
    assert [o.type for o in second] == ["path"], "the restart resumes after what was read, with the finished line"
    events_file.unlink()
    events_file.write_bytes(_line({**CONN, "id": "after-rotation", "conn_id": "C300"}))
    third = _follow(AppEventsSource(path=events_file, state_dir=state, poll_interval=0.01), until=1)
    assert [jsonable(o.body)["conn_id"] for o in third] == ["C300"]


def test_an_overlong_line_the_app_is_still_writing_is_held_back_then_skipped_once_finished(tmp_path: Path) -> None:
    events_file, state = tmp_path / "events.ndjson", tmp_path
    events_file.write_bytes(_line(CONN) + b"x" * (MAX_LINE_BYTES + 10))
    source = AppEventsSource(path=events_file, state_dir=state, allowed_apps=frozenset({APP}), poll_interval=0.01)
    assert [o.type for o in _follow(source, until=1)] == ["conn"]
    assert source.skipped["too_long"] == 0, "not counted while it may still grow"
    with events_file.open("ab") as handle:
        handle.write(b"x\n" + _line(PATH))
    restarted = AppEventsSource(path=events_file, state_dir=state, allowed_apps=frozenset({APP}), poll_interval=0.01)
    assert [o.type for o in _follow(restarted, until=1)] == ["path"]
    assert restarted.skipped["too_long"] == 1


def test_its_health_counts_misread_lines_as_parsing_errors_and_each_read_as_a_success(tmp_path: Path) -> None:
    events = tmp_path / "app-events.ndjson"
    other_app = {**PATH, "id": "line-3", "app": "com.example.other"}
    events.write_bytes(_line(CONN) + b"not json\n" + _line(other_app) + _line({**PATH, "type": "dns"}))
    source = AppEventsSource(path=events, state_dir=tmp_path, allowed_apps=frozenset({APP}))
    assert source.health.snapshot().last_success_ms is None
    stop = threading.Event()
    source.run(lambda _: stop.set(), stop)  # the conn line ends the run after the poll that read it
    health = source.health.snapshot()
    assert (health.name, health.role, health.running) == ("app_events", "app_view", True)
    assert health.errors.parsing == 2, "not_json and unknown_type; another app's line is filtered, not misread"
    assert health.last_success_ms is not None
