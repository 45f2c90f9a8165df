"""One document, four formats, and the chart: each carries the same figures."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import msgspec
import pytest

from netdown.report.chart import write_chart
from netdown.report.figures import GroupFigures
from netdown.report.releases import ReleasesReport, document, releases_report
from netdown.report.render import duration, interval, number, percent, render, times
from netdown.report.testing import T0_MS
from netdown.report.window import DAY_MS, Window

WEEK = Window.ending(T0_MS, 7 * DAY_MS)


def _report() -> ReleasesReport:
    def group(name: str, devices: int, episodes: int, build: str | None = None) -> GroupFigures:
        return GroupFigures(
            name=build or name,
            version=name,
            devices=devices,
            device_days=devices * 7.0,
            episodes=episodes,
            stuck_share=0.002,
            duration_p50_s=95.0,
            duration_p90_s=1200.0,
        )

    versions = [group("15.2", 1000, 600), group("15.1", 2000, 400), group("14.7", 1500, 310), group("other", 3, 0)]
    builds = [group("15.2", 1000, 600, "24C101"), group("15.1", 1200, 250, "24B83"), group("15.1", 800, 150, "24B91")]
    return releases_report(
        WEEK,
        versions,
        builds,
        confidence=0.95,
        versions_source="Prometheus http://prometheus:9090",
        builds_source="topics",
        pair=("15.2", "15.1"),
    )


def test_table_is_aligned_and_names_the_flagged_release() -> None:
    text = render(document(_report()), "table")
    lines = text.splitlines()
    assert lines[0] == "netdown releases report"
    assert "flagged: 15.2, 24C101" in text
    header = next(line for line in lines if line.startswith("release  "))
    row = next(line for line in lines if line.startswith("15.2 "))
    assert len(row) <= len(header) + len("  WORSE") + 20
    assert "WORSE" in row
    # Numbers align right under their header.
    assert row.index("600") + 3 == header.index("episodes") + len("episodes")


def test_markdown_has_a_table_per_section() -> None:
    text = render(document(_report()), "markdown")
    assert "### By release (os_version)" in text
    assert "### By build (os_build)" in text
    assert "| release | devices |" in text
    assert "|:---|---:|" in text
    assert "| 15.2 | 1,000 |" in text


def test_csv_carries_raw_values_of_every_row() -> None:
    rows = list(csv.DictReader(io.StringIO(render(document(_report()), "csv"))))
    assert [(row["section"], row["name"]) for row in rows][:2] == [("version", "14.7"), ("version", "15.1")]
    assert len(rows) == 7
    flagged = next(row for row in rows if row["name"] == "15.2")
    assert flagged["flagged"] == "true"
    assert float(flagged["incidence"]) == pytest.approx(600 / 7)
    other = next(row for row in rows if row["name"] == "other")  # no episode, 21 device-days
    assert (other["ratio_to_rest"], other["ratio_low"]) == ("0.0", "0.0")
    assert float(other["ratio_high"]) > 1  # few device-days: it may still be worse


def test_json_is_the_report_structure() -> None:
    report = _report()
    data = json.loads(render(document(report), "json"))
    assert data == json.loads(msgspec.json.encode(report))
    assert data["comparison"]["verdict"] == "worse"
    assert [row["name"] for row in data["versions"] if row["flagged"]] == ["15.2"]


def test_cell_formats() -> None:
    assert number(1234.6) == "1,235"
    assert number(0.012345) == "0.0123"
    assert number(None) == "-"
    assert number(math.inf) == "inf"
    assert interval(1.9, 4.61) == "[1.90, 4.61]"
    assert interval(None, None) == "-"
    assert times(2.951) == "2.95x"
    assert percent(0.1234) == "12.3%"
    assert duration(45) == "45s"
    assert duration(750) == "12.5m"
    assert duration(3 * 86_400) == "3.0d"


def test_chart_is_a_png(tmp_path: Path) -> None:
    path = tmp_path / "incidence.png"
    write_chart(_report(), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
