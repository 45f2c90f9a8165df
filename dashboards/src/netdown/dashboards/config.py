"""The one commented configuration of netdown's monitoring: selectors, windows and alert thresholds.

Everything the generated rules (:mod:`netdown.dashboards.rules`) and the Grafana alerting provisioning
(:mod:`netdown.dashboards.grafana_alerting`) need to know about the fleet lives here, so tuning an
alert is a one-line change followed by ``python -m netdown.dashboards.rules``. Other modules may read
these values; only this file sets them. Why each default is what it is (in on-call terms) is written
next to it and, at more length, in ``docs/runbook.md``.

Timing budget on-call relies on: page alerts (spike, stuck, stalled) fire within 20 minutes of the
onset, the release regression ticket within 4 hours, the loss and rejected-events tickets within 2
hours, the blind-agents ticket within 1 hour. Each section below says how its window and ``for``
add up to stay inside that budget.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "CONFIG",
    "GRAFANA_DATASOURCE_UID",
    "JOB",
    "AgentsBlind",
    "Config",
    "DevicesStuck",
    "EpisodeSpike",
    "EventLoss",
    "PipelineStalled",
    "RejectedEvents",
    "ReleaseRegression",
    "scaled",
]

# Prometheus scrapes every stream worker under this job; rules sum over its instances and partitions.
JOB: Final = "netdown-stream"
# The uid of the Prometheus datasource Grafana provisions (dashboards/grafana/provisioning/datasources).
GRAFANA_DATASOURCE_UID: Final = "netdown-prometheus"

_MINUTE: Final = timedelta(minutes=1)
_HOUR: Final = timedelta(hours=1)


@dataclass(frozen=True)
class EpisodeSpike:
    """NetdownEpisodeSpike (page): the fleet's episode rate is several times its own recent baseline."""

    # "Several times": 3x. The baseline below is a maximum over days, so a steady fleet sits well
    # under it; 3x of that leaves room for Poisson noise and still catches a 5x spike quickly.
    factor: float = 3.0
    # The current rate is measured over this window. A 5x step crosses 3x of the baseline once a bit
    # over half the window holds the spike (~9 min); with `for` it pages at ~11-16 min (budget: 20).
    window: timedelta = 15 * _MINUTE
    for_: timedelta = 3 * _MINUTE
    # Volume guard: fewer episodes than this in the window never page, whatever the ratio. A small
    # fleet at night (a baseline near zero) with a handful of episodes stays quiet. Poisson noise is
    # what sets it: the worst case is a fleet expecting ~7 per window (where 3x and 20 meet), which
    # reaches 20 once in ~40,000 windows (< 1 a year); with 15 it would be once in ~4,400.
    min_episodes: int = 20
    # Baseline, part 1: the rate over the `history_span` centred on this time of day, on each of the
    # last `history_days` days, taking the highest day, so neither the daily cycle nor a quiet
    # weekend day looks like a spike. 6 days keep every read within a week of history.
    history_days: int = 6
    history_span: timedelta = 3 * _HOUR
    # Baseline, part 2, only while there is less than a day of history (a new deployment): the
    # highest rate over `recent_rate_window` (hourly) within the `recent_span` that ended
    # `recent_offset` ago (the spike itself enters it only after that); the highest, because one
    # noisy hour must not lower the bar.
    recent_rate_window: timedelta = _HOUR
    recent_span: timedelta = 2 * _HOUR
    recent_offset: timedelta = 30 * _MINUTE


@dataclass(frozen=True)
class ReleaseRegression:
    """NetdownReleaseRegression (ticket): one os_version's episodes per active device vs the rest of the fleet."""

    # At 3x the rest of the fleet or more; a release merely 1.5x worse is within what device mix explains.
    factor: float = 3.0
    # Both rates are taken over this window; a 3x+ step crosses the factor within the window, and
    # with `for` the ticket is raised within ~3.5 h of the onset (budget: 4 h).
    window: timedelta = 3 * _HOUR
    for_: timedelta = 30 * _MINUTE
    # Volume guards on the version: a release on a handful of devices, or with a handful of
    # episodes, is noise whatever its ratio.
    min_active_devices: int = 200
    min_episodes: int = 10
    # The rest of the fleet counts as having seen at least this many episodes in the window, so that
    # a small rest of the fleet with no episode (by chance) does not make every version with 10
    # look infinitely worse. Once the rest sees more, the comparison is exact.
    rest_min_episodes: float = 2.0


@dataclass(frozen=True)
class DevicesStuck:
    """NetdownDevicesStuck (page): devices stuck (episode open longer than T) exceed a share of the active fleet."""

    # At 1% of active devices or more: far above the background of a few long episodes, low enough
    # to page before a bad release or policy push strands a large part of the fleet.
    min_share: float = 0.01
    # ... and at least 20 devices, so 1 stuck Mac in a 50-device pilot does not page anyone.
    min_devices: int = 20
    # A device is stuck T = 5 min after its episode opened; 10 min of `for` pages at ~15 min.
    for_: timedelta = 10 * _MINUTE


@dataclass(frozen=True)
class PipelineStalled:
    """NetdownPipelineStalled (page): no events processed while devices were active, lag growing, or no worker up."""

    # Counters flat over this window while devices were active means the consumer stopped; with
    # `for` it pages at ~15 min. Devices send a heartbeat at least every 5 min, so a live fleet
    # never has a quiet 10 min.
    idle_window: timedelta = 10 * _MINUTE
    # "Devices were active" looks back this far (at the gauge, and at events still flowing then):
    # netdown_devices_active itself decays to 0 within S (15 min) once nothing is processed, so its
    # current value cannot tell. A stall longer than this still pages through the lag or `up`.
    active_lookback: timedelta = _HOUR
    # "Keeps growing": the consumer lag (summed over partitions) grew over each of the last two
    # steps of this length, so a burst of input that the consumer is already draining does not count ...
    lag_step: timedelta = 5 * _MINUTE
    # ... and it is more than this many seconds of the workers' throughput (over `idle_window`)
    # behind: a healthy consumer commits every few seconds, so it never holds a minute of input.
    lag_seconds: int = 60
    for_: timedelta = 5 * _MINUTE


@dataclass(frozen=True)
class EventLoss:
    """NetdownEventLoss (ticket): lost events (sequence gaps, or the agents' own count) exceed a share of the events."""

    # 1% of events: agents spool to disk, so steady loss above that is a bug or a full spool.
    max_share: float = 0.01
    # A 1 h window and 30 min of `for` ticket within ~1.5 h of the onset (budget: 2 h).
    window: timedelta = _HOUR
    for_: timedelta = 30 * _MINUTE
    # Volume guard: a tiny fleet losing a few events in an hour is not a trend.
    min_lost: int = 10


@dataclass(frozen=True)
class RejectedEvents:
    """NetdownRejectedEvents (ticket): the rejected (DLQ) share of the input is abnormally high."""

    # 5% of input (rejected plus valid messages): a healthy fleet rejects next to nothing; an agent
    # release writing a bad field, or a foreign producer on the topic, shows up as a share.
    max_share: float = 0.05
    window: timedelta = _HOUR
    for_: timedelta = 30 * _MINUTE
    min_rejected: int = 10


@dataclass(frozen=True)
class AgentsBlind:
    """NetdownAgentsBlind (ticket): a share of the devices that report source health cannot see a role they need.

    A device with no running system-path source (or app-view source) can never have an episode detected:
    the alert is about the detector's coverage, not the users', so it tickets rather than pages.
    """

    # 5% of the devices reporting source health, per role: a healthy fleet has next to none (one Mac with
    # a broken agent is a helpdesk matter), while what blinds agents in bulk (an OS update removing a
    # command, an MDM profile revoking Full Disk Access from `log stream`, a bad agent config pushed)
    # takes out a release or a rollout ring, a share far above this.
    min_share: float = 0.05
    # ... and at least 10 blind devices, so two blind Macs of three in a pilot do not ticket anyone.
    min_devices: int = 10
    # Agents report their sources in every heartbeat (at most 5 minutes apart): 30 minutes is six
    # heartbeats, so a source that dies and comes back on its own (a restart, a reboot, a wake) is
    # over before it tickets, and a lasting one tickets within ~35 min of the onset (budget: 1 h).
    for_: timedelta = 30 * _MINUTE


@dataclass(frozen=True)
class Config:
    """Selectors, runbook location and one section per alert."""

    # Every selector of a worker metric carries this matcher (any number of instances).
    selector: str = f'job="{JOB}"'
    # runbook_url of each alert is this document plus `#<alert name in lower case>` (its heading).
    runbook_url: str = "https://github.com/netdown/netdown/blob/main/docs/runbook.md"
    # Fleet-level recording rules also keep a 5-minute rate for dashboards.
    dashboard_rate_window: timedelta = 5 * _MINUTE
    spike: EpisodeSpike = field(default_factory=EpisodeSpike)
    regression: ReleaseRegression = field(default_factory=ReleaseRegression)
    stuck: DevicesStuck = field(default_factory=DevicesStuck)
    stalled: PipelineStalled = field(default_factory=PipelineStalled)
    loss: EventLoss = field(default_factory=EventLoss)
    rejected: RejectedEvents = field(default_factory=RejectedEvents)
    blind: AgentsBlind = field(default_factory=AgentsBlind)


CONFIG: Final = Config()


_Section = TypeVar("_Section", bound="DataclassInstance")


def scaled(section: _Section, divisor: float) -> _Section:
    """``section`` (the whole :class:`Config` or one alert's) with every duration ``divisor`` times shorter.

    The end-to-end test and the demo run the shipped rules in minutes instead of hours: the same
    expressions and thresholds, only the clock faster. Each duration is rounded to a whole second, at
    least one, since Prometheus durations are whole seconds; volume guards (counts) are left alone.
    """
    changes: dict[str, object] = {}
    for item in dataclasses.fields(section):
        value = getattr(section, item.name)
        if isinstance(value, timedelta):
            changes[item.name] = timedelta(seconds=max(1, round(value.total_seconds() / divisor)))
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes[item.name] = scaled(value, divisor)
    return dataclasses.replace(section, **changes)
