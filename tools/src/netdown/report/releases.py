"""``netdown-report releases``: is a release worse than the rest of the fleet, by how much, how sure are we.

For each release (and build): episodes per 1,000 device-days with its exact Poisson interval, and the
*ratio to the rest of the fleet*, the release against every other release pooled (never against a
fleet that includes it, which would pull the ratio towards 1 and make the two rates dependent), with
its exact conditional interval.

A release is **flagged** when the lower bound of its ratio-to-rest interval exceeds 1 at a
*family-wise* level: the per-row intervals are at ``confidence`` (95%), but the flag uses the
Bonferroni level over the releases compared, so that over a table of ten healthy releases the
chance that any is flagged stays at most 5%, not about 40%. Comparing the release's own interval
with the fleet's interval would be unsound twice over: the fleet contains the release, and two
overlapping 95% intervals do not mean "no difference" (that test is far too conservative).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final, Literal

import msgspec

from netdown.report import render
from netdown.report.figures import GroupFigures, Level
from netdown.report.stats import family_confidence, rate_interval, rate_ratio, rate_ratio_interval
from netdown.report.window import Window

__all__ = [
    "Comparison",
    "ReleaseRow",
    "ReleasesReport",
    "compare",
    "document",
    "fleet_row",
    "natural_key",
    "release_rows",
    "releases_report",
]

PER_DEVICE_DAYS: Final = 1000.0  # incidence is given per this many device-days
_TOKEN: Final = re.compile(r"\d+|[^\d.]+")


class ReleaseRow(msgspec.Struct, frozen=True, kw_only=True):
    """One release or build: its figures, incidence with interval, ratio to the rest with interval, flag."""

    level: Level | Literal["fleet"]
    name: str
    version: str
    devices: float
    device_days: float
    episodes: int
    incidence: float | None  # episodes per 1,000 device-days
    incidence_low: float | None
    incidence_high: float | None
    ratio_to_rest: float | None  # None when undefined (no other release, or no episode anywhere)
    ratio_low: float | None
    ratio_high: float | None  # inf (null in JSON) when unbounded
    ratio_low_familywise: float | None  # the lower bound the flag uses
    flagged: bool
    stuck_share: float | None
    duration_p50_s: float | None
    duration_p90_s: float | None


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    """``--compare A B``: A's incidence over B's, with its interval and a verdict in words."""

    a: str
    b: str
    ratio: float | None
    low: float | None
    high: float | None
    confidence: float
    verdict: Literal["worse", "better", "no difference detected", "no data"]
    summary: str


class ReleasesReport(msgspec.Struct, frozen=True, kw_only=True):
    """The whole report, as the JSON output carries it."""

    start_ms: int
    end_ms: int
    confidence: float
    versions_source: str
    builds_source: str | None
    versions_flag_confidence: float  # the family-wise (Bonferroni) level of the releases' flags
    builds_flag_confidence: float | None
    fleet: ReleaseRow
    versions: list[ReleaseRow]
    builds: list[ReleaseRow]
    comparison: Comparison | None = None


def _incidence(episodes: int, device_days: float, confidence: float) -> tuple[float | None, ...]:
    if device_days <= 0:
        return None, None, None
    interval = rate_interval(episodes, device_days / PER_DEVICE_DAYS, confidence)
    return PER_DEVICE_DAYS * episodes / device_days, interval.low, interval.high


def release_rows(figures: Sequence[GroupFigures], level: Level, confidence: float) -> tuple[list[ReleaseRow], float]:
    """Each group against the rest of ``figures`` (all the others pooled), in natural version order.

    Also returns the family-wise level the flags were decided at.
    """
    total_episodes = sum(group.episodes for group in figures)
    total_days = sum(group.device_days for group in figures)

    def comparable(group: GroupFigures) -> bool:
        return group.device_days > 0 and total_days - group.device_days > 0

    flag_confidence = family_confidence(confidence, sum(map(comparable, figures)))
    rows = []
    for group in figures:
        incidence, low, high = _incidence(group.episodes, group.device_days, confidence)
        ratio = interval = familywise = None
        if comparable(group):
            rest = (total_episodes - group.episodes, total_days - group.device_days)
            value = rate_ratio(group.episodes, group.device_days, *rest)
            ratio = None if math.isnan(value) else value
            interval = rate_ratio_interval(group.episodes, group.device_days, *rest, confidence)
            familywise = rate_ratio_interval(group.episodes, group.device_days, *rest, flag_confidence)
        rows.append(
            ReleaseRow(
                level=level,
                name=group.name,
                version=group.version,
                devices=group.devices,
                device_days=group.device_days,
                episodes=group.episodes,
                incidence=incidence,
                incidence_low=low,
                incidence_high=high,
                ratio_to_rest=ratio,
                ratio_low=interval.low if interval else None,
                ratio_high=interval.high if interval else None,
                ratio_low_familywise=familywise.low if familywise else None,
                flagged=familywise is not None and familywise.low > 1,
                stuck_share=group.stuck_share,
                duration_p50_s=group.duration_p50_s,
                duration_p90_s=group.duration_p90_s,
            )
        )
    return sorted(rows, key=lambda row: (natural_key(row.version), natural_key(row.name))), flag_confidence


def fleet_row(figures: Sequence[GroupFigures], confidence: float) -> ReleaseRow:
    """The whole fleet: every group's figures added up (device-weighted shares)."""
    days = sum(group.device_days for group in figures)
    episodes = sum(group.episodes for group in figures)
    incidence, low, high = _incidence(episodes, days, confidence)
    stuck = [(group.stuck_share, group.device_days) for group in figures if group.stuck_share is not None]
    stuck_days = sum(weight for _, weight in stuck)
    return ReleaseRow(
        level="fleet",
        name="fleet",
        version="",
        devices=sum(group.devices for group in figures),
        device_days=days,
        episodes=episodes,
        incidence=incidence,
        incidence_low=low,
        incidence_high=high,
        ratio_to_rest=None,
        ratio_low=None,
        ratio_high=None,
        ratio_low_familywise=None,
        flagged=False,
        stuck_share=sum(share * weight for share, weight in stuck) / stuck_days if stuck_days > 0 else None,
        duration_p50_s=None,  # quantiles do not add up; see each release
        duration_p90_s=None,
    )


def compare(rows: Sequence[ReleaseRow], a: str, b: str, confidence: float) -> Comparison:
    """A's incidence over B's (releases first, then builds, by name); raises KeyError naming a missing one."""
    first, second = _find(rows, a), _find(rows, b)
    if first.device_days <= 0 or second.device_days <= 0 or first.episodes + second.episodes == 0:
        return Comparison(
            a=a, b=b, ratio=None, low=None, high=None, confidence=confidence, verdict="no data",
            summary=f"{a} vs {b}: not enough data (device-days {first.device_days:.1f} and "
            f"{second.device_days:.1f}, episodes {first.episodes} and {second.episodes})",
        )  # fmt: skip
    ratio = rate_ratio(first.episodes, first.device_days, second.episodes, second.device_days)
    interval = rate_ratio_interval(first.episodes, first.device_days, second.episodes, second.device_days, confidence)
    assert interval is not None  # at least one episode
    bounds = f"{confidence:.0%} CI {_times(interval.low)} to {_times(interval.high)}"
    verdict: Literal["worse", "better", "no difference detected"]
    if interval.low > 1:
        verdict, summary = "worse", f"{a} is worse than {b}: {_times(ratio)} the incidence ({bounds})"
    elif interval.high < 1:
        verdict, summary = "better", f"{a} is better than {b}: {_times(ratio)} the incidence ({bounds})"
    else:
        verdict = "no difference detected"
        summary = f"no difference detected between {a} and {b}: {_times(ratio)} the incidence ({bounds})"
    return Comparison(
        a=a, b=b, ratio=ratio, low=interval.low, high=interval.high, confidence=confidence, verdict=verdict,
        summary=summary,
    )  # fmt: skip


def _find(rows: Sequence[ReleaseRow], name: str) -> ReleaseRow:
    for level in ("version", "build"):
        for row in rows:
            if row.level == level and row.name == name:
                return row
    raise KeyError(name)


def _times(value: float) -> str:
    return "unbounded" if math.isinf(value) else f"{value:.2f}x"


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """``15.10`` after ``15.2``, ``other`` and ``unknown`` last: numbers compare as numbers."""
    return tuple((0, int(token)) if token.isdigit() else (1, token) for token in _TOKEN.findall(name))


def releases_report(
    window: Window,
    versions: Sequence[GroupFigures],
    builds: Sequence[GroupFigures] | None,
    *,
    confidence: float,
    versions_source: str,
    builds_source: str | None,
    pair: tuple[str, str] | None = None,
) -> ReleasesReport:
    """The report over ``window``; ``builds`` None when no device facts were read; raises KeyError for ``pair``."""
    version_rows, versions_level = release_rows(versions, "version", confidence)
    build_rows, builds_level = release_rows(builds, "build", confidence) if builds is not None else ([], None)
    return ReleasesReport(
        start_ms=window.start_ms,
        end_ms=window.end_ms,
        confidence=confidence,
        versions_source=versions_source,
        builds_source=builds_source,
        versions_flag_confidence=versions_level,
        builds_flag_confidence=builds_level,
        fleet=fleet_row(versions, confidence),
        versions=version_rows,
        builds=build_rows,
        comparison=compare([*version_rows, *build_rows], *pair, confidence) if pair else None,
    )


def document(report: ReleasesReport) -> render.Document:
    """The report laid out for people (see :mod:`netdown.report.render`)."""
    level = render.confidence(report.confidence)
    fleet = report.fleet
    builds_source = report.builds_source or "nowhere (no device facts)"
    sources = (
        f"releases and builds from {report.versions_source}"
        if builds_source == report.versions_source
        else f"releases from {report.versions_source}; builds from {builds_source}"
    )
    header = [
        f"window: {Window(report.start_ms, report.end_ms).describe()}",
        sources,
        f"fleet: {render.count(fleet.devices)} devices, {render.number(fleet.device_days)} device-days, "
        f"{fleet.episodes:,} episodes; {render.number(fleet.incidence)} per 1,000 device-days, "
        f"{level} CI {render.interval(fleet.incidence_low, fleet.incidence_high)}",
    ]
    if report.comparison is not None:
        header.append(f"compare: {report.comparison.summary}")
    flagged = [row.name for row in [*report.versions, *report.builds] if row.flagged]
    header.append(f"flagged: {', '.join(flagged) if flagged else 'none'}")
    figures = [
        render.Column("devices", lambda r: render.count(r["devices"])),
        render.Column("device-days", lambda r: render.number(r["device_days"])),
        render.Column("episodes", lambda r: f"{r['episodes']:,}"),
        render.Column("per 1k dev-days", lambda r: render.number(r["incidence"])),
        render.Column(f"{level} CI", lambda r: render.interval(r["incidence_low"], r["incidence_high"])),
        render.Column("x rest", lambda r: render.times(r["ratio_to_rest"])),
        render.Column(f"{level} CI", lambda r: render.interval(r["ratio_low"], r["ratio_high"])),
        render.Column("flag", lambda r: "WORSE" if r["flagged"] else "", left=True),
        render.Column("stuck", lambda r: render.percent(r["stuck_share"])),
        render.Column("p50", lambda r: render.duration(r["duration_p50_s"])),
        render.Column("p90", lambda r: render.duration(r["duration_p90_s"])),
    ]
    name = render.Column("release", lambda r: str(r["name"]), left=True)
    build = render.Column("build", lambda r: str(r["name"]), left=True)
    release_of_build = render.Column("release", lambda r: str(r["version"]) or render.NONE, left=True)
    sections = [
        render.Section("version", "By release (os_version)", [name, *figures], render.records(report.versions)),
        render.Section(
            "build",
            "By build (os_build)",
            [build, release_of_build, *figures],
            render.records(report.builds),
            empty="(no device facts read)" if report.builds_source is None else "(no device seen in the window)",
        ),
    ]
    per_level = f"{render.confidence(report.versions_flag_confidence)} per release"
    if report.builds_flag_confidence is not None:
        per_level += f", {render.confidence(report.builds_flag_confidence)} per build"
    notes = [
        f"per 1k dev-days: episodes per 1,000 device-days, with its exact (Garwood) {level} interval "
        "for a Poisson count.",
        "x rest: that incidence over the incidence of all the other rows pooled, with its exact conditional interval.",
        f"WORSE: x rest above 1 at the family-wise level, {per_level} (Bonferroni: {level} for all rows of a "
        "table at once).",
        "stuck: share of active device-time spent in an episode open longer than T; p50/p90: durations of closed "
        "episodes. See docs/reports.md.",
    ]
    return render.Document("netdown releases report", header, sections, notes, report)
