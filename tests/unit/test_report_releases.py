"""The releases report: figures from records and from Prometheus, ratios to the rest, flags, comparisons."""

from __future__ import annotations

import math
import random

import pytest

from netdown.report.figures import GroupFigures, figures_from_prometheus, figures_from_records
from netdown.report.releases import compare, document, fleet_row, natural_key, release_rows, releases_report
from netdown.report.render import render
from netdown.report.sources import PrometheusAPI, Sample
from netdown.report.stats import rate_ratio_interval
from netdown.report.testing import HOUR_MS, T0_MS, device, incident
from netdown.report.window import DAY_MS, Window

DAY = Window(T0_MS, T0_MS + DAY_MS)


def _group(name: str, devices: float, episodes: int, *, days: float = 1.0) -> GroupFigures:
    return GroupFigures(name=name, version=name, devices=devices, device_days=devices * days, episodes=episodes)


# --- figures from device facts and incidents ----------------------------------------------------------------


def test_device_time_is_the_overlap_of_each_device_with_the_window() -> None:
    inside = device("mac-inside-01", first_seen_ms=T0_MS + 6 * HOUR_MS, last_seen_ms=T0_MS + 12 * HOUR_MS)
    straddling = device("mac-straddle-01", first_seen_ms=T0_MS - DAY_MS, last_seen_ms=T0_MS + 6 * HOUR_MS)
    before = device("mac-before-001", first_seen_ms=T0_MS - DAY_MS, last_seen_ms=T0_MS - HOUR_MS)
    once = device("mac-once-00001", first_seen_ms=T0_MS + HOUR_MS, last_seen_ms=T0_MS + HOUR_MS)
    (build,) = figures_from_records([inside, straddling, before, once], [], DAY, "build", 300_000)
    assert build.devices == 3  # seen in the window, even once
    assert build.device_days == pytest.approx(0.5)  # 6 h + 6 h


def test_episodes_are_those_opened_in_the_window_on_their_own_build() -> None:
    old = device("mac-old-build-1", os_build="24B83", os_version="15.1")
    new = device("mac-new-build-1", os_build="24C101", os_version="15.2")
    upgraded_later = device("mac-old-build-1", os_build="24C101", os_version="15.2")
    incidents = [
        incident(old, T0_MS + HOUR_MS, closed_ms=T0_MS + HOUR_MS + 60_000),
        incident(new, T0_MS + 2 * HOUR_MS, closed_ms=T0_MS + 2 * HOUR_MS + 120_000),
        incident(new, T0_MS - HOUR_MS),  # before the window
    ]
    figures = {g.name: g for g in figures_from_records([upgraded_later, new], incidents, DAY, "build", 300_000)}
    assert figures["24B83"].episodes == 1  # the build it was opened on
    assert figures["24B83"].devices == 0
    assert figures["24B83"].version == "15.1"
    assert figures["24C101"].episodes == 1
    assert figures["24C101"].duration_p50_s == pytest.approx(120.0)


def test_releases_from_records_use_the_metric_label_of_the_version() -> None:
    figures = figures_from_records(
        [device("mac-a-0000001", os_version="15.2.1"), device("mac-b-0000001", os_version="15.2")],
        [],
        DAY,
        "version",
        1,
    )
    assert [(g.name, g.devices) for g in figures] == [("15.2", 2)]


def test_stuck_share_counts_time_past_the_threshold_over_device_time() -> None:
    mac = device("mac-stuck-00001", first_seen_ms=T0_MS, last_seen_ms=T0_MS + DAY_MS)
    # Stuck after 1 h, closed 7 h after opening: 6 h stuck of 24 h.
    stuck = incident(mac, T0_MS + HOUR_MS, closed_ms=T0_MS + 8 * HOUR_MS, stuck=True)
    (figures,) = figures_from_records([mac], [stuck], DAY, "build", HOUR_MS)
    assert figures.stuck_share == pytest.approx(0.25)


def test_duration_quantiles_interpolate_between_closed_episodes() -> None:
    mac = device("mac-durations01")
    opened = [T0_MS + HOUR_MS + i * 60_000 for i in range(10)]
    incidents = [
        incident(mac, at, closed_ms=at + seconds * 1000) for at, seconds in zip(opened, range(1, 11), strict=True)
    ]
    incidents.append(incident(mac, T0_MS + 2 * HOUR_MS))  # still open: no duration
    (figures,) = figures_from_records([mac], incidents, DAY, "build", HOUR_MS)
    assert figures.duration_p50_s == pytest.approx(5.5)
    assert figures.duration_p90_s == pytest.approx(9.1)


# --- figures from Prometheus ---------------------------------------------------------------------------------


class _CannedPrometheus(PrometheusAPI):
    """Answers each query by the metric it names; records the queries."""

    def __init__(self, answers: dict[str, list[Sample]]) -> None:
        super().__init__("http://prometheus.invalid:9090")
        object.__setattr__(self, "answers", answers)
        object.__setattr__(self, "asked", [])

    def query(self, expr: str, at_ms: int) -> list[Sample]:
        self.asked.append((expr, at_ms))  # type: ignore[attr-defined]
        for key, samples in self.answers.items():  # type: ignore[attr-defined]
            if key in expr:
                return samples  # type: ignore[no-any-return]
        raise AssertionError(f"unexpected query {expr}")


def test_prometheus_figures_integrate_the_active_gauge_and_round_increases() -> None:
    window = Window.ending(T0_MS, 2 * DAY_MS)  # 2 days, gauges sampled every 86 s
    api = _CannedPrometheus(
        {
            "0.5,": [({"os_version": "15.2"}, 95.0), ({"os_version": "15.1"}, math.nan)],
            "0.9,": [({"os_version": "15.2"}, 900.0)],
            "netdown_devices_active": [({"os_version": "15.2"}, 2000.0), ({"os_version": "15.1"}, 4000.0)],
            "netdown_devices_stuck": [({"os_version": "15.2"}, 20.0)],
            "netdown_episodes_total": [({"os_version": "15.2"}, 29.6), ({"os_version": "other"}, 1.2)],
        }
    )
    figures = {g.name: g for g in figures_from_prometheus(api, window, 'job="netdown-stream"')}
    step_s = 86  # 2 days / 2000 points
    assert figures["15.2"].device_days == pytest.approx(2000 * step_s / 86_400)
    assert figures["15.2"].devices == pytest.approx(2000 * step_s / (2 * 86_400))
    assert figures["15.2"].episodes == 30
    assert figures["15.2"].stuck_share == pytest.approx(0.01)
    assert figures["15.2"].duration_p50_s == 95.0
    assert figures["15.1"].duration_p50_s is None  # NaN: no closed episode
    assert figures["other"].device_days == 0
    assert figures["other"].episodes == 1
    queries = [expr for expr, _ in api.asked]  # type: ignore[attr-defined]
    assert all('job="netdown-stream"' in expr for expr in queries)
    assert all(at == T0_MS for _, at in api.asked)  # type: ignore[attr-defined]
    assert any("[2d:86s]" in expr for expr in queries)
    assert any("increase(netdown_episodes_total{" in expr and "[2d]" in expr for expr in queries)


# --- the ratio to the rest and the flag ------------------------------------------------------------------------


def test_ratio_to_rest_compares_with_every_other_release_pooled() -> None:
    figures = [_group("15.2", 1000, 60), _group("15.1", 1000, 20), _group("14.7", 2000, 40)]
    rows, _ = release_rows(figures, "version", 0.95)
    row = next(r for r in rows if r.name == "15.2")
    # 60 per 1,000 device-days against (20 + 40) / 3,000 = 20: three times, not 60 / (120 / 4,000) = 2.
    assert row.ratio_to_rest == pytest.approx(3.0)
    assert row.incidence == pytest.approx(60.0)
    expected = rate_ratio_interval(60, 1000, 60, 3000, 0.95)
    assert expected is not None
    assert (row.ratio_low, row.ratio_high) == pytest.approx(expected)


def test_a_clearly_worse_release_is_flagged_and_the_others_are_not() -> None:
    figures = [_group("15.2", 1000, 90), _group("15.1", 1000, 30), _group("14.7", 1000, 33), _group("14.6", 1000, 27)]
    rows, level = release_rows(figures, "version", 0.95)
    assert [r.name for r in rows if r.flagged] == ["15.2"]
    assert level == pytest.approx(1 - 0.05 / 4)


def test_the_flag_uses_the_familywise_level() -> None:
    # A ratio whose 95% interval just clears 1 but whose Bonferroni interval does not: shown, not flagged.
    # 33 episodes against 20 on each of nine others: 95% interval [1.10, 2.40], at 99.5% [0.92, 2.78].
    figures = [_group("v0", 1000, 33), *[_group(f"v{i}", 1000, 20) for i in range(1, 10)]]
    rows, _ = release_rows(figures, "version", 0.95)
    row = next(r for r in rows if r.name == "v0")
    assert row.ratio_low is not None
    assert row.ratio_low > 1
    assert row.ratio_low_familywise is not None
    assert row.ratio_low_familywise < 1
    assert not row.flagged


def test_a_release_alone_or_without_devices_has_no_ratio() -> None:
    rows, _ = release_rows([_group("15.2", 100, 3)], "version", 0.95)
    assert rows[0].ratio_to_rest is None
    assert not rows[0].flagged
    rows, _ = release_rows([_group("15.2", 100, 3), _group("other", 0, 2)], "version", 0.95)
    assert next(r for r in rows if r.name == "other").incidence is None


def test_healthy_fleets_are_rarely_flagged() -> None:
    # Ten releases with one true rate, 50 seeds: with the family-wise level at most ~5% of fleets get any flag.
    rng = random.Random(7)
    flagged_fleets = 0
    for _ in range(50):
        figures = [_group(f"v{i}", 500, _poisson(rng, 500 * 0.04)) for i in range(10)]
        rows, _ = release_rows(figures, "version", 0.95)
        flagged_fleets += any(row.flagged for row in rows)
    assert flagged_fleets <= 5


def _poisson(rng: random.Random, mean: float) -> int:
    count, product, limit = 0, rng.random(), math.exp(-mean)
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def test_fleet_row_adds_up_the_releases() -> None:
    fleet = fleet_row([_group("15.2", 1000, 60), _group("15.1", 3000, 60)], 0.95)
    assert fleet.episodes == 120
    assert fleet.incidence == pytest.approx(30.0)
    assert fleet.incidence_low is not None
    assert fleet.incidence_low < 30.0 < (fleet.incidence_high or 0)


# --- comparing two releases ----------------------------------------------------------------------------------


def test_compare_gives_a_verdict_with_the_ratio_and_its_interval() -> None:
    rows, _ = release_rows(
        [_group("15.2", 1000, 90), _group("15.1", 1000, 30), _group("14.7", 1000, 31)], "version", 0.95
    )
    worse = compare(rows, "15.2", "15.1", 0.95)
    assert worse.verdict == "worse"
    assert worse.ratio == pytest.approx(3.0)
    assert worse.low is not None
    assert worse.low > 1
    assert "15.2 is worse than 15.1: 3.00x" in worse.summary
    assert compare(rows, "15.1", "15.2", 0.95).verdict == "better"
    same = compare(rows, "15.1", "14.7", 0.95)
    assert same.verdict == "no difference detected"
    assert same.low is not None
    assert same.low < 1 < (same.high or 0)
    with pytest.raises(KeyError):
        compare(rows, "15.2", "16.0", 0.95)


def test_natural_order_of_releases() -> None:
    names = ["15.10", "other", "15.2", "14.7", "15.2.1"]
    assert sorted(names, key=natural_key) == ["14.7", "15.2", "15.2.1", "15.10", "other"]


def test_report_and_its_document_carry_both_levels() -> None:
    macs = [device(f"mac-{i:010d}", os_build="24C101" if i % 2 else "24B83") for i in range(40)]
    incidents = [incident(mac, T0_MS + HOUR_MS) for mac in macs[:10]]
    builds = figures_from_records(macs, incidents, DAY, "build", 300_000)
    report = releases_report(
        DAY,
        [_group("15.2", 20, 5), _group("15.1", 20, 5)],
        builds,
        confidence=0.95,
        versions_source="test",
        builds_source="test records",
        pair=("24C101", "24B83"),
    )
    assert [row.name for row in report.builds] == ["24B83", "24C101"]
    assert report.comparison is not None
    text = render(document(report), "table")
    assert "By build (os_build)" in text
    assert "24C101" in text
    assert "compare:" in text
