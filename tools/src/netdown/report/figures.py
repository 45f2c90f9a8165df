"""What each release or build counted in a window, from Prometheus or from device facts and incidents.

Both sources give the same :class:`GroupFigures`, so the statistics never care where a count came from;
they differ in what they can see, and the docs (docs/reports.md) say so:

* **Prometheus** (per ``os_version`` label, normalised ``major.minor``): device-days are the integral
  of ``netdown_devices_active`` over the window (a device is active while its last event is within
  the stale threshold S), so "devices" is the *average* number active; episodes are
  ``increase(netdown_episodes_total[range])``, rounded (``increase`` extrapolates to the window's
  edges); the stuck share is stuck device-time over active device-time; durations come from the
  histogram (``histogram_quantile``, interpolated within buckets), closed episodes only.
* **Device facts and incidents** (per ``os_build``, or per normalised ``os_version`` when there is
  no Prometheus): a device counts when ``[first_seen, last_seen]`` meets the window, and contributes
  the overlap as device-time; episodes are incidents opened in the window, each assigned to the
  build it was opened on; the stuck share is the time stuck episodes spent past the stuck
  threshold T, over device-time; durations are exact quantiles of the episodes closed.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

import msgspec

from netdown.detection.device_facts import DeviceFacts
from netdown.detection.incident import Incident
from netdown.report.sources import PrometheusAPI
from netdown.report.window import DAY_MS, Window, format_duration
from netdown.stream.labels import normalise_os_version

__all__ = [
    "UNKNOWN_BUILD",
    "GroupFigures",
    "Level",
    "figures_from_prometheus",
    "figures_from_records",
]

Level = Literal["version", "build"]
UNKNOWN_BUILD: Final = "unknown"
# The gauges are sampled at about this many points over the window (never more often than every second).
_GAUGE_POINTS: Final = 2000


class GroupFigures(msgspec.Struct, frozen=True, kw_only=True):
    """What one release or build counted in the window (the inputs of every interval)."""

    name: str
    version: str  # the release itself, or the release a build belongs to
    devices: float  # average active (Prometheus) or seen in the window (device facts)
    device_days: float
    episodes: int
    stuck_share: float | None = None
    duration_p50_s: float | None = None
    duration_p90_s: float | None = None


# --- Prometheus -----------------------------------------------------------------------------------------


def figures_from_prometheus(api: PrometheusAPI, window: Window, selector: str) -> list[GroupFigures]:
    """Per-``os_version`` figures over ``window`` from the stream workers' metrics (``selector`` picks them)."""
    at, length = window.end_ms, format_duration(window.length_ms)
    step_s = max(1, round(window.length_ms / 1000 / _GAUGE_POINTS))

    def device_seconds(metric: str) -> dict[str, float]:
        """The gauge integrated over the window: device-seconds (a missing sample counts as 0)."""
        expr = f"sum_over_time((sum by (os_version) ({metric}{{{selector}}}))[{length}:{step_s}s])"
        return {name: value * step_s for name, value in api.by_label(expr, at, "os_version").items()}

    def duration_quantile(q: float) -> dict[str, float]:
        bucket = f"increase(netdown_episode_duration_seconds_bucket{{{selector}}}[{length}])"
        return api.by_label(f"histogram_quantile({q}, sum by (os_version, le) ({bucket}))", at, "os_version")

    active = device_seconds("netdown_devices_active")
    stuck = device_seconds("netdown_devices_stuck")
    episodes = api.by_label(
        f"sum by (os_version) (increase(netdown_episodes_total{{{selector}}}[{length}]))", at, "os_version"
    )
    p50, p90 = duration_quantile(0.5), duration_quantile(0.9)
    figures = []
    for name in sorted(active.keys() | episodes.keys()):
        seconds = active.get(name, 0.0)
        figures.append(
            GroupFigures(
                name=name,
                version=name,
                devices=seconds * 1000 / window.length_ms,
                device_days=seconds / 86_400,
                episodes=round(episodes.get(name, 0.0)),
                stuck_share=stuck.get(name, 0.0) / seconds if seconds > 0 else None,
                duration_p50_s=p50.get(name),
                duration_p90_s=p90.get(name),
            )
        )
    return figures


# --- device facts and incidents --------------------------------------------------------------------------


@dataclass
class _Tally:
    devices: int = 0
    exposure_ms: int = 0
    episodes: int = 0
    stuck_ms: int = 0
    durations_s: list[float] = field(default_factory=list)
    versions: Counter[str] = field(default_factory=Counter)


def _group(level: Level, platform: str, os_version: str, os_build: str) -> str:
    """The group a device or an episode falls in: its build, or its normalised release (the metric label)."""
    if level == "build":
        return os_build or UNKNOWN_BUILD
    return normalise_os_version(platform, os_version)


def figures_from_records(
    devices: Iterable[DeviceFacts], incidents: Iterable[Incident], window: Window, level: Level, stuck_after_ms: int
) -> list[GroupFigures]:
    """Per-build (or per-release) figures over ``window`` from device records and episodes.

    ``stuck_after_ms`` is the detector's stuck threshold T: a stuck episode counts as stuck from
    ``opened + T`` until it closed (or the window's end, if it is still open).
    """
    tallies: dict[str, _Tally] = {}
    for device in devices:
        if window.touches(device.first_seen_ms, device.last_seen_ms):
            tally = tallies.setdefault(_group(level, device.platform, device.os_version, device.os_build), _Tally())
            tally.devices += 1
            tally.exposure_ms += window.overlap_ms(device.first_seen_ms, device.last_seen_ms)
            tally.versions[device.os_version] += 1
    for incident in incidents:
        if not window.holds(incident.opened_ms):
            continue
        tally = tallies.setdefault(_group(level, incident.platform, incident.os_version, incident.os_build), _Tally())
        tally.episodes += 1
        tally.versions[incident.os_version] += 1
        if incident.closed_ms is not None:
            tally.durations_s.append((incident.closed_ms - incident.opened_ms) / 1000)
        if incident.stuck:
            end = incident.closed_ms if incident.closed_ms is not None else window.end_ms
            tally.stuck_ms += window.overlap_ms(incident.opened_ms + stuck_after_ms, end)
    return [_figures(name, tally, level) for name, tally in sorted(tallies.items())]


def _figures(name: str, tally: _Tally, level: Level) -> GroupFigures:
    p50, p90 = _quantiles(tally.durations_s)
    return GroupFigures(
        name=name,
        version=name if level == "version" else _most_common(tally.versions),
        devices=tally.devices,
        device_days=tally.exposure_ms / DAY_MS,
        episodes=tally.episodes,
        stuck_share=tally.stuck_ms / tally.exposure_ms if tally.exposure_ms else None,
        duration_p50_s=p50,
        duration_p90_s=p90,
    )


def _most_common(versions: Counter[str]) -> str:
    """The release most of a build's devices and episodes report (ties: the highest), or empty if none."""
    if not versions:
        return ""
    return max(versions.items(), key=lambda item: (item[1], item[0]))[0]


def _quantiles(values: list[float]) -> tuple[float | None, float | None]:
    """The median and 90th percentile (linear interpolation between order statistics)."""
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return deciles[4], deciles[8]
