"""Grafana-managed equivalents of the Prometheus alerts, as Grafana file provisioning (``apiVersion: 1``).

For teams that alert from Grafana instead of Prometheus/Alertmanager. Each rule runs the very PromQL
of its Prometheus alert against the provisioned Prometheus datasource (uid
:data:`~netdown.dashboards.config.GRAFANA_DATASOURCE_UID`), so Prometheus must still load the
recording rules (``netdown.rules.yml``: the spike baseline and the per-release ratios need their
history); only the alert rules file is replaced by this one.

A Prometheus alert fires for every series its expression returns, whatever the value. Grafana
evaluates a condition instead, so each rule chains the query (A) with a math expression that is 1
for any returned number (B) and a threshold on it (C): the same translation Grafana's own
Prometheus-rule import makes. No data means nothing crossed a threshold (``noDataState: OK``).
Annotations are the Prometheus ones with ``$value`` read from the query, ``$values.A.Value``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from netdown.dashboards.config import GRAFANA_DATASOURCE_UID

__all__ = ["FOLDER", "provisioning", "rule"]

FOLDER: Final = "netdown"
_EXPRESSIONS: Final = {"type": "__expr__", "uid": "__expr__"}
# The instant query looks back no further than its own PromQL says; Grafana still wants a range.
_RELATIVE_TIME_RANGE: Final = {"from": 600, "to": 0}


def rule(prometheus_rule: Mapping[str, Any], datasource_uid: str = GRAFANA_DATASOURCE_UID) -> dict[str, Any]:
    """One Grafana alert rule for one Prometheus alerting rule: same PromQL, ``for``, labels and annotations."""
    name, expr = prometheus_rule["alert"], prometheus_rule["expr"]
    query = {
        "refId": "A",
        "relativeTimeRange": _RELATIVE_TIME_RANGE,
        "datasourceUid": datasource_uid,
        "model": {
            "datasource": {"type": "prometheus", "uid": datasource_uid},
            "editorMode": "code",
            "expr": expr,
            "instant": True,
            "range": False,
            "refId": "A",
        },
    }
    returned = {
        "refId": "B",
        "datasourceUid": "__expr__",
        "model": {
            "datasource": _EXPRESSIONS,
            "type": "math",
            "expression": "is_number($A) || is_nan($A) || is_inf($A)",
            "refId": "B",
        },
    }
    condition = {
        "refId": "C",
        "datasourceUid": "__expr__",
        "model": {
            "datasource": _EXPRESSIONS,
            "type": "threshold",
            "expression": "B",
            "conditions": [{"evaluator": {"type": "gt", "params": [0]}}],
            "refId": "C",
        },
    }
    annotations = {
        key: value.replace("$value", "$values.A.Value") for key, value in prometheus_rule["annotations"].items()
    }
    return {
        "uid": _uid(name),
        "title": name,
        "condition": "C",
        "data": [query, returned, condition],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": prometheus_rule["for"],
        "annotations": annotations,
        "labels": dict(prometheus_rule["labels"]),
        "isPaused": False,
    }


def _uid(name: str) -> str:
    """``NetdownEpisodeSpike`` -> ``netdown-episode-spike``: stable, readable, within Grafana's 40 characters."""
    return "".join(f"-{char.lower()}" if char.isupper() else char for char in name).lstrip("-")


def provisioning(prometheus_groups: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The provisioning document for Prometheus alerting rule groups: same groups, one folder, every minute."""
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": group["name"],
                "folder": FOLDER,
                "interval": "1m",
                "rules": [rule(alert) for alert in group["rules"]],
            }
            for group in prometheus_groups
        ],
    }
