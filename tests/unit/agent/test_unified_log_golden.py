"""Unified log parser on the field corpus: every fixture's observations and counts, exactly (golden files).

``tests/fixtures/unified_log/<case>.txt`` is a capture (copied verbatim from the shared field corpus,
or synthesised where the corpus lacks a layout: its ``.source`` says which and why), parsed with the
options in ``<case>.args`` (``parse-log``'s own flags, read by its own parser) and compared with
``<case>.expected.json``: every observation with its line, layout, time and body, and the summary
counts, unknown lines included. ``pytest tests/unit/agent --update-goldens`` rewrites them for review.
"""

from __future__ import annotations

import argparse
import io
import shlex
from pathlib import Path
from typing import Any

import pytest

from netdown import wire
from netdown.agent import parse_log
from netdown.agent.sources.unified_log import LineTally, Parsed, ParseTally, parse_lines, read_lines
from tests.unit.agent.golden import as_wire_event, assert_golden, cases

CASES = cases("unified_log")


def _arguments(case: Path) -> argparse.Namespace:
    """The case's ``.args`` read by parse-log's own parser, as the command would read them."""
    parser = argparse.ArgumentParser()
    parse_log.configure_parser(parser)
    extra = case.with_suffix(".args")
    return parser.parse_args(["--input", str(case), *(shlex.split(extra.read_text()) if extra.exists() else [])])


def _parsed(case: Path) -> tuple[list[Parsed], LineTally, ParseTally]:
    """The parser's observations of a case, with both tallies."""
    options = parse_log.stream_options(_arguments(case), case.name)
    lines, tally = LineTally(), ParseTally()
    with case.open("rb") as stream:
        parsed = list(
            parse_lines(
                read_lines(stream, lines),
                split=options["split"],
                options=options["options"],
                line_tally=lines,
                tally=tally,
            )
        )
    return parsed, lines, tally


def _parse(case: Path) -> dict[str, Any]:
    """What the parser makes of a case: its observations and both tallies."""
    parsed, lines, tally = _parsed(case)
    return {
        "lines": lines,
        "messages": dict(sorted(tally.messages.items())),
        "observations": [
            {
                "line": item.record.line,
                "layout": item.record.layout,
                "type": item.observation.type,
                "ts_ms": item.observation.ts_ms,
                "body": item.observation.body,
            }
            for item in parsed
        ],
    }


def test_every_fixture_has_a_case() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_fixture_parses_to_its_golden_observations_and_counts(case: Path) -> None:
    assert_golden(case, _parse(case))


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_every_observation_of_a_fixture_is_a_valid_wire_body(case: Path) -> None:
    for item in _parsed(case)[0]:
        assert isinstance(item.observation.body, wire.ConnBody | wire.PathBody), "a typed body, checked at the source"
        event = as_wire_event(item.observation.body)
        assert wire.event_type(event) == item.observation.type


@pytest.mark.parametrize("case", CASES, ids=lambda path: path.stem)
def test_the_command_writes_one_valid_wire_event_per_observation(case: Path) -> None:
    arguments = _arguments(case)
    out = io.BytesIO()
    with case.open("rb") as stream:
        summary = parse_log.parse_stream(stream, out.write, **parse_log.stream_options(arguments, case.name))
    events = [wire.decode(line) for line in out.getvalue().splitlines()]
    assert not [event for event in events if isinstance(event, wire.Rejection)]
    assert len(events) == summary.written == len(_parse(case)["observations"])
    assert summary.invalid == 0
