"""One grammar of durations for every command, and one way to name an option's environment variable."""

from __future__ import annotations

import argparse

import pytest

from netdown.cli_args import duration, env_default, env_name, parse_duration
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
