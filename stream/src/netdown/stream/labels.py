"""Bounded metric label values: what a device reports becomes one of a fixed, small set of strings.

Metrics never carry a device label and every label has a bounded set of values (docs/design.md), so
free text from the wire (``os_version``, ``app``, an agent source's name) never reaches Prometheus as
is. An OS release is cut to ``major.minor`` and kept only when it is a release we know; an app is
kept only when the operator listed it; a source only when the agent ships it. Everything else is
``other``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

__all__ = ["OTHER", "SOURCE_NAMES", "Labeler", "normalise_os_version", "os_version_values", "source_label"]

OTHER: Final = "other"

# Releases worth their own series, per platform: (majors, highest minor). macOS 11 (Big Sur) to 26
# (Tahoe; Apple jumped from 15 to 26 in 2025) has had minors up to .7; Linux kernels 4.x to 6.x up
# to .20. The bound is generous so a new point release is not folded into `other` for months.
_RELEASES: Final[dict[str, tuple[range, int]]] = {
    "darwin": (range(11, 27), 9),
    "linux": (range(4, 7), 20),
}
_MAJOR_MINOR: Final = re.compile(r"(\d{1,4})(?:\.(\d{1,4}))?")
# The sources the agent ships, by their config names: a heartbeat may name any source (up to 256 characters, and
# a hostile device sends whatever it likes), so only these become `source` label values. A source added to the
# agent is added here too, or it is counted under `other` (still counted, only not by name).
SOURCE_NAMES: Final = frozenset({"macos_path", "linux_path", "unified_log", "app_events", "probes"})


def normalise_os_version(platform: str, os_version: str) -> str:
    """``14.4.1`` on darwin -> ``14.4``; ``6.8.0-45-generic`` on linux -> ``6.8``; unknown -> ``other``."""
    releases = _RELEASES.get(platform)
    parsed = _MAJOR_MINOR.match(os_version)
    if releases is None or parsed is None:
        return OTHER
    majors, highest_minor = releases
    major, minor = int(parsed.group(1)), int(parsed.group(2) or 0)
    if major not in majors or minor > highest_minor:
        return OTHER
    return f"{major}.{minor}"


def os_version_values() -> frozenset[str]:
    """Every value the ``os_version`` label can take (the bound docs/design.md promises)."""
    return frozenset(
        {OTHER}
        | {
            f"{major}.{minor}"
            for majors, highest_minor in _RELEASES.values()
            for major in majors
            for minor in range(highest_minor + 1)
        }
    )


def source_label(name: str) -> str:
    """A source the agent ships keeps its name as the label value; any other is ``other``."""
    return name if name in SOURCE_NAMES else OTHER


@dataclass(frozen=True)
class Labeler:
    """Maps a device's free-text facts to label values; ``apps`` is the operator's allowlist."""

    apps: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_apps(cls, apps: Iterable[str]) -> Labeler:
        """A labeler keeping the given app names (blank entries ignored)."""
        return cls(apps=frozenset(name.strip() for name in apps if name.strip()))

    def app(self, name: str) -> str:
        """The app's own name when the operator listed it, else ``other``."""
        return name if name in self.apps else OTHER

    def os_version(self, platform: str, os_version: str) -> str:
        """See :func:`normalise_os_version`."""
        return normalise_os_version(platform, os_version)

    @staticmethod
    def platform(platform: str) -> str:
        """A platform the wire contract knows, else ``other``."""
        return platform if platform in _RELEASES else OTHER
