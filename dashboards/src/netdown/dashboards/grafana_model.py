"""A small typed model of Grafana's dashboard JSON: the parts netdown's dashboards use, rendered deterministically.

No generator library: three panel types, one query variable kind and a flow layout are all the
dashboards need, and a plain dataclass model keeps every emitted key reviewable here. The JSON follows
Grafana's dashboard model at ``schemaVersion`` 39 (Grafana 10.3 to 11.x read it as is; newer ones
migrate it on load): panels carry ``fieldConfig.defaults.unit``, every panel and target names the
Prometheus data source through the ``$datasource`` template variable, and ids and grid positions
follow the declaration order, so the same code always writes the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from netdown.dashboards.config import GRAFANA_DATASOURCE_UID

__all__ = [
    "DATASOURCE_NAME",
    "DATASOURCE_REF",
    "DATASOURCE_UID",
    "DATASOURCE_VARIABLE",
    "GRID_WIDTH",
    "SCHEMA_VERSION",
    "Dashboard",
    "Panel",
    "PanelType",
    "QueryVariable",
    "Target",
    "bargauge",
    "dumps",
    "render",
    "stat",
    "timeseries",
]

JSON = dict[str, Any]
PanelType = Literal["timeseries", "stat", "bargauge"]

SCHEMA_VERSION: Final = 39
GRID_WIDTH: Final = 24
DATASOURCE_VARIABLE: Final = "datasource"
# The provisioned Prometheus data source (dashboards/grafana/provisioning/datasources/netdown.yaml): the
# variable's initial choice; Grafana falls back to its default Prometheus when no such uid exists.
DATASOURCE_UID: Final = GRAFANA_DATASOURCE_UID
DATASOURCE_NAME: Final = "netdown Prometheus"
DATASOURCE_REF: Final = {"type": "prometheus", "uid": f"${{{DATASOURCE_VARIABLE}}}"}
# Grafana's own dashboard links list every dashboard carrying this tag.
TAG: Final = "netdown"

_GREEN: Final = ((None, "green"),)


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel: its expression, its legend, and whether it is an instant query."""

    expr: str
    legend: str
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    """One visualisation: type, title, unit (always), what it shows and the queries behind it.

    ``thresholds`` are ``(from_value, color)`` steps, the first from ``None`` (minus infinity);
    ``min_interval`` is the smallest step Grafana may query at (a daily figure needs no minute steps).
    """

    type: PanelType
    title: str
    unit: str
    description: str
    targets: tuple[Target, ...]
    width: int = 12
    height: int = 8
    stacked: bool = False
    thresholds: tuple[tuple[float | None, str], ...] = _GREEN
    decimals: int | None = None
    min_interval: str | None = None


@dataclass(frozen=True)
class QueryVariable:
    """A multi-value variable listing one label's values (``label_values(selector, label)``), ``All`` = ``.*``."""

    name: str
    label: str
    selector: str
    label_name: str

    @property
    def query(self) -> str:
        """The Prometheus data source's variable query."""
        return f"label_values({self.selector}, {self.label_name})"


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: stable uid, title, description, variables (after ``$datasource``) and panels in reading order."""

    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    variables: tuple[QueryVariable, ...] = ()
    time_from: str = "now-24h"
    refresh: str = "1m"
    tags: tuple[str, ...] = (TAG,)


def timeseries(
    title: str,
    unit: str,
    description: str,
    *targets: Target,
    stacked: bool = False,
    width: int = 12,
    min_interval: str | None = None,
) -> Panel:
    """A time series panel, 8 rows high."""
    return Panel(
        "timeseries", title, unit, description, targets, width=width, stacked=stacked, min_interval=min_interval
    )


def stat(
    title: str,
    unit: str,
    description: str,
    *targets: Target,
    thresholds: tuple[tuple[float | None, str], ...] = _GREEN,
    decimals: int | None = None,
) -> Panel:
    """A stat panel (latest value with a sparkline), a quarter of the width and 4 rows high."""
    return Panel("stat", title, unit, description, targets, width=6, height=4, thresholds=thresholds, decimals=decimals)


def bargauge(title: str, unit: str, description: str, *targets: Target, width: int = 12) -> Panel:
    """A horizontal bar gauge, one bar per series (a ranking)."""
    return Panel("bargauge", title, unit, description, targets, width=width)


def render(dashboard: Dashboard) -> JSON:
    """The dashboard as Grafana's JSON model (without ``id``: Grafana assigns it, the uid identifies it)."""
    positions = _layout(dashboard.panels)
    return {
        "annotations": {"list": [_builtin_annotations()]},
        "description": dashboard.description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,  # shared crosshair: one moment lines up across panels
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": [TAG],
                "targetBlank": False,
                "title": "netdown dashboards",
                "tooltip": "",
                "type": "dashboards",
                "url": "",
            }
        ],
        "panels": [
            _panel(panel, panel_id, grid)
            for panel_id, (panel, grid) in enumerate(zip(dashboard.panels, positions, strict=True), 1)
        ],
        "refresh": dashboard.refresh,
        "schemaVersion": SCHEMA_VERSION,
        "tags": list(dashboard.tags),
        "templating": {"list": [_datasource_variable(), *(_query_variable(v) for v in dashboard.variables)]},
        "time": {"from": dashboard.time_from, "to": "now"},
        "timepicker": {},
        "timezone": "utc",
        "title": dashboard.title,
        "uid": dashboard.uid,
        "version": 1,
        "weekStart": "",
    }


def dumps(model: JSON) -> str:
    """The JSON text written to disk: sorted keys, two-space indent, a final newline (stable diffs)."""
    return json.dumps(model, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _layout(panels: Sequence[Panel]) -> list[JSON]:
    """Grid positions: panels flow left to right and wrap when the 24-column row is full."""
    positions: list[JSON] = []
    x = y = row_height = 0
    for panel in panels:
        if not 0 < panel.width <= GRID_WIDTH:
            raise ValueError(f"panel {panel.title!r}: width {panel.width} is outside 1..{GRID_WIDTH}")
        if x + panel.width > GRID_WIDTH:
            x, y, row_height = 0, y + row_height, 0
        positions.append({"h": panel.height, "w": panel.width, "x": x, "y": y})
        x += panel.width
        row_height = max(row_height, panel.height)
    return positions


def _panel(panel: Panel, panel_id: int, grid: JSON) -> JSON:
    defaults: JSON = {
        "color": {"mode": "palette-classic" if panel.type == "timeseries" else "thresholds"},
        "mappings": [],
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in panel.thresholds],
        },
        "unit": panel.unit,
    }
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.type == "timeseries":
        defaults["custom"] = {
            "axisSoftMin": 0,
            "drawStyle": "line",
            "fillOpacity": 25 if panel.stacked else 10,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if panel.stacked else "none"},
        }
    model: JSON = {
        "datasource": dict(DATASOURCE_REF),
        "description": panel.description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "gridPos": grid,
        "id": panel_id,
        "options": _options(panel.type),
        "targets": [_target(target, chr(ord("A") + index)) for index, target in enumerate(panel.targets)],
        "title": panel.title,
        "type": panel.type,
    }
    if panel.min_interval is not None:
        model["interval"] = panel.min_interval
    return model


def _options(panel_type: PanelType) -> JSON:
    last_value = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if panel_type == "timeseries":
        return {
            "legend": {
                "calcs": ["lastNotNull", "max"],
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if panel_type == "stat":
        return {
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "percentChangeColorMode": "standard",
            "reduceOptions": last_value,
            "showPercentChange": False,
            "textMode": "auto",
            "wideLayout": True,
        }
    # Grafana's defaults for the options its schema requires (the JSON Grafana itself saves carries them all).
    return {
        "displayMode": "gradient",
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": False},
        "maxVizHeight": 300,
        "minVizHeight": 16,
        "minVizWidth": 8,
        "namePlacement": "auto",
        "orientation": "horizontal",
        "reduceOptions": last_value,
        "showUnfilled": True,
        "sizing": "auto",
        "valueMode": "color",
    }


def _target(target: Target, ref_id: str) -> JSON:
    return {
        "datasource": dict(DATASOURCE_REF),
        "editorMode": "code",
        "expr": target.expr,
        "instant": target.instant,
        "legendFormat": target.legend,
        "range": not target.instant,
        "refId": ref_id,
    }


def _builtin_annotations() -> JSON:
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }


def _datasource_variable() -> JSON:
    return {
        "current": {"selected": False, "text": DATASOURCE_NAME, "value": DATASOURCE_UID},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": DATASOURCE_VARIABLE,
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }


def _query_variable(variable: QueryVariable) -> JSON:
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": dict(DATASOURCE_REF),
        "definition": variable.query,
        "hide": 0,
        "includeAll": True,
        "label": variable.label,
        "multi": True,
        "name": variable.name,
        "options": [],
        "query": variable.query,  # the string form: Grafana's Prometheus variable support reads it as label_values
        "refresh": 2,  # on time range change: a release that appears mid-day shows up
        "regex": "",
        "skipUrlSync": False,
        "sort": 7,  # natural ascending: 14.10 after 14.9
        "type": "query",
    }
