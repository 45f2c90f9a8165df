"""The PromQL reader behind the dashboard lint: selectors, what aggregates them, windows and variables."""

from __future__ import annotations

import pytest

from netdown.dashboards.promql_scan import Aggregation, Matcher, PromQLError, scan


def test_a_selector_carries_its_matchers_range_and_enclosing_aggregations_and_functions() -> None:
    query = scan('3600 * sum by (os_version) (rate(netdown_episodes_total{job="netdown-stream", app!~"x|y"}[1m]))')

    (selector,) = query.selectors
    assert selector.metric == "netdown_episodes_total"
    assert selector.matchers == (Matcher("job", "=", "netdown-stream"), Matcher("app", "!~", "x|y"))
    assert selector.range == "1m"
    assert selector.aggregations == (Aggregation("sum", "by", ("os_version",)),)
    assert selector.functions == ("rate",)
    assert query.windows == ("1m",)


def test_the_trailing_grouping_form_applies_to_its_aggregation() -> None:
    (selector,) = scan("sum(rate(x[5m])) without (instance, partition)").selectors

    assert selector.aggregations == (Aggregation("sum", "without", ("instance", "partition")),)
    assert selector.aggregated_away("instance")
    assert selector.aggregated_away("partition")
    assert not selector.aggregated_away("type")


def test_topk_keeps_labels_but_an_aggregation_inside_it_removes_them() -> None:
    bare, summed = scan("topk(3, a) + topk(3, sum by (app) (b))").selectors

    assert not bare.aggregated_away("instance")
    assert summed.aggregated_away("instance")


def test_both_sides_of_a_binary_operation_and_a_subquery_are_read() -> None:
    query = scan("sum by (v) (increase(a[1d])) / on (v) group_left () (avg_over_time((sum by (v) (b))[1d:5m]) > 0)")

    assert [s.metric for s in query.selectors] == ["a", "b"]
    assert query.windows == ("1d", "1d:5m")
    assert query.selectors[1].functions == ("avg_over_time",)


def test_keywords_numbers_and_strings_are_not_selectors() -> None:
    query = scan('label_replace(a offset 5m, "dst", "$1", "src", "(.*)") > bool 1e3 and on () vector(Inf)')

    assert [s.metric for s in query.selectors] == ["a"]
    assert query.variables == ()


def test_a_selector_by_name_matcher_alone_is_read() -> None:
    (selector,) = scan('sum({__name__="up", job="netdown-stream"})').selectors

    assert selector.metric == "up"


def test_grafana_variables_are_listed_wherever_they_appear() -> None:
    query = scan('sum(rate(a{os_version=~"${os_version:regex}", app="[[app]]"}[$__rate_interval])) > $threshold')

    assert query.variables == ("__rate_interval", "app", "os_version", "threshold")


@pytest.mark.parametrize(
    "expr",
    ["sum(a", "sum(a))", "a{job=}", 'a{job="x"', "by (x) a", "a ~ b", 'a{job="unterminated}'],
)
def test_an_unreadable_expression_raises(expr: str) -> None:
    with pytest.raises(PromQLError):
        scan(expr)
