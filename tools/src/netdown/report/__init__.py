"""Reports that answer with numbers a person can act on (``netdown-report``).

``releases``: is a release worse than the rest of the fleet, by how much, how sure are we
(:mod:`netdown.report.releases`); ``suspects``: which device facts go with being affected
(:mod:`netdown.report.suspects`). Both read Prometheus, the device-facts and incidents topics, or
NDJSON files (:mod:`netdown.report.sources`), and rest on the interval maths of
:mod:`netdown.report.stats`. See docs/reports.md.
"""

__all__: list[str] = []
