"""The generated Prometheus rules and Grafana alerting: committed, complete, uniform, and tested per alert."""

from __future__ import annotations

import re
import runpy
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from netdown.dashboards.config import CONFIG, GRAFANA_DATASOURCE_UID, JOB
from netdown.dashboards.rules import (
    GRAFANA_ALERTING,
    PROMETHEUS_DIR,
    Alert,
    alert_groups,
    duration,
    main,
    recording_groups,
    render,
)

ROOT: Final = Path(__file__).resolve().parents[3]
TESTS_DIR: Final = ROOT / PROMETHEUS_DIR / "tests"
RUNBOOK: Final = ROOT / "docs" / "runbook.md"
WORKER_METRICS: Final = ROOT / "tests" / "fixtures" / "metrics" / "worker.prom"
ALERTS: Final = [alert for group in alert_groups() for alert in group.alerts]
# A metric the workers expose, as it appears in PromQL (recording rules' names contain a colon).
RAW_METRIC: Final = re.compile(r"(?<![\w:])(netdown_[a-z0-9_]+|up)\b(?![:(])")


def _exprs() -> list[str]:
    return [rule.expr for group in recording_groups() for rule in group.records] + [alert.expr for alert in ALERTS]


@pytest.mark.parametrize("path", sorted(render()))
def test_committed_files_equal_what_the_config_generates(path: str) -> None:
    committed = ROOT / path

    assert committed.is_file(), f"{path} is missing: run `python -m netdown.dashboards.rules`"
    assert committed.read_text(encoding="utf-8") == render()[path], (
        f"{path} is stale: run `python -m netdown.dashboards.rules`"
    )


def test_no_stray_rule_file_is_left_behind() -> None:
    generated = {path for path in render() if path.startswith(PROMETHEUS_DIR)}

    assert {str(path.relative_to(ROOT)) for path in (ROOT / PROMETHEUS_DIR).glob("*.yml")} == generated


def test_check_names_each_stale_file_until_the_files_are_generated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--check", "--root", str(tmp_path)]) == 1
    errors = capsys.readouterr().err
    assert all(f"{tmp_path / path} is stale" in errors for path in render())

    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--check", "--root", str(tmp_path)]) == 0


def test_the_alerts_are_the_seven_of_the_design_with_their_severities() -> None:
    severities = {alert.name: alert.severity for alert in ALERTS}

    assert severities == {
        "NetdownEpisodeSpike": "page",
        "NetdownReleaseRegression": "ticket",
        "NetdownDevicesStuck": "page",
        "NetdownPipelineStalled": "page",
        "NetdownEventLoss": "ticket",
        "NetdownRejectedEvents": "ticket",
        "NetdownAgentsBlind": "ticket",
    }


@pytest.mark.parametrize("alert", ALERTS, ids=lambda alert: alert.name)
def test_every_alert_has_the_uniform_anatomy(alert: Alert) -> None:
    headings = re.findall(r"^## (\S+)$", RUNBOOK.read_text(encoding="utf-8"), flags=re.MULTILINE)

    assert alert.for_ > timedelta(0)
    assert "{{" not in alert.summary, "the summary is static, so notifications group and dedupe on it"
    assert "$value" in alert.description or "$labels" in alert.description
    assert alert.runbook_url == f"{CONFIG.runbook_url}#{alert.name.lower()}"
    assert alert.name in headings, f"docs/runbook.md has no section `## {alert.name}`"


def test_alerts_fire_within_the_on_call_budget_by_construction() -> None:
    """Window plus `for` (plus T for stuck devices) fit the budgets: pages 20 min, regression 4 h, loss/rejected 2 h,
    blind agents 1 h (a heartbeat, at most 5 min apart, says a source stopped, then `for`)."""
    spike, regression, stuck, stalled = CONFIG.spike, CONFIG.regression, CONFIG.stuck, CONFIG.stalled
    stuck_after = timedelta(minutes=5)  # T, the detector's stuck threshold

    assert spike.window + spike.for_ <= timedelta(minutes=20)
    assert stuck_after + stuck.for_ <= timedelta(minutes=20)
    assert stalled.idle_window + stalled.for_ <= timedelta(minutes=20)
    assert regression.window + regression.for_ <= timedelta(hours=4)
    for ticket in (CONFIG.loss, CONFIG.rejected):
        assert ticket.window + ticket.for_ <= timedelta(hours=2)
    assert timedelta(minutes=5) + CONFIG.blind.for_ <= timedelta(hours=1)
    assert spike.history_days * timedelta(days=1) + spike.history_span / 2 <= timedelta(days=7), "a week at most"


def test_rules_read_only_series_the_workers_expose_and_always_by_job() -> None:
    exposed = set(re.findall(r"^# TYPE (\S+) ", WORKER_METRICS.read_text(encoding="utf-8"), flags=re.MULTILINE))
    read = {match.group(1) for expr in _exprs() for match in RAW_METRIC.finditer(expr)}

    assert read - {"up"} <= exposed, f"not in the worker's /metrics: {sorted(read - {'up'} - exposed)}"
    for expr in _exprs():
        for match in RAW_METRIC.finditer(expr):
            assert expr[match.end() :].startswith(f'{{job="{JOB}"}}'), f"{match.group(1)} without the job in {expr}"


def test_rules_only_ever_sum_over_instances_and_partitions() -> None:
    """A partition moves between workers with its cumulative series: per-instance or per-partition values jump."""
    for expr in _exprs():
        assert not re.search(r"\b(instance|partition)\b", expr), expr


def test_every_rule_name_is_unique_across_the_files() -> None:
    names = [rule.record for group in recording_groups() for rule in group.records] + [a.name for a in ALERTS]
    groups = [group.name for group in recording_groups()] + [group.name for group in alert_groups()]

    assert len(names) == len(set(names))
    assert len(groups) == len(set(groups))


def _quiet_and_firing(test_file: dict[str, Any], alert: str) -> tuple[int, int]:
    """How many checks of a promtool test file expect the alert not to fire, and how many expect it firing."""
    quiet = firing = 0
    for case in test_file["tests"]:
        for check in case.get("alert_rule_test", []):
            if check["alertname"] == alert:
                firing, quiet = (firing + 1, quiet) if check["exp_alerts"] else (firing, quiet + 1)
        for check in case.get("promql_expr_test", []):
            if f'ALERTS{{alertname="{alert}",alertstate="firing"' in check["expr"]:
                firing, quiet = (firing + 1, quiet) if check["exp_samples"] else (firing, quiet + 1)
    return quiet, firing


@pytest.mark.parametrize("group", alert_groups(), ids=lambda group: group.name)
def test_every_alert_group_has_a_test_file_with_cases_that_fire_and_cases_that_must_not(group: Any) -> None:
    path = TESTS_DIR / f"{group.name.removeprefix('netdown-')}.yml"
    test_file = yaml.safe_load(path.read_text(encoding="utf-8"))

    assert f"../{group.name}.alerts.yml" in test_file["rule_files"]
    for alert in group.alerts:
        quiet, firing = _quiet_and_firing(test_file, alert.name)
        assert firing >= 1, f"{path.name}: no case where {alert.name} fires"
        assert quiet >= 2, f"{path.name}: too few cases where {alert.name} must stay quiet"


def test_the_week_of_noisy_series_is_what_its_generator_writes() -> None:
    generator = runpy.run_path(str(TESTS_DIR / "make_series.py"))

    assert generator["OUTPUT"].read_text(encoding="utf-8") == generator["render"](), (
        "episode-spike-week.yml is stale: run `python dashboards/prometheus/tests/make_series.py`"
    )


def test_grafana_rules_mirror_the_prometheus_alerts_on_the_provisioned_datasource() -> None:
    provisioning = yaml.safe_load((ROOT / GRAFANA_ALERTING).read_text(encoding="utf-8"))
    rules = {rule["title"]: rule for group in provisioning["groups"] for rule in group["rules"]}

    assert provisioning["apiVersion"] == 1
    assert set(rules) == {alert.name for alert in ALERTS}
    for alert in ALERTS:
        rule = rules[alert.name]
        query, condition = rule["data"][0], rule["data"][-1]
        assert query["datasourceUid"] == GRAFANA_DATASOURCE_UID == query["model"]["datasource"]["uid"]
        assert query["model"]["expr"] == alert.expr
        assert query["model"]["instant"] is True
        assert set(query["relativeTimeRange"]) == {"from", "to"}
        assert rule["condition"] == condition["refId"] == "C"
        assert rule["for"] == duration(alert.for_)
        assert rule["labels"] == {"severity": alert.severity}
        assert rule["annotations"]["description"] == alert.description.replace("$value", "$values.A.Value")
        assert rule["noDataState"] == "OK"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=142, minutes=30), "142h30m"),
        (timedelta(days=1) - timedelta(seconds=30), "23h59m30s"),
    ],
)
def test_durations_are_written_as_prometheus_reads_them(value: timedelta, text: str) -> None:
    assert duration(value) == text


@pytest.mark.parametrize("value", [timedelta(0), timedelta(milliseconds=1500)])
def test_a_duration_prometheus_cannot_take_is_refused(value: timedelta) -> None:
    with pytest.raises(ValueError, match="whole number of seconds"):
        duration(value)
