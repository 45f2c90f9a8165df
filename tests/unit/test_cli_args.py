"""One grammar of durations for every command, and one way to name an option's environment variable."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from netdown.cli_args import (
    duration,
    env_default,
    env_name,
    fraction,
    non_negative_number,
    parse_duration,
    positive_int,
    positive_number,
)
from netdown.report.window import format_duration


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("7d", 604_800_000),
        ("3h", 10_800_000),
        ("90s", 90_000),
        ("1h30m", 5_400_000),
        ("500ms", 500),
        ("1.5h", 5_400_000),  # what the simulator took, and the reports did not
        ("600", 600_000),  # bare seconds, likewise
        ("2w", 1_209_600_000),
        (" 10m ", 600_000),
    ],
)
def test_every_command_reads_durations_the_same_way(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "7x", "7 days", "0s", "0", "1h-5m", "h", "-5s", "1e3s"])
def test_what_is_not_a_positive_duration_is_refused_with_examples_of_what_is(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a positive duration"):
        parse_duration(text)
    with pytest.raises(argparse.ArgumentTypeError, match=r"is not a positive duration"):
        duration(text)


def test_a_duration_printed_for_promql_reads_back_as_the_same_duration() -> None:
    for ms in (604_800_000, 5_400_000, 90_000, 1_500, 86_400_000 + 1):
        assert parse_duration(format_duration(ms)) == ms


def test_an_option_falls_back_on_its_netdown_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_name("stuck-after") == "NETDOWN_STUCK_AFTER"
    monkeypatch.delenv("NETDOWN_STUCK_AFTER", raising=False)
    assert env_default("stuck-after", "300") == "300"
    monkeypatch.setenv("NETDOWN_STUCK_AFTER", "60")
    assert env_default("stuck-after", "300") == "60"


@pytest.mark.parametrize(
    ("parse", "good", "bad", "message"),
    [
        (positive_int, {"1": 1, "48": 48}, ["0", "-3", "1.5", "x"], r"at least 1|not a whole number"),
        (positive_number, {"0.5": 0.5, "30": 30.0}, ["0", "-1", "nan", "x"], r"must be positive|not a number"),
        (non_negative_number, {"0": 0.0, "2.5": 2.5}, ["-0.1", "nan", "x"], r"at least 0|not a number"),
        (fraction, {"0": 0.0, "0.25": 0.25, "1": 1.0}, ["1.01", "-0.5", "nan", "x"], r"in \[0, 1\]|not a number"),
    ],
)
def test_every_command_reads_numbers_the_same_way(
    parse: Callable[[str], float], good: dict[str, float], bad: list[str], message: str
) -> None:
    assert {text: parse(text) for text in good} == good
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(text)
