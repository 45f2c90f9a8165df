"""The demo's screen: a live terminal view (rich) of a :class:`~netdown.demo.watch.Snapshot`, or a status line.

On a terminal the view redraws in place: the fleet's throughput and state, open episodes by macOS
release, alerts pending and firing (and where Alertmanager routed them), and the URLs to open.
When stdout is not a terminal (CI, a test, a pipe) a plain status line is printed instead, so the
output stays readable as a log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from netdown.demo.watch import Snapshot

__all__ = ["Run", "render", "status_line"]

_STATE_STYLE = {"firing": "bold red", "pending": "yellow"}


@dataclass(frozen=True)
class Run:
    """What does not change while the demo runs: the fleet's size and span, and where to look."""

    devices: int
    start_ms: int
    duration_s: float
    until_stopped: bool  # no --duration: the demo runs until Ctrl-C (the fleet stops after ``duration_s``)
    urls: Mapping[str, str]


def render(snapshot: Snapshot, run: Run) -> RenderableType:
    """The whole screen for one snapshot."""
    return Group(_header(snapshot, run), _versions(snapshot), _alerts(snapshot), _links(run.urls))


def status_line(snapshot: Snapshot, run: Run) -> str:
    """One line for logs: the same figures as the view, alerts as ``name:state``."""
    alerts = ",".join(f"{a.name}:{a.state}" for a in snapshot.alerts) or "none"
    fields = [
        f"t={snapshot.elapsed_s:.0f}s",
        f"fleet={_fleet_time(snapshot, run)}",
        f"published={snapshot.progress.sent}/{snapshot.progress.total}",
        f"events/s={snapshot.events_per_s:.0f}",
        f"active={snapshot.total('active')}",
        f"open={snapshot.total('open')}",
        f"stuck={snapshot.total('stuck')}",
        f"episodes={snapshot.total('episodes')}",
        f"alerts={alerts}",
    ]
    if snapshot.error:
        fields.append(f"error={snapshot.error!r}")
    return " ".join(fields)


def _fleet_time(snapshot: Snapshot, run: Run) -> str:
    """How far the simulated fleet's clock has got, of its span; ``done`` once every event is delivered."""
    if snapshot.progress.done:
        return "done"
    elapsed = max(0, snapshot.progress.sim_ms - run.start_ms) / 1000
    return f"{_clock(elapsed)}/{_clock(run.duration_s)}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def _figures(*pairs: tuple[str, str]) -> Text:
    """``value label · value label``: the value bold, the label dim."""
    text = Text()
    for index, (value, label) in enumerate(pairs):
        text.append(" · " if index else "", style="dim").append(value, style="bold").append(f" {label}", style="dim")
    return text


def _header(snapshot: Snapshot, run: Run) -> RenderableType:
    progress = snapshot.progress
    body: list[RenderableType] = [
        _figures(
            (f"{run.devices:,}", "simulated Macs"),
            (_fleet_time(snapshot, run), "fleet time"),
            (f"{progress.sent:,}", "events published"),
            (f"{progress.events_per_s:,.0f}", "events/s published"),
        ),
        _figures(
            (f"{snapshot.events_per_s:,.0f}", "events/s processed"),
            (f"{snapshot.total('active'):,}", "devices active"),
            (f"{snapshot.total('open'):,}", "open episodes"),
            (f"{snapshot.total('stuck'):,}", "stuck"),
            (f"{snapshot.total('episodes'):,}", "episodes so far"),
        ),
    ]
    if snapshot.error:
        body.append(Text(f"not answering: {snapshot.error}", style="red"))
    return Panel(
        Group(*body),
        title="netdown demo: simulated fleet -> Kafka -> stream worker -> Prometheus -> Alertmanager",
        title_align="left",
        subtitle="Ctrl-C stops everything"
        if run.until_stopped
        else f"stops after {run.duration_s:g} s; Ctrl-C stops now",
        subtitle_align="right",
    )


def _versions(snapshot: Snapshot) -> RenderableType:
    table = Table(title="Devices by macOS release", title_justify="left")
    for name in ("macOS", "active", "open episode", "stuck", "episodes so far"):
        table.add_column(name, justify="left" if name == "macOS" else "right")
    for row in snapshot.versions:
        style = "red" if row.stuck else "yellow" if row.open else ""
        table.add_row(row.os_version, str(row.active), str(row.open), str(row.stuck), str(row.episodes), style=style)
    if not snapshot.versions:
        table.add_row("(waiting for the first scrape)", "", "", "", "")
    return table


def _alerts(snapshot: Snapshot) -> RenderableType:
    table = Table(title="Alerts (Prometheus rules -> Alertmanager)", title_justify="left")
    for name in ("state", "alert", "severity", "labels", "since (UTC)", "routed to"):
        table.add_column(name)
    for alert in snapshot.alerts:
        table.add_row(
            Text(alert.state, style=_STATE_STYLE[alert.state]),
            alert.name,
            alert.severity,
            alert.labels,
            alert.since,
            ", ".join(alert.receivers) or "-",
        )
    if not snapshot.alerts:
        table.add_row(Text("none", style="green"), "", "", "", "", "")
    return table


def _links(urls: Mapping[str, str]) -> RenderableType:
    links = Table.grid(padding=(0, 2))
    links.add_column(style="dim")
    links.add_column()
    for name, url in urls.items():
        links.add_row(name, url)
    return Panel(links, title="open in a browser or curl", title_align="left")
