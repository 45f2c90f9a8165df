"""What the demo shows, read the way an operator would: PromQL against Prometheus, alerts from both APIs.

Every figure on screen is a query over what Prometheus scraped from the worker's ``/metrics``
(summed over partitions, as the rules do), so the view proves the path device -> Kafka -> worker
-> Prometheus -> alert rules -> Alertmanager, not just the simulator's own counters. The watcher
also remembers every alert it saw and the worst state each reached, for the summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from netdown.dashboards.config import JOB
from netdown.devstack.alertmanager import Alertmanager
from netdown.devstack.http_service import ServiceError
from netdown.devstack.prometheus import Prometheus
from netdown.sim.live import LiveProgress

__all__ = ["AlertSeen", "AlertState", "Snapshot", "VersionRow", "Watcher"]

AlertStateName = Literal["pending", "firing"]
_SEL: Final = f'{{job="{JOB}"}}'
# Short enough to follow the fleet second by second, long enough for several 1 s scrapes.
_RATE_WINDOW: Final = "15s"


@dataclass(frozen=True)
class VersionRow:
    """One macOS release's line: active devices, devices with an open episode, stuck ones, episodes so far."""

    os_version: str
    active: int
    open: int
    stuck: int
    episodes: int


@dataclass(frozen=True)
class AlertState:
    """One alert instance now: Prometheus's state, and the receivers Alertmanager routed it to (if it has it)."""

    name: str
    state: AlertStateName
    severity: str
    labels: str  # its distinguishing labels beyond name and severity, e.g. "os_version=15.2"
    since: str
    receivers: tuple[str, ...]


@dataclass
class AlertSeen:
    """An alert seen during the run: the worst state it reached and whether Alertmanager got it."""

    severity: str
    state: AlertStateName
    routed_to: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Snapshot:
    """Everything on screen at one instant."""

    elapsed_s: float
    events_per_s: float
    versions: tuple[VersionRow, ...]
    alerts: tuple[AlertState, ...]
    progress: LiveProgress
    error: str | None = None  # a service that did not answer this time (shown, not fatal)

    def total(self, column: Literal["active", "open", "stuck", "episodes"]) -> int:
        """A column summed over releases (the fleet's figure)."""
        return sum(getattr(row, column) for row in self.versions)


@dataclass
class Watcher:
    """Builds snapshots from Prometheus and Alertmanager, remembering the alerts seen."""

    prometheus: Prometheus
    alertmanager: Alertmanager
    progress: Callable[[], LiveProgress]
    started: float = field(default_factory=time.monotonic)
    seen: dict[str, AlertSeen] = field(default_factory=dict)

    def snapshot(self) -> Snapshot:
        """Query both services now; a failed query leaves zeros and an error line rather than stopping the demo."""
        progress, elapsed = self.progress(), time.monotonic() - self.started
        try:
            rate = self._scalar(f"sum(rate(netdown_events_total{_SEL}[{_RATE_WINDOW}]))")
            versions = self._versions()
            alerts = self._alerts()
        except (ServiceError, OSError) as exc:
            return Snapshot(elapsed, 0.0, (), (), progress, error=str(exc).splitlines()[0])
        return Snapshot(elapsed, rate, versions, alerts, progress)

    def _versions(self) -> tuple[VersionRow, ...]:
        columns = {
            name: self._by_version(f"sum by (os_version) (netdown_{metric}{_SEL})")
            for name, metric in (
                ("active", "devices_active"),
                ("open", "devices_affected"),
                ("stuck", "devices_stuck"),
                ("episodes", "episodes_total"),
            )
        }
        versions = sorted(set().union(*columns.values()), key=_version_key)
        return tuple(
            VersionRow(version, **{name: round(values.get(version, 0)) for name, values in columns.items()})
            for version in versions
        )

    def _alerts(self) -> tuple[AlertState, ...]:
        routed: dict[tuple[tuple[str, str], ...], tuple[str, ...]] = {
            _key(alert["labels"]): tuple(sorted(r["name"] for r in alert.get("receivers", ())))
            for alert in self.alertmanager.alerts()
            if alert.get("status", {}).get("state") == "active"
        }
        states = []
        for alert in self.prometheus.alerts():
            labels: Mapping[str, str] = alert["labels"]
            name, severity = labels["alertname"], labels.get("severity", "")
            state: AlertStateName = "firing" if alert["state"] == "firing" else "pending"
            receivers = routed.get(_key(labels), ())
            extra = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in {"alertname", "severity"})
            states.append(AlertState(name, state, severity, extra, alert.get("activeAt", "")[11:19], receivers))
            self._remember(name, severity, state, receivers)
        return tuple(sorted(states, key=lambda a: (a.state != "firing", a.name, a.labels)))

    def _remember(self, name: str, severity: str, state: AlertStateName, receivers: tuple[str, ...]) -> None:
        seen = self.seen.setdefault(name, AlertSeen(severity, state))
        if state == "firing":
            seen.state = "firing"
        seen.routed_to.update(receivers)

    def _scalar(self, expr: str) -> float:
        result = self.prometheus.query(expr)
        return float(result[0]["value"][1]) if result else 0.0

    def _by_version(self, expr: str) -> dict[str, float]:
        return {r["metric"].get("os_version", ""): float(r["value"][1]) for r in self.prometheus.query(expr)}


def _key(labels: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """An alert's identity across the two APIs: its full label set."""
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def _version_key(version: str) -> tuple[int, ...]:
    """``14.4.1`` before ``15.0`` (numeric, not text, order); non-numeric parts sort first."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))
