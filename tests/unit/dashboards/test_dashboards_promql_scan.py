"""The PromQL reader behind the dashboard lint (promql-parser's tree): selectors, what aggregates them, windows."""

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


def test_variables_in_windows_and_offsets_read_back_as_written_and_in_label_values_stay() -> None:
    query = scan(
        'sum(rate(a{os_version=~"${os_version:regex}"}[$__rate_interval])) + max_over_time(b[${__range_s}s] '
        "offset $shift) + sum(avg_over_time(c[$__range:$__interval]))"
    )

    assert query.windows == ("$__rate_interval", "${__range_s}s", "$__range:$__interval")
    assert query.selectors[0].matches("os_version", "=~", "${os_version:regex}")
    assert query.selectors[1].range == "${__range_s}s"
    assert query.variables == ("__interval", "__range", "__range_s", "__rate_interval", "os_version", "shift")


def test_windows_read_as_prometheus_prints_durations_and_values_unescaped() -> None:
    query = scan(r'increase(a{app=~"com\\.example\\..*"}[24h]) + rate(b[90s]) + max_over_time(c[1d:])')

    assert query.windows == ("1d", "1m30s", "1d:")
    assert query.selectors[0].matches("app", "=~", r"com\.example\..*")


def test_an_aggregations_parameter_is_not_aggregated_by_it() -> None:
    k, series = scan("topk(scalar(sum(a)), b)").selectors

    assert k.aggregations == (Aggregation("sum", None, ()),)
    assert k.functions == ("scalar",)
    assert series.aggregations == (Aggregation("topk", None, ()),)


@pytest.mark.parametrize(
    "expr",
    [
        "sum(a",
        "sum(a))",
        "a{job=}",
        'a{job="x"',
        "by (x) a",
        "a ~ b",
        'a{job="unterminated}',
        "rate(a)",  # a rate needs a range vector
        "sum(rate(a[5m])) offset 5m",  # offset follows a selector or subquery only
        "no_such_function(a)",
        'a{job="x" or job="y"}',  # promql-parser reads it; Prometheus does not
        "a[5x]",
        'a{job=~"("}',
    ],
)
def test_an_expression_prometheus_would_refuse_raises(expr: str) -> None:
    with pytest.raises(PromQLError):
        scan(expr)


def test_the_error_is_the_parsers_message() -> None:
    with pytest.raises(PromQLError, match="expected type matrix in call to function 'rate'"):
        scan("rate(a)")
