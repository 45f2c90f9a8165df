"""The unified log parser never raises and never slows down, whatever the input: cost is capped per line.

Hypothesis feeds arbitrary text, bytes and JSON; the timed cases are the worst inputs for regular
expressions (long runs of one bracket, unclosed parentheses, repeated prefixes) at sizes far beyond
any real log line. Every observation that does come out must satisfy the wire contract.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdown.agent.redact import redact_endpoint
from netdown.agent.sources.unified_log import (
    LineTally,
    LogRecord,
    ParseTally,
    SplitOptions,
    find_error,
    parse_lines,
    parse_message,
    read_lines,
    split_records,
)
from netdown.agent.unified_log_messages import parse_path
from netdown.testing import json_values
from tests.unit.agent.golden import as_wire_event

# Fragments of real lines, so generated text reaches deep into the layouts and the grammar, not only their first check.
FRAGMENTS = [
    "2022-10-05 14:38:55.853753+0530",
    " 0x2f1a2    Default     0x0                  1234   0    ",
    "mynetworkextension: ",
    "(Network) [com.apple.network:connection] ",
    "default\t14:38:55.853753+0530\tvpn\t",
    "Jun  3 12:02:43 host App[12] <Error>: ",
    "[C221 Hostname#8c901c3c:443 waiting parent-flow (",
    "unsatisfied (Path was denied by NECP policy), interface: en0, ipv4)] event: path:unsatisfied",
    "nw_connection_report_state_with_handler_on_nw_queue [C221] reporting state ",
    "Connection state changed to waiting(POSIXErrorCode(rawValue: 50): Network is down)",
    "Connection 95: failed to connect 1:50",
    '{"timestamp":"2022-10-05 14:38:55.853753+0530","eventMessage":"',
    "[{",
    "},{",
    "}]",
    "_NSURLErrorNWPathKey=",
    "(",
    ")",
    "[",
    "]",
    "\t",
    " ",
]
LINES = st.lists(st.text(max_size=40) | st.sampled_from(FRAGMENTS), max_size=8).map("".join)


def _observations(lines: list[str]) -> None:
    """Parse ``lines`` completely; every observation must be a valid wire body."""
    for item in parse_lines(lines, line_tally=LineTally(), tally=ParseTally()):
        as_wire_event(item.observation.body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=12))
def test_arbitrary_text_never_raises_and_yields_only_valid_observations(lines: list[str]) -> None:
    _observations(lines)


@settings(max_examples=200)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    tally = LineTally()
    records = list(split_records(read_lines(io.BytesIO(data), tally, limit=256), tally=tally))
    assert tally.lines >= len(records)


@settings(max_examples=200)
@given(st.lists(json_values(), max_size=5))
def test_arbitrary_json_lines_never_raise(values: list[object]) -> None:
    _observations([msgspec.json.encode(value).decode() for value in values])


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_the_grammar_never_raises_on_any_message(message: str) -> None:
    record = LogRecord(
        line=1, layout="console", ts_ms=0, process="p", pid=None, subsystem=None, category=None, message=message
    )
    for observation in parse_message(record):
        as_wire_event(observation.body)
    find_error(message)
    parse_path(message)
    redact_endpoint(message, b"k")


@contextmanager
def under(seconds: float) -> Iterator[None]:
    started = time.perf_counter()
    yield
    assert time.perf_counter() - started < seconds


def test_a_ten_megabyte_line_is_skipped_unread_in_well_under_a_second() -> None:
    data = b"2022-10-05 14:38:55.853753+0530 " + b"[" * (10 << 20) + b"\nafter\n"
    tally = LineTally()
    with under(0.5):
        lines = list(read_lines(io.BytesIO(data), tally))
        list(split_records(lines, tally=tally))
    assert lines == [None, "after\n"]
    assert (tally.too_long, tally.unknown) == (1, 1)


def test_a_ten_megabyte_string_given_directly_is_refused_at_once() -> None:
    with under(0.5):
        records = list(split_records(["{" * (10 << 20), "[" * (10 << 20)]))
    assert records == []


PATHOLOGICAL: list[str] = [
    "[" * 100_000,
    "(" * 100_000,
    "[C1 " * 25_000,
    "[1 " * 30_000,
    "Connection " * 10_000 + "state",
    "{" * 60_000,
    '"' * 60_000,
    "\\" * 60_000,
    "interface: en0, " * 6_000,
    "1:" * 50_000,
    "E" * 100_000,
    "a" * 100_000 + "@",
]


def test_pathological_messages_cost_linear_time() -> None:
    for text in PATHOLOGICAL:
        whole = LogRecord(
            line=1, layout="console", ts_ms=0, process="p", pid=None, subsystem=None, category=None, message=text
        )
        read_in_full = dataclasses.replace(whole, message=text[:16_000])  # the longest message the grammar reads
        checks: list[Callable[[], object]] = [
            functools.partial(parse_message, whole),
            functools.partial(parse_message, read_in_full),
            functools.partial(find_error, text),
            functools.partial(parse_path, text),
            functools.partial(redact_endpoint, text, b"k"),
        ]
        for check in checks:
            with under(1.0):
                check()


def test_pathological_lines_through_both_layers_cost_linear_time() -> None:
    head = "2022-10-05 14:38:55.853753+0530 0x2f1a2 Default 0x0 1234 0 vpn: "
    lines = [
        line[:60_000] for text in PATHOLOGICAL for line in (text, head + text, "default\t14:38:55.8+0000\tp\t" + text)
    ]
    with under(3.0):
        _observations(lines)


def test_a_hundred_thousand_lines_parse_in_a_few_seconds() -> None:
    field = [
        "default\t14:38:55.853753+0530\tmynetworkextension\t[C221 Hostname#8c901c3c:443 waiting parent-flow "
        "(unsatisfied (Path was denied by NECP policy), interface: en0, ipv4)] event: path:unsatisfied @0.000s",
        "default\t14:38:55.853790+0530\tmynetworkextension\tnw_connection_report_state_with_handler_on_nw_queue [C221] "
        "reporting state waiting",
        "default\t14:38:55.842398+0530\tkernel\tUnable to send CoreAnalytics event. Delaying for 1000 u.s.",
        "default\t14:38:55.843311+0530\tmynetworkextension\tsubjectInfo[2.16.840.1.113741.2.1.1.1.3] = 1",
    ]
    lines = field * 25_000
    tally = ParseTally()
    with under(8.0):  # about 1.5 s on a developer laptop; the bound leaves room for a loaded CI machine
        count = sum(1 for _ in parse_lines(lines, split=SplitOptions(), tally=tally))
    assert count == 75_000
