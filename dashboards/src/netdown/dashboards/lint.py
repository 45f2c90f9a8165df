"""The dashboard lint: rules every netdown dashboard keeps, checked on Grafana's JSON model.

It reads the JSON Grafana is given (the committed files), not the Python that wrote it, so a dashboard
exported from Grafana and committed by hand is held to the same rules. Each rule has a name, listed
in :data:`RULES` with what it protects; a problem names the dashboard, the panel and the rule.
The PromQL rules (``promql``, ``aggregation``, ``job``, ``window``, ``variables``) read each expression
with :mod:`netdown.dashboards.promql_scan`, which parses it with promql-parser (Prometheus's grammar).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from netdown.dashboards.config import JOB
from netdown.dashboards.dashboards import DAY, DAY_SUBQUERY, JOB_SELECTOR, RANGE_WINDOW, RATE_WINDOW
from netdown.dashboards.grafana_model import DATASOURCE_VARIABLE, GRID_WIDTH
from netdown.dashboards.promql_scan import PromQLError, scan

__all__ = ["ALLOWED_WINDOWS", "RULES", "Problem", "lint", "lint_dashboard", "lint_files"]

JSON = dict[str, Any]

RULES: Final[Mapping[str, str]] = {
    "json": "the file holds one JSON object",
    "schema-version": "schemaVersion is set (an integer of at least 36), so Grafana knows which migrations apply",
    "uid": "a stable uid ([A-Za-z0-9_-], at most 40 characters), unique across the dashboards: links and publishing "
    "find a dashboard by it",
    "title": "the dashboard and every panel have a title, and no two panels of a dashboard share one",
    "datasource-variable": "a `datasource` template variable of type datasource (Prometheus) exists",
    "datasource-ref": "every panel, target and query variable uses the data source through `${datasource}`",
    "panel-type": "the panel type is one of timeseries, stat, bargauge, table, row (no deprecated graph/singlestat)",
    "panel-id": "panel ids are integers, unique within the dashboard",
    "grid": "every panel has a gridPos inside the 24-column grid, and no two panels overlap",
    "unit": "every panel sets fieldConfig.defaults.unit: a Grafana unit id, or a custom unit (suffix:, count:, ...)",
    "expr": "every panel has targets, each with a non-empty expr and its own refId",
    "promql": "every expr parses as PromQL: syntax, known functions, argument types",
    "job": f"every selector selects the workers' job ({JOB_SELECTOR})",
    "aggregation": "every selector is aggregated over instance and partition before it is shown: a partition moves "
    "between workers, so only the sum over both is the fleet",
    "window": "every range window is $__rate_interval or one of the documented longer windows; $__range only in "
    "instant queries",
    "variables": "every variable an expr uses is a template variable of the dashboard or a Grafana global",
}

# Range windows other than $__rate_interval, each with the reason it is allowed.
ALLOWED_WINDOWS: Final[Mapping[str, str]] = {
    RATE_WINDOW: "rates: Grafana's interval, at least four scrape intervals, so a rate always has samples",
    RANGE_WINDOW: "totals over the dashboard's time range, in instant queries (the top-N panels)",
    DAY: "per-day figures (episodes per 1,000 active devices per day, duration quantiles): per-release counts are "
    "too sparse for shorter windows",
    DAY_SUBQUERY: "the per-day denominator: active devices averaged over the same day, sampled every 5 minutes",
}

_UID: Final = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_MIN_SCHEMA_VERSION: Final = 36  # Grafana 9: panels and targets reference data sources as {type, uid}
_PANEL_TYPES: Final = frozenset({"timeseries", "stat", "bargauge", "table", "row"})
_CUSTOM_UNIT_PREFIXES: Final = ("prefix:", "suffix:", "count:", "si:", "currency:", "time:", "bool:")
# Grafana's unit ids (packages/grafana-data/src/valueFormats/categories.ts) that fit this product's figures.
_UNITS: Final = frozenset(
    {
        "none",
        "short",
        "percent",
        "percentunit",
        "locale",
        "ns",
        "µs",
        "ms",
        "s",
        "m",
        "h",
        "d",
        "dtdurationms",
        "dtdurations",
        "dthms",
        "cps",
        "ops",
        "reqps",
        "rps",
        "wps",
        "cpm",
        "opm",
        "rpm",
        "wpm",
        "bytes",
        "decbytes",
        "Bps",
        "pps",
        "dateTimeAsIso",
        "dateTimeFromNow",
    }
)
# Variables Grafana itself provides (docs: "Global variables").
_GLOBALS: Final = frozenset(
    {
        "__rate_interval",
        "__interval",
        "__interval_ms",
        "__range",
        "__range_s",
        "__range_ms",
        "__from",
        "__to",
        "__dashboard",
        "__org",
        "__user",
        "__name",
        "timeFilter",
    }
)
_DATASOURCE_UIDS: Final = frozenset({f"${{{DATASOURCE_VARIABLE}}}", f"${DATASOURCE_VARIABLE}"})


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (dashboard, panel or ``""``), which rule, and what is wrong."""

    dashboard: str
    panel: str
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"{self.dashboard}: {self.panel!r}" if self.panel else self.dashboard
        return f"{where}: {self.message} [{self.rule}]"


def _panels(model: JSON) -> Iterator[JSON]:
    """Every panel, the ones inside collapsed rows too."""
    for panel in model.get("panels") or []:
        if isinstance(panel, dict):
            yield panel
            yield from (inner for inner in panel.get("panels") or [] if isinstance(inner, dict))


def _is_datasource_ref(ref: object) -> bool:
    return isinstance(ref, dict) and ref.get("type") == "prometheus" and ref.get("uid") in _DATASOURCE_UIDS


def lint_dashboard(model: JSON, name: str) -> list[Problem]:
    """The problems of one dashboard (``name`` says where it came from when it has no uid)."""
    where = str(model.get("uid") or name)
    problems = [Problem(where, "", rule, message) for rule, message in _dashboard_problems(model)]
    titles: set[str] = set()
    ids: set[object] = set()
    placed: list[tuple[str, JSON]] = []
    variables = {v.get("name") for v in (model.get("templating") or {}).get("list") or [] if isinstance(v, dict)}
    for panel in _panels(model):
        title = str(panel.get("title") or "")
        found = list(_panel_problems(panel, variables))
        if title and title in titles:
            found.append(("title", "another panel has the same title"))
        if panel.get("id") in ids:
            found.append(("panel-id", f"id {panel.get('id')!r} is used twice"))
        titles.add(title)
        ids.add(panel.get("id"))
        grid = panel.get("gridPos")
        if isinstance(grid, dict) and not list(_grid_problems(grid)):
            found.extend(("grid", f"overlaps {other!r}") for other, box in placed if _overlap(grid, box))
            placed.append((title, grid))
        problems.extend(Problem(where, title or f"panel {panel.get('id')}", rule, message) for rule, message in found)
    return problems


def _dashboard_problems(model: JSON) -> Iterator[tuple[str, str]]:
    version = model.get("schemaVersion")
    if not isinstance(version, int) or version < _MIN_SCHEMA_VERSION:
        yield "schema-version", f"schemaVersion is {version!r}, not an integer >= {_MIN_SCHEMA_VERSION}"
    if not isinstance(model.get("uid"), str) or not _UID.match(model["uid"]):
        yield "uid", f"uid {model.get('uid')!r} is missing or not [A-Za-z0-9_-]{{1,40}}"
    if not model.get("title"):
        yield "title", "the dashboard has no title"
    templating = [v for v in (model.get("templating") or {}).get("list") or [] if isinstance(v, dict)]
    if not any(
        v.get("name") == DATASOURCE_VARIABLE and v.get("type") == "datasource" and v.get("query") == "prometheus"
        for v in templating
    ):
        yield "datasource-variable", f"no `{DATASOURCE_VARIABLE}` variable of type datasource querying prometheus"
    for variable in templating:
        if variable.get("type") == "query" and not _is_datasource_ref(variable.get("datasource")):
            yield "datasource-ref", f"variable {variable.get('name')!r} does not use ${{{DATASOURCE_VARIABLE}}}"
    if not list(_panels(model)):
        yield "expr", "the dashboard has no panels"


def _panel_problems(panel: JSON, variables: set[object]) -> Iterator[tuple[str, str]]:
    panel_type = panel.get("type")
    if not panel.get("title"):
        yield "title", "the panel has no title"
    if panel_type not in _PANEL_TYPES:
        yield "panel-type", f"type {panel_type!r} is not one of {', '.join(sorted(_PANEL_TYPES))}"
    if not isinstance(panel.get("id"), int):
        yield "panel-id", f"id {panel.get('id')!r} is not an integer"
    grid = panel.get("gridPos")
    yield from (("grid", message) for message in _grid_problems(grid if isinstance(grid, dict) else {}))
    if panel_type == "row":
        return
    unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
    if not isinstance(unit, str) or not unit:
        yield "unit", "no fieldConfig.defaults.unit"
    elif unit not in _UNITS and not unit.startswith(_CUSTOM_UNIT_PREFIXES):
        yield "unit", f"unit {unit!r} is not a known Grafana unit id nor a custom unit"
    if not _is_datasource_ref(panel.get("datasource")):
        yield "datasource-ref", f"the panel's datasource is {panel.get('datasource')!r}, not ${{{DATASOURCE_VARIABLE}}}"
    targets = [t for t in panel.get("targets") or [] if isinstance(t, dict)]
    if not targets:
        yield "expr", "the panel has no targets"
    ref_ids = [t.get("refId") for t in targets]
    if len(set(ref_ids)) != len(ref_ids) or not all(ref_ids):
        yield "expr", f"refIds {ref_ids!r} are missing or repeated"
    for target in targets:
        if not _is_datasource_ref(target.get("datasource")):
            yield "datasource-ref", f"target {target.get('refId')!r} does not use ${{{DATASOURCE_VARIABLE}}}"
        expr = target.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            yield "expr", f"target {target.get('refId')!r} has no expr"
            continue
        yield from _expr_problems(expr, instant=bool(target.get("instant")), variables=variables)


def _expr_problems(expr: str, *, instant: bool, variables: set[object]) -> Iterator[tuple[str, str]]:
    try:
        query = scan(expr)
    except PromQLError as exc:
        yield "promql", f"cannot read {expr!r}: {exc}"
        return
    for selector in query.selectors:
        if not selector.matches("job", "=", JOB):
            yield "job", f"{selector.metric} does not select {JOB_SELECTOR}"
        for label in ("instance", "partition"):
            if not selector.aggregated_away(label):
                yield "aggregation", f"{selector.metric} is not aggregated over {label}"
    for window in query.windows:
        if window not in ALLOWED_WINDOWS:
            yield "window", f"window [{window}] is neither $__rate_interval nor a documented longer window"
        elif window == RANGE_WINDOW and not instant:
            yield "window", "[$__range] in a range query: each point would cover the whole time range"
    for name in query.variables:
        if name not in variables and name not in _GLOBALS:
            yield "variables", f"${name} is not a template variable of this dashboard"


def _grid_problems(grid: JSON) -> Iterator[str]:
    values = [value for key in ("x", "y", "w", "h") if isinstance(value := grid.get(key), int)]
    if len(values) != 4:
        yield f"gridPos {grid!r} lacks integer x, y, w, h"
        return
    x, y, w, h = values
    if x < 0 or y < 0 or w < 1 or h < 1 or x + w > GRID_WIDTH:
        yield f"gridPos {grid!r} is outside the {GRID_WIDTH}-column grid"


def _overlap(a: JSON, b: JSON) -> bool:
    return bool(
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


def lint(models: Mapping[str, JSON]) -> list[Problem]:
    """The problems of several dashboards by name (file name): each one's, and uids used twice."""
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for name, model in models.items():
        problems.extend(lint_dashboard(model, name))
        uid = model.get("uid")
        if isinstance(uid, str) and uid in seen:
            problems.append(Problem(uid, "", "uid", f"{name} and {seen[uid]} share the uid"))
        elif isinstance(uid, str):
            seen[uid] = name
    return problems


def lint_files(paths: Iterable[Path]) -> list[Problem]:
    """The problems of dashboard JSON files; one that cannot be read or parsed is a problem too."""
    models: dict[str, JSON] = {}
    problems: list[Problem] = []
    for path in paths:
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(Problem(str(path), "", "json", f"cannot read the dashboard: {exc}"))
            continue
        if not isinstance(model, dict):
            problems.append(Problem(str(path), "", "json", "not a JSON object"))
            continue
        models[str(path)] = model
    return problems + lint(models)
