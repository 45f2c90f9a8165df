"""Label values stay within a fixed, small set whatever devices report."""

from __future__ import annotations

import pytest

from netdown.agent.sources import discover
from netdown.stream.labels import OTHER, SOURCE_NAMES, Labeler, normalise_os_version, os_version_values, source_label


@pytest.mark.parametrize(
    ("platform", "reported", "label"),
    [
        ("darwin", "14.4.1", "14.4"),
        ("darwin", "14.4", "14.4"),
        ("darwin", "15", "15.0"),
        ("darwin", "26.0.1", "26.0"),
        ("darwin", "11.7.10", "11.7"),
        ("darwin", "014.04", "14.4"),  # leading zeros name the same release
        ("linux", "6.8.0-45-generic", "6.8"),
        ("linux", "5.15.0", "5.15"),
        ("darwin", "10.15.7", OTHER),  # before Big Sur
        ("darwin", "27.0", OTHER),  # not released yet: folded until the allowlist learns it
        ("darwin", "14.12", OTHER),  # a minor no release has had
        ("linux", "14.4.1", OTHER),  # a macOS number on linux is nonsense
        ("darwin", "", OTHER),
        ("darwin", "Sonoma", OTHER),
        ("darwin", "9" * 500, OTHER),
        ("windows", "10.0", OTHER),
    ],
)
def test_os_version_is_major_minor_of_a_known_release_or_other(platform: str, reported: str, label: str) -> None:
    assert normalise_os_version(platform, reported) == label


def test_os_version_label_has_a_small_fixed_set_of_values() -> None:
    values = os_version_values()
    assert {"other", "11.0", "14.4", "26.9", "4.20", "6.8"} <= values
    assert len(values) < 250


def test_app_label_is_the_app_only_when_the_operator_listed_it() -> None:
    labeler = Labeler.from_apps(["com.example.vpn.tunnel", " ", " com.example.proxy "])
    assert labeler.apps == frozenset({"com.example.vpn.tunnel", "com.example.proxy"})
    assert labeler.app("com.example.vpn.tunnel") == "com.example.vpn.tunnel"
    assert labeler.app("com.example.proxy") == "com.example.proxy"
    assert labeler.app("com.someone.else") == OTHER
    assert Labeler().app("com.example.vpn.tunnel") == OTHER


@pytest.mark.parametrize(
    ("platform", "label"), [("darwin", "darwin"), ("linux", "linux"), ("", OTHER), ("beos", OTHER)]
)
def test_platform_label_is_a_known_platform_or_other(platform: str, label: str) -> None:
    assert Labeler.platform(platform) == label


def test_every_source_the_agent_ships_has_its_own_label_value_and_any_other_name_is_other() -> None:
    """The `source` bound follows the agent: a source added there without its name here would read `other`."""
    assert set(discover()) == SOURCE_NAMES
    assert {source_label(name) for name in SOURCE_NAMES} == SOURCE_NAMES
    assert source_label("macos_path ") == OTHER
    assert source_label("x" * 256) == OTHER
