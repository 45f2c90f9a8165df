"""The dashboard lint: each rule catches what it is for, and lets the shapes netdown uses pass."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest

from netdown.dashboards.grafana_model import Dashboard, QueryVariable, Target, render, stat, timeseries
from netdown.dashboards.lint import RULES, lint, lint_dashboard, lint_files

JSON = dict[str, Any]
JOB: Final = 'job="netdown-stream"'
GOOD_EXPR: Final = f"sum by (type) (rate(netdown_events_total{{{JOB}}}[$__rate_interval]))"

VALID: Final = render(
    Dashboard(
        uid="lint-test",
        title="lint test",
        description="",
        variables=(QueryVariable("os_version", "OS version", f"netdown_devices_active{{{JOB}}}", "os_version"),),
        panels=(
            stat(
                "A stat", "short", "", Target(f'sum(netdown_devices_active{{{JOB}, os_version=~"$os_version"}})', "a")
            ),
            timeseries("A series", "cps", "", Target(GOOD_EXPR, "{{type}}")),
        ),
    )
)


def _rules(model: JSON) -> set[str]:
    return {problem.rule for problem in lint_dashboard(model, "test.json")}


def _with_expr(expr: str, *, instant: bool = False) -> JSON:
    model = copy.deepcopy(VALID)
    model["panels"][1]["targets"][0].update(expr=expr, instant=instant)
    return model


def _edit(change: Callable[[JSON], object]) -> JSON:
    model = copy.deepcopy(VALID)
    change(model)
    return model


def test_a_dashboard_built_with_the_model_passes() -> None:
    assert lint_dashboard(VALID, "test.json") == []


@pytest.mark.parametrize(
    "expr",
    [
        GOOD_EXPR,
        f"sum(rate(netdown_events_total{{{JOB}}}[$__rate_interval])) by (type)",  # the trailing grouping form
        f"sum without (instance, partition) (rate(netdown_events_total{{{JOB}}}[$__rate_interval]))",
        f"3600 * sum by (os_version) (increase(netdown_episodes_total{{{JOB}}}[1d]))",
        f"sum by (os_version) (increase(netdown_episodes_total{{{JOB}}}[24h]))",  # the same day, spelled in hours
        f"avg_over_time((sum by (os_version) (netdown_devices_active{{{JOB}}}))[1d:5m])",
        f"histogram_quantile(0.99, sum by (le) (rate(netdown_event_lag_seconds_bucket{{{JOB}}}[$__rate_interval])))",
        f"sort_desc(topk(10, sum by (app) (netdown_devices_affected{{{JOB}}})))",
        f"max by (topic) (sum by (topic, instance) (netdown_consumer_lag{{{JOB}}}))",
    ],
)
def test_queries_summed_over_instance_and_partition_with_allowed_windows_pass(expr: str) -> None:
    assert _rules(_with_expr(expr)) == set()


@pytest.mark.parametrize(
    ("expr", "rule"),
    [
        (f"rate(netdown_events_total{{{JOB}}}[$__rate_interval])", "aggregation"),
        (f"sum by (instance) (rate(netdown_events_total{{{JOB}}}[$__rate_interval]))", "aggregation"),
        (f"sum by (partition) (netdown_consumer_lag{{{JOB}}})", "aggregation"),
        (f"sum without (instance) (netdown_devices_active{{{JOB}}})", "aggregation"),
        (f"topk(5, netdown_devices_affected{{{JOB}}})", "aggregation"),
        (f"sum(netdown_devices_active{{{JOB}}}) / netdown_devices_active{{{JOB}}}", "aggregation"),
        ("sum(netdown_devices_active)", "job"),
        ('sum(netdown_devices_active{job=~"netdown.*"})', "job"),
        (f"sum(rate(netdown_events_total{{{JOB}}}[5m]))", "window"),
        (f"sum(increase(netdown_events_total{{{JOB}}}[$__range]))", "window"),
        (f"max_over_time(sum(netdown_devices_active{{{JOB}}})[1h:1m])", "window"),
        (f'sum(netdown_devices_active{{{JOB}, app=~"$app"}})', "variables"),
        (f"sum(rate(netdown_events_total{{{JOB}}}[$__rate_interval])", "promql"),
        (f"sum(netdown_devices_active{{{JOB}, os_version}})", "promql"),
        (f"sum(netdown_devices_active{{{JOB}}}) by (os_version", "promql"),
        (f"sum(rate(netdown_events_total{{{JOB}}}))", "promql"),  # a rate of an instant vector
        ("   ", "expr"),
    ],
)
def test_a_query_breaking_a_rule_is_reported_under_it(expr: str, rule: str) -> None:
    assert rule in _rules(_with_expr(expr))


def test_range_over_the_dashboard_time_range_is_allowed_in_instant_queries_only() -> None:
    expr = f"sum by (app) (increase(netdown_episodes_total{{{JOB}}}[$__range]))"

    assert _rules(_with_expr(expr, instant=True)) == set()
    assert _rules(_with_expr(expr, instant=False)) == {"window"}


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda m: m["panels"][0]["fieldConfig"]["defaults"].pop("unit"), "unit"),
        (lambda m: m["panels"][0]["fieldConfig"]["defaults"].update(unit="seconds"), "unit"),
        (
            lambda m: m["panels"][0].update(datasource={"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}),
            "datasource-ref",
        ),
        (lambda m: m["panels"][0]["targets"][0].pop("datasource"), "datasource-ref"),
        (lambda m: m["templating"]["list"][1].update(datasource="Prometheus"), "datasource-ref"),
        (lambda m: m["templating"]["list"].pop(0), "datasource-variable"),
        (lambda m: m["panels"][0].update(targets=[]), "expr"),
        (lambda m: m["panels"][1]["targets"].append(dict(m["panels"][1]["targets"][0])), "expr"),
        (lambda m: m["panels"][1].update(id=m["panels"][0]["id"]), "panel-id"),
        (lambda m: m["panels"][1].update(id="2"), "panel-id"),
        (lambda m: m["panels"][1].update(gridPos={"h": 8, "w": 12, "x": 3, "y": 2}), "grid"),
        (lambda m: m["panels"][1].update(gridPos={"h": 8, "w": 12, "x": 18, "y": 40}), "grid"),
        (lambda m: m["panels"][1].pop("gridPos"), "grid"),
        (lambda m: m["panels"][1].update(title=m["panels"][0]["title"]), "title"),
        (lambda m: m["panels"][1].update(title=""), "title"),
        (lambda m: m.update(title=""), "title"),
        (lambda m: m["panels"][1].update(type="graph"), "panel-type"),
        (lambda m: m.pop("schemaVersion"), "schema-version"),
        (lambda m: m.update(schemaVersion=27), "schema-version"),
        (lambda m: m.pop("uid"), "uid"),
        (lambda m: m.update(uid="has spaces"), "uid"),
        (lambda m: m.update(panels=[]), "expr"),
    ],
)
def test_a_dashboard_breaking_a_rule_is_reported_under_it(change: Callable[[JSON], object], rule: str) -> None:
    problems = lint_dashboard(_edit(change), "test.json")

    assert rule in {problem.rule for problem in problems}
    assert all(problem.rule in RULES for problem in problems)


def test_panels_inside_a_collapsed_row_are_checked_too() -> None:
    def collapse(model: JSON) -> None:
        inner = model["panels"].pop(1)
        del inner["fieldConfig"]["defaults"]["unit"]
        model["panels"].append(
            {
                "collapsed": True,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": 30},
                "id": 9,
                "panels": [inner],
                "title": "Row",
                "type": "row",
            }
        )

    problems = lint_dashboard(_edit(collapse), "test.json")

    assert [(p.panel, p.rule) for p in problems] == [("A series", "unit")]


def test_a_problem_names_the_dashboard_the_panel_and_the_rule() -> None:
    (problem,) = lint_dashboard(_edit(lambda m: m["panels"][0]["fieldConfig"]["defaults"].pop("unit")), "x.json")

    assert str(problem) == "lint-test: 'A stat': no fieldConfig.defaults.unit [unit]"


def test_two_dashboards_with_one_uid_are_reported() -> None:
    problems = lint({"a.json": VALID, "b.json": copy.deepcopy(VALID)})

    assert [(p.rule, p.message) for p in problems] == [("uid", "b.json and a.json share the uid")]


def test_a_file_that_is_not_a_dashboard_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    (tmp_path / "good.json").write_text(json.dumps(VALID), encoding="utf-8")

    problems = lint_files(sorted(tmp_path.iterdir()))

    assert [(Path(p.dashboard).name, p.rule) for p in problems] == [("broken.json", "json"), ("list.json", "json")]
