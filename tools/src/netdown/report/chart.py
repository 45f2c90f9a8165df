"""The releases report as a PNG: incidence per release (and per build) with its interval, flagged ones in red.

One horizontal row per group, so long build names stay readable; the fleet's incidence and its
interval are the grey line and band every row is read against. Drawn with matplotlib's Agg backend
(no display needed), imported only when a chart is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from netdown.report.releases import ReleaseRow, ReleasesReport
from netdown.report.render import confidence, number, times
from netdown.report.window import Window

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["write_chart"]

_WORSE: Final = "#c62828"
_OTHER: Final = "#1f4e79"
_FLEET: Final = "#9e9e9e"
_ROW_INCHES: Final = 0.32


def write_chart(report: ReleasesReport, path: Path) -> None:
    """Draw the report's incidences to ``path`` (PNG); raises OSError when it cannot be written."""
    import matplotlib  # noqa: PLC0415 (the `report` extra; only a chart needs it)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    panels = [(title, rows) for title, rows in (("release", report.versions), ("build", report.builds)) if rows]
    heights = [max(len(rows), 2) * _ROW_INCHES + 0.9 for _, rows in panels] or [1.0]
    figure, axes = plt.subplots(
        len(heights), 1, figsize=(9, sum(heights) + 0.9), gridspec_kw={"height_ratios": heights}, squeeze=False
    )
    try:
        for axis, (level, rows) in zip(axes[:, 0], panels, strict=False):
            _panel(axis, level, rows, report)
        figure.suptitle(
            f"Episodes per 1,000 device-days, {confidence(report.confidence)} intervals\n"
            f"{Window(report.start_ms, report.end_ms).describe()}",
            fontsize=10,
        )
        figure.tight_layout()
        figure.savefig(path, dpi=120)
    finally:
        plt.close(figure)


def _panel(axis: Axes, level: str, rows: Sequence[ReleaseRow], report: ReleasesReport) -> None:
    """One panel: a point and an error bar per row, the fleet as a band."""
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415 (loaded by write_chart already)

    fleet = report.fleet
    if fleet.incidence is not None and fleet.incidence_low is not None and fleet.incidence_high is not None:
        axis.axvspan(fleet.incidence_low, fleet.incidence_high, color=_FLEET, alpha=0.25, lw=0)
        axis.axvline(fleet.incidence, color=_FLEET, lw=1)
    shown = [
        (row, row.incidence, row.incidence_low, row.incidence_high)
        for row in rows
        if row.incidence is not None and row.incidence_low is not None and row.incidence_high is not None
    ]
    right = 0.0
    for index, (row, incidence, low, high) in enumerate(shown):
        color = _WORSE if row.flagged else _OTHER
        right = max(right, high)
        axis.errorbar(
            incidence,
            index,
            xerr=[[incidence - low], [high - incidence]],
            fmt="o",
            color=color,
            ecolor=color,
            capsize=3,
            markersize=5,
        )
        ratio = "" if row.ratio_to_rest is None else f"  {times(row.ratio_to_rest)} rest"
        axis.annotate(
            f"{row.episodes:,} ep.{ratio}{'  WORSE' if row.flagged else ''}",
            (high, index),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color=color,
        )
    labels = [row.name if level == "release" else f"{row.name} ({row.version})" for row, *_ in shown]
    axis.set_yticks(range(len(shown)), labels, fontsize=9)
    axis.set_ylim(-0.7, len(shown) - 0.3)
    axis.invert_yaxis()
    # Room on the right for the annotations.
    axis.set_xlim(0, max(right, fleet.incidence_high or 0.0, 1e-9) * 1.45)
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _position: number(value)))
    axis.set_xlabel("episodes per 1,000 device-days", fontsize=9)
    fleet_text = "" if fleet.incidence is None else f"  (grey: the fleet, {number(fleet.incidence)})"
    axis.set_title(f"by {level}{fleet_text}", fontsize=10, loc="left")
    axis.grid(axis="x", alpha=0.3)
