"""netdown's three Grafana dashboards: fleet overview, release comparison, pipeline health.

Every query reads the workers' raw metrics (``stream/src/netdown/stream/metrics.py``), never a recording rule, so a
dashboard works against any Prometheus that scrapes the workers. Two rules hold for every query (and
``netdown-dashboards lint`` checks them): it selects ``job="netdown-stream"``, and it sums over
``instance`` and ``partition`` before anything reaches a panel. A partition moves between workers and
keeps its cumulative series, so only the sum over both is the fleet; one worker's share is meaningless.

Windows: rates use Grafana's ``$__rate_interval``; "top N in the time range" panels are instant
queries over ``$__range``; per-day figures (episodes per 1,000 active devices per day, duration
quantiles) use a trailing day, ``[1d]``, because per-release counts are too sparse for shorter windows.

``python -m netdown.dashboards.dashboards`` prints every query with the variables substituted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from netdown.dashboards.config import JOB
from netdown.dashboards.grafana_model import (
    Dashboard,
    Panel,
    QueryVariable,
    Target,
    bargauge,
    dumps,
    render,
    stat,
    timeseries,
)
from netdown.dashboards.promql_scan import VARIABLE

__all__ = [
    "DASHBOARDS",
    "DAY",
    "DAY_SUBQUERY",
    "JOB_SELECTOR",
    "OUTPUT_DIR",
    "PLAIN_VALUES",
    "RANGE_WINDOW",
    "RATE_WINDOW",
    "all_queries",
    "plain_query",
    "rendered",
]

# Relative to the repository root, where `make docs` and `make lint` run the generators: the generated files are
# artefacts of the checkout (committed, provisioned from there), not data of the installed package.
OUTPUT_DIR: Final = Path("dashboards/grafana/dashboards")
# The scrape job of the stream workers, from the monitoring's one configuration (shared with the rules).
JOB_SELECTOR: Final = f'job="{JOB}"'
RATE_WINDOW: Final = "$__rate_interval"
RANGE_WINDOW: Final = "$__range"
DAY: Final = "1d"
# Active devices averaged over the same day as the episodes they divide: a 5-minute subquery step is
# fine-grained against the 15-minute staleness that defines "active" and cheap over a day.
DAY_SUBQUERY: Final = "1d:5m"
# The smallest step of a per-day panel: a trailing-day figure barely moves in an hour, and each step
# evaluates the day's subquery again, so minute steps would cost without showing anything more.
DAILY_STEP: Final = "1h"
OS_FILTER: Final = 'os_version=~"$os_version"'
TOP_N: Final = 10
# A custom Grafana unit: the multiplication sign after the value ("3.1" times the fleet's rate).
RATIO_UNIT: Final = "suffix:\N{MULTIPLICATION SIGN}"

# What a plain Prometheus query gets in place of each Grafana variable (see all_queries).
PLAIN_VALUES: Final[Mapping[str, str]] = {"__rate_interval": "1m", "__range": "1h", "os_version": ".*"}

OS_VERSION: Final = QueryVariable("os_version", "OS version", f"netdown_devices_active{{{JOB_SELECTOR}}}", "os_version")


def metric(name: str, *matchers: str) -> str:
    """A selector of the workers' job: ``name{job="netdown-stream", matchers...}``."""
    return f"{name}{{{', '.join((JOB_SELECTOR, *matchers))}}}"


def total(expr: str, *by: str) -> str:
    """``expr`` summed over workers and partitions: the fleet's figure, or one per value of the ``by`` labels."""
    return f"sum by ({', '.join(by)}) ({expr})" if by else f"sum({expr})"


def rate(selector: str) -> str:
    """Per-second rate over Grafana's rate interval."""
    return f"rate({selector}[{RATE_WINDOW}])"


def increase(selector: str, window: str) -> str:
    """Increase over an explicit window (a trailing day, or the dashboard's range)."""
    return f"increase({selector}[{window}])"


def quantile(q: float, histogram: str, window: str = RATE_WINDOW, *by: str) -> str:
    """The ``q`` quantile of a histogram over the fleet (buckets summed by ``le`` and ``by``)."""
    labels = ", ".join(("le", *by))
    return f"histogram_quantile({q}, sum by ({labels}) (increase({metric(histogram + '_bucket')}[{window}])))"


def top(expr: str) -> str:
    """The ``TOP_N`` largest nonzero series, largest first."""
    return f"sort_desc(topk({TOP_N}, {expr} > 0))"


def per_hour(expr: str) -> str:
    """A per-second rate as a per-hour one."""
    return f"3600 * {expr}"


# --- Fleet overview ----------------------------------------------------------------------------------------------

EPISODES: Final = metric("netdown_episodes_total", OS_FILTER)
_DEVICES_AFFECTED: Final = metric("netdown_devices_affected", OS_FILTER)
_DEVICES_STUCK: Final = metric("netdown_devices_stuck", OS_FILTER)
_DEVICES_ACTIVE: Final = metric("netdown_devices_active", OS_FILTER)


def _top_by_episodes(label: str, what: str) -> Panel:
    return bargauge(
        f"Top {what} by episodes (time range)",
        "short",
        f"Episodes opened in the dashboard's time range by {label}, the {TOP_N} largest.",
        Target(top(total(increase(EPISODES, RANGE_WINDOW), label)), f"{{{{{label}}}}}", instant=True),
    )


FLEET: Final = Dashboard(
    uid="netdown-fleet",
    title="netdown / Fleet overview",
    description="ENETDOWN with a healthy interface across the fleet: who is affected now, how often, and where.",
    variables=(OS_VERSION,),
    panels=(
        stat(
            "Devices affected now",
            "short",
            "Devices with an open episode: the app gets ENETDOWN (or an NECP policy denial) while the system path is "
            "healthy.",
            Target(total(_DEVICES_AFFECTED), "affected"),
            thresholds=((None, "green"), (1, "orange")),
        ),
        stat(
            "Devices stuck now",
            "short",
            "Devices whose episode has been open longer than the stuck threshold T (default 300 s): restarting the "
            "extension does not help, a reboot does.",
            Target(total(_DEVICES_STUCK), "stuck"),
            thresholds=((None, "green"), (1, "red")),
        ),
        stat(
            "Active devices",
            "short",
            "Devices that sent an event within the stale threshold S (default 900 s): the denominator of every "
            "per-device rate.",
            Target(total(_DEVICES_ACTIVE), "active"),
        ),
        stat(
            "Episodes per hour",
            "count:/h",
            "Episodes opened per hour across the fleet, at the current rate.",
            Target(per_hour(total(rate(EPISODES))), "episodes"),
            decimals=1,
        ),
        timeseries(
            "Episodes per hour by OS version",
            "count:/h",
            "Episodes opened per hour, stacked by normalised OS release (major.minor; unknown releases are 'other').",
            Target(per_hour(total(rate(EPISODES), "os_version")), "{{os_version}}"),
            stacked=True,
        ),
        timeseries(
            "Devices affected and stuck",
            "short",
            "Devices with an open episode, and those of them open longer than the stuck threshold T.",
            Target(total(_DEVICES_AFFECTED), "affected"),
            Target(total(_DEVICES_STUCK), "stuck"),
        ),
        timeseries(
            "Failure signals per hour by class",
            "count:/h",
            "Every app-side failure signal, classified: episode (system healthy), outage (system path unsatisfied "
            "too), transient (within the settle grace G of a system path change), insufficient_evidence (no system "
            "evidence within W).",
            Target(
                per_hour(total(rate(metric("netdown_failure_signals_total", OS_FILTER)), "class")),
                "{{class}}",
            ),
        ),
        timeseries(
            "Devices affected by OS version",
            "short",
            "Devices with an open episode, stacked by normalised OS release.",
            Target(total(_DEVICES_AFFECTED, "os_version"), "{{os_version}}"),
            stacked=True,
        ),
        timeseries(
            "Blind agents",
            "short",
            "Active devices whose agents report no running source of a role detection needs: blind on system_path "
            "(the system's view) or app_view (the app's view), so no episode of theirs can be detected. And the "
            "sources reported not running, by source and OS release (names the agent does not ship are 'other'). "
            "Agents older than 0.2 do not report their sources and are in neither; the devices topic names the "
            "Macs (runbook: NetdownAgentsBlind).",
            Target(total(metric("netdown_devices_blind", OS_FILTER), "role"), "blind on {{role}}"),
            Target(
                total(metric("netdown_agent_sources_failing", OS_FILTER), "source", "os_version"),
                "{{source}} failing on {{os_version}}",
            ),
        ),
        _top_by_episodes("os_version", "OS versions"),
        _top_by_episodes("app", "apps"),
    ),
)

# --- Release comparison ------------------------------------------------------------------------------------------


def _episodes_per_device_day(*, os_filter: tuple[str, ...], by: tuple[str, ...]) -> str:
    """Episodes in the trailing day divided by the day's average active devices (dropped where that is 0)."""
    episodes = total(increase(metric("netdown_episodes_total", *os_filter), DAY), *by)
    active = f"avg_over_time(({total(metric('netdown_devices_active', *os_filter), *by)})[{DAY_SUBQUERY}])"
    matching = f" on ({', '.join(by)})" if by else ""
    return f"{episodes} /{matching} ({active} > 0)"


PER_VERSION_RATE: Final = _episodes_per_device_day(os_filter=(OS_FILTER,), by=("os_version",))
# The whole fleet, whatever $os_version selects: the yardstick each release is compared with.
FLEET_RATE: Final = _episodes_per_device_day(os_filter=(), by=())
RATIO_TO_FLEET: Final = f"({PER_VERSION_RATE}) / scalar({FLEET_RATE})"

RELEASES: Final = Dashboard(
    uid="netdown-releases",
    title="netdown / Release comparison",
    description="Is one OS release worse than the rest? Episodes per active device per day, by normalised release.",
    variables=(OS_VERSION,),
    time_from="now-7d",
    panels=(
        bargauge(
            "Ratio to the fleet now (trailing day)",
            RATIO_UNIT,
            "Each release's episodes per active device over the trailing day, divided by the whole fleet's: 3 means "
            "three times as many episodes per device as the fleet. Read it with the active devices beside it: a "
            "release on a handful of Macs swings widely.",
            Target(f"sort_desc({RATIO_TO_FLEET})", "{{os_version}}", instant=True),
        ),
        timeseries(
            "Episodes per 1,000 active devices per day",
            "short",
            "Episodes opened in the trailing day per 1,000 devices active on average over that day, by release, and "
            "for the whole fleet.",
            Target(f"1000 * ({PER_VERSION_RATE})", "{{os_version}}"),
            Target(f"1000 * ({FLEET_RATE})", "fleet"),
            min_interval=DAILY_STEP,
        ),
        timeseries(
            "Ratio to the fleet by OS version",
            RATIO_UNIT,
            "Each release's episodes per active device per day divided by the whole fleet's, over time (1 = like the "
            "fleet).",
            Target(RATIO_TO_FLEET, "{{os_version}}"),
            min_interval=DAILY_STEP,
        ),
        timeseries(
            "Active devices by OS version",
            "short",
            "Devices that sent an event within the stale threshold S, by release: the denominator of the ratios.",
            Target(total(_DEVICES_ACTIVE, "os_version"), "{{os_version}}"),
            stacked=True,
        ),
        timeseries(
            "Episodes per day by OS version",
            "short",
            "Episodes opened in the trailing day, by release: how many episodes each ratio rests on.",
            Target(total(increase(EPISODES, DAY), "os_version"), "{{os_version}}"),
            min_interval=DAILY_STEP,
        ),
        timeseries(
            "Episode duration quantiles by OS version (trailing day)",
            "s",
            "How long episodes closed in the trailing day lasted (until recovery or reboot), p50 and p90 per "
            "release: a release whose episodes last until reboot shows a p90 of hours.",
            *(
                Target(
                    quantile(q, "netdown_episode_duration_seconds", DAY, "os_version"),
                    f"p{round(q * 100)} {{{{os_version}}}}",
                )
                for q in (0.5, 0.9)
            ),
            min_interval=DAILY_STEP,
        ),
    ),
)

# --- Pipeline health ---------------------------------------------------------------------------------------------

_EVENTS: Final = metric("netdown_events_total")
_REJECTED: Final = metric("netdown_events_rejected_total")
_LOST: Final = metric("netdown_events_lost_total")
_AGENT_LOST: Final = metric("netdown_agent_events_lost_total")
_WORKERS_UP: Final = total(metric("up"))


def _share(part: str) -> str:
    """``part``'s share of everything the workers took in: processed events plus ``part``."""
    return f"{total(rate(part))} / ({total(rate(_EVENTS))} + {total(rate(part))})"


PIPELINE: Final = Dashboard(
    uid="netdown-pipeline",
    title="netdown / Pipeline health",
    description="Agent events through Kafka to the Faust workers: throughput, lag, rejected and lost events, workers.",
    time_from="now-6h",
    panels=(
        stat(
            "Workers up",
            "none",
            "Stream workers Prometheus scraped successfully (up == 1).",
            Target(_WORKERS_UP, "up"),
            thresholds=((None, "red"), (1, "green")),
        ),
        stat(
            "Events per second",
            "cps",
            "Valid events the workers processed per second, all types.",
            Target(total(rate(_EVENTS)), "events"),
        ),
        stat(
            "Consumer lag",
            "short",
            "Messages of the events topic not yet processed and committed, over all partitions.",
            Target(total(metric("netdown_consumer_lag")), "lag"),
        ),
        stat(
            "Event lag p99",
            "s",
            "Arrival at the worker minus event time, 99th percentile: seconds for live agents, hours while spools "
            "replay.",
            Target(quantile(0.99, "netdown_event_lag_seconds"), "p99"),
        ),
        timeseries(
            "Events per second by type",
            "cps",
            "Valid events processed per second by wire type (path, conn, probe, heartbeat).",
            Target(total(rate(_EVENTS), "type"), "{{type}}"),
            stacked=True,
        ),
        timeseries(
            "Consumer lag by topic",
            "short",
            "Messages between the end of each topic and the workers' committed offsets, summed over partitions. "
            "Steady growth means the workers fall behind.",
            Target(total(metric("netdown_consumer_lag"), "topic"), "{{topic}}"),
        ),
        timeseries(
            "Rejected events per second by reason",
            "cps",
            "Messages refused and sent to the dead-letter topic, by reason (malformed JSON, unknown version, ...).",
            Target(total(rate(_REJECTED), "reason"), "{{reason}}"),
        ),
        timeseries(
            "Lost and dropped events per second",
            "cps",
            "Lost: gaps in a device's sequence numbers (events that never arrived), and what the agents report "
            "their spools lost on the device, by cause (bound: dropped by the spool's size bound; corrupt: damaged "
            "on disk; write_failed: refused by a full or failing disk). Dropped: valid events that changed nothing, "
            "a repeated event_id (duplicate) or too late to matter (late).",
            Target(total(rate(_LOST)), "lost (sequence gaps)"),
            Target(total(rate(_AGENT_LOST), "cause"), "lost on the devices ({{cause}})"),
            Target(total(rate(metric("netdown_events_dropped_total")), "reason"), "dropped ({{reason}})"),
        ),
        timeseries(
            "Untrusted input and output failures per second",
            "cps",
            "Sequence restarts: seq jumps too large to be loss, read as a device's new numbering (a reinstalled or "
            "broken agent). Evicted: device records forgotten after the retention without events (their counts are "
            "kept). Output errors: records the workers could not write (incidents, device facts, dead letters, "
            "their own changelog); any is a problem to look at.",
            Target(total(rate(metric("netdown_seq_restarts_total"))), "sequence restarts"),
            Target(total(rate(metric("netdown_devices_evicted_total"))), "devices evicted"),
            Target(total(rate(metric("netdown_output_errors_total")), "output"), "output errors ({{output}})"),
        ),
        timeseries(
            "Rejected and lost share",
            "percentunit",
            "Rejected messages and lost events as a share of all that came in (processed events plus them).",
            Target(_share(_REJECTED), "rejected"),
            Target(_share(_LOST), "lost"),
        ),
        timeseries(
            "Event lag (arrival - event time)",
            "s",
            "How late events reach the workers, by their own timestamps. Agents spool while the broker is "
            "unreachable and replay later, which shows here as hours.",
            *(Target(quantile(q, "netdown_event_lag_seconds"), f"p{round(q * 100)}") for q in (0.5, 0.9, 0.99)),
        ),
        timeseries(
            "Workers",
            "none",
            "Stream workers up, and scrape targets of the workers' job (a difference means a worker is down).",
            Target(_WORKERS_UP, "up"),
            Target(f"count({metric('up')})", "scraped"),
        ),
        timeseries(
            "Processing latency p99",
            "s",
            "Time the workers take to handle one batch of events (decode, detect, publish, store) and to "
            "commit offsets (Faust's sensor), 99th percentile.",
            Target(quantile(0.99, "netdown_batch_duration_seconds"), "batch"),
            Target(f"{quantile(0.99, 'faust_consumer_commit_latency')} / 1000", "offset commit"),
        ),
    ),
)

DASHBOARDS: Final[tuple[Dashboard, ...]] = (FLEET, RELEASES, PIPELINE)


def rendered() -> dict[str, str]:
    """Each dashboard's JSON text by file name (``<uid>.json``): what ``generate`` writes and ``--check`` compares."""
    return {f"{dashboard.uid}.json": dumps(render(dashboard)) for dashboard in DASHBOARDS}


def plain_query(expr: str, values: Mapping[str, str] = PLAIN_VALUES) -> str:
    """``expr`` with each Grafana variable replaced by ``values``, for a plain Prometheus; unknown ones raise."""

    def substitute(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"no plain value for the Grafana variable {name!r} in {expr!r}")
        return values[name]

    return VARIABLE.sub(substitute, expr)


def all_queries(values: Mapping[str, str] = PLAIN_VALUES) -> list[tuple[str, str, str]]:
    """Every panel query as ``(dashboard uid, panel title, expr)``, runnable as is against Prometheus.

    ``$__rate_interval`` becomes ``1m``, ``$__range`` ``1h``, ``$os_version`` ``.*`` (every release);
    pass ``values`` to choose others. A panel with several queries appears once per query.
    """
    return [
        (dashboard.uid, panel.title, plain_query(target.expr, values))
        for dashboard in DASHBOARDS
        for panel in dashboard.panels
        for target in panel.targets
    ]


if __name__ == "__main__":
    for uid, title, expr in all_queries():
        print(f"{uid} | {title}\n  {expr}")
