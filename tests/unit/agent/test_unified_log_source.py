"""The running unified_log source: the command it builds, the fixture it reads in place of ``log stream``.

On Linux the command is replaced by ``cat`` on an ndjson fixture (or a small Python script), so the
reader, the caps, the parser and the transition filter run exactly as on a Mac.
"""

from __future__ import annotations

import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from netdown import wire
from netdown.agent.sources import discover
from netdown.agent.sources.base import Observation
from netdown.agent.sources.unified_log import (
    LOG_RESTART_DELAY_S,
    LogRecord,
    Transitions,
    UnifiedLogSource,
    build_command,
    build_predicate,
)
from tests.unit.agent.golden import FIXTURES, as_wire_event, jsonable

NDJSON = FIXTURES / "unified_log" / "synth_field_log_ndjson.txt"


def _run(source: UnifiedLogSource) -> list[Observation]:
    emitted: list[Observation] = []
    source.run(emitted.append, threading.Event())
    return emitted


def test_the_source_registers_itself() -> None:
    assert discover()["unified_log"] is UnifiedLogSource


def test_the_predicate_names_every_process_and_subsystem_quoted() -> None:
    assert build_predicate(["mynetworkextension", 'odd "name"'], ["com.example.vpn"]) == (
        'process == "mynetworkextension" OR process == "odd \\"name\\"" OR subsystem == "com.example.vpn"'
    )
    with pytest.raises(ValueError, match="at least one process or subsystem"):
        build_predicate([], [])


def test_the_command_streams_ndjson() -> None:
    assert build_command(["vpn"], [], level="info") == [
        "/usr/bin/log",
        "stream",
        "--style",
        "ndjson",
        "--predicate",
        'process == "vpn"',
        "--level",
        "info",
    ]


def test_a_fixture_in_place_of_log_stream_gives_the_transitions_only() -> None:
    source = UnifiedLogSource(command=["cat", str(NDJSON)])
    emitted = _run(source)
    for observation in emitted:
        as_wire_event(observation.body)
    assert [(o.type, jsonable(o.body).get("conn_id"), jsonable(o.body).get("state")) for o in emitted] == [
        ("conn", "C221", "waiting"),
        ("path", None, None),
        ("conn", "C221", "preparing"),
        ("conn", "-", "waiting"),
    ]
    assert jsonable(emitted[-1].body)["error"] == {"domain": "posix", "code": 50, "name": "ENETDOWN"}
    assert (source.tally.collapsed, source.line_tally.furniture, source.line_tally.records["ndjson"]) == (2, 2, 9)


def test_without_the_transition_filter_every_observation_is_emitted() -> None:
    source = UnifiedLogSource(command=["cat", str(NDJSON)], transitions_only=False)
    assert len(_run(source)) == 6


@dataclass(frozen=True)
class _App:
    bundle_id: str
    processes: tuple[str, ...]
    subsystems: tuple[str, ...] = ()


def test_configured_apps_give_the_predicate_and_are_reported_by_bundle_id() -> None:
    apps = [_App("com.example.vpn.tunnel", ("mynetworkextension",), ("com.example.vpn",))]
    watching = UnifiedLogSource.for_apps(apps)
    assert watching.command[-1] == 'process == "mynetworkextension" OR subsystem == "com.example.vpn"'
    assert watching.restart_delay_s == LOG_RESTART_DELAY_S  # the real `log stream` is restarted; a fixture is not
    source = UnifiedLogSource.for_apps(apps, command=["cat", str(NDJSON)])
    assert {jsonable(observation.body)["app"] for observation in _run(source)} == {"com.example.vpn.tunnel"}


def test_stop_ends_a_command_that_never_ends_by_itself(tmp_path: Path) -> None:
    script = tmp_path / "forever.py"
    script.write_text(
        f"import sys, time\nsys.stdout.write(open({str(NDJSON)!r}).read()); sys.stdout.flush()\ntime.sleep(60)\n"
    )
    source = UnifiedLogSource(command=[sys.executable, str(script)], restart_delay_s=0.05)
    emitted: list[Observation] = []
    stop = threading.Event()
    runner = threading.Thread(target=source.run, args=(emitted.append, stop))
    runner.start()
    deadline = time.monotonic() + 10
    while len(emitted) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive()
    assert len(emitted) == 4


def test_a_command_that_ends_is_started_again_after_the_delay(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    script = f"echo x >> {shlex.quote(str(counter))}; cat {shlex.quote(str(NDJSON))}"
    source = UnifiedLogSource(command=["sh", "-c", script], restart_delay_s=0.01)
    stop = threading.Event()
    emitted: list[Observation] = []

    def emit(observation: Observation) -> None:
        emitted.append(observation)
        if len(emitted) == 5:
            stop.set()

    source.run(emit, stop)
    assert counter.read_text().count("x") == 2
    # The second run begins with C221 `waiting` again: after `preparing`, that is a transition; the path is not.
    assert [(o.type, jsonable(o.body).get("state")) for o in emitted[3:5]] == [("conn", "waiting"), ("conn", "waiting")]
    assert jsonable(emitted[4].body)["conn_id"] == "C221"


def _run_for_a_while(source: UnifiedLogSource, until: Callable[[], bool]) -> None:
    """Run the source in a thread until ``until()`` holds (or 10 s passed), then stop it."""
    stop = threading.Event()
    runner = threading.Thread(target=source.run, args=(lambda _: None, stop))
    runner.start()
    deadline = time.monotonic() + 10
    while not until() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    runner.join(timeout=5)
    assert not runner.is_alive()


def test_a_stream_that_keeps_exiting_is_not_running_with_reading_errors_growing() -> None:
    source = UnifiedLogSource(command=["sh", "-c", "exit 1"], restart_delay_s=0.01)
    _run_for_a_while(source, lambda: source.health.snapshot().errors.reading >= 3)
    health = source.health.snapshot()
    assert (health.role, health.running, health.last_success_ms) == ("app_view", False, None)
    assert health.errors.reading >= 3


def test_a_restarted_stream_runs_again_at_its_header_and_counts_lines_it_cannot_read() -> None:
    header = 'Filtering the log data using "process == \\"vpn\\""'
    script = f"echo {shlex.quote(header)}; echo 'no layout reads this line'; exec sleep 30"
    source = UnifiedLogSource(command=["sh", "-c", script], restart_delay_s=0.01)
    source.health.failed("reading")  # as after a stream that ended
    _run_for_a_while(source, lambda: source.health.snapshot().errors.parsing >= 1)
    health = source.health.snapshot()
    # The stream prints nothing after its header and one unknown line, and still counts as running.
    assert (health.running, health.errors.parsing, health.errors.reading) == (True, 1, 1)
    assert health.last_success_ms is not None
    assert (source.line_tally.furniture, source.line_tally.unknown) == (1, 1)


def test_a_fixture_read_to_its_end_is_a_success_with_no_errors() -> None:
    source = UnifiedLogSource(command=["cat", str(NDJSON)])
    _run(source)
    health = source.health.snapshot()
    assert (health.running, health.errors) == (True, wire.SourceErrors(reading=0, parsing=0, sending=0))
    assert health.last_success_ms is not None


def test_a_missing_log_binary_is_a_broken_setup() -> None:
    source = UnifiedLogSource(command=["/nonexistent/log", "stream"])
    with pytest.raises(FileNotFoundError):
        _run(source)


def _record(pid: int = 1) -> LogRecord:
    return LogRecord(
        line=1, layout="ndjson", ts_ms=0, process="vpn", pid=pid, subsystem=None, category=None, message=""
    )


def _conn(state: wire.ConnState, error: wire.ErrorInfo | None = None, conn_id: str = "C1") -> Observation:
    body = wire.ConnBody(app="vpn", conn_id=conn_id, endpoint="", state=state, error=error)
    return Observation(ts_ms=0, body=body)


def test_transitions_keep_state_changes_and_newly_known_errors() -> None:
    enetdown = wire.ErrorInfo(domain="posix", code=50, name="ENETDOWN")
    transitions = Transitions()
    admitted = [
        transitions.admit(_record(), observation)
        for observation in (
            _conn("waiting"),
            _conn("waiting"),  # the same state again: dropped
            _conn("waiting", enetdown),  # the same state, now with its error: kept
            _conn("waiting"),  # the report without the error: dropped
            _conn("ready"),
            _conn("ready", conn_id="C2"),  # another connection
        )
    ]
    assert admitted == [True, False, True, False, True, True]
    assert transitions.admit(_record(pid=2), _conn("ready"))  # another process: another connection


def test_transitions_forget_the_oldest_connections_first() -> None:
    transitions = Transitions(capacity=2)
    for conn_id in ("C1", "C2", "C3"):
        assert transitions.admit(_record(), _conn("ready", conn_id=conn_id))
    assert transitions.admit(_record(), _conn("ready", conn_id="C1"))  # forgotten, so news again
    assert not transitions.admit(_record(), _conn("ready", conn_id="C3"))
