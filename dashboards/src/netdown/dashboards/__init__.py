"""Monitoring as code, next to the metrics it reads (like the Prometheus mixins).

One commented configuration of thresholds and selectors; Prometheus recording and alerting rules,
Grafana dashboards and Grafana alerting provisioning generated from it; the generated files are
committed and a drift check fails when they differ from what the code would write.
"""

__all__: list[str] = []
