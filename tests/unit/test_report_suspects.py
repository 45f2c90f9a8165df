"""The suspects report on hand-built fleets: what a device has, lacks or hides, lifts, support, ranking."""

from __future__ import annotations

import pytest

from netdown.detection.device_facts import DeviceFacts
from netdown.detection.incident import Incident
from netdown.report.facts import FactView, fact_family, fact_view
from netdown.report.render import render
from netdown.report.stats import risk_ratio_interval
from netdown.report.suspects import document, suspects
from netdown.report.testing import HOUR_MS, T0_MS, device, incident
from netdown.report.window import DAY_MS, Window

DAY = Window(T0_MS, T0_MS + DAY_MS)
VPN = "com.example.vpn.tunnel"
FILTER = "com.acme.filter"


def test_fact_view_names_what_a_device_has_and_what_is_known() -> None:
    mac = device("mac-facts-0001", extensions=(VPN, FILTER), include_all_networks=True, os_build="24C101")
    assert fact_view(mac) == FactView(
        has=frozenset({f"extension:{VPN}", f"extension:{FILTER}", "vpn:include_all_networks", "build:24C101"}),
        known=frozenset({"extension", "vpn:include_all_networks", "build"}),  # the other flags are null
    )


def test_a_device_that_never_reported_facts_neither_has_nor_lacks_an_extension() -> None:
    silent = DeviceFacts(
        device_id="mac-silent-001", platform="darwin", os_version="15.2", os_build="", first_seen_ms=0, last_seen_ms=1
    )
    assert fact_view(silent) == FactView(has=frozenset(), known=frozenset())


def test_fact_families() -> None:
    assert fact_family(f"extension:{FILTER}") == "extension"
    assert fact_family("build:24C101") == "build"
    assert fact_family("vpn:include_all_networks") == "vpn:include_all_networks"


def _fleet(with_filter: tuple[int, int], without: tuple[int, int]) -> tuple[list[DeviceFacts], list[Incident]]:
    """(devices, affected) with the filter and without it; affected devices get one episode."""
    macs, hits = [], []
    for group, (count, affected) in (("f", with_filter), ("n", without)):
        for index in range(count):
            extensions = (VPN, FILTER) if group == "f" else (VPN,)
            mac = device(f"mac-{group}-{index:08d}", extensions=extensions, include_all_networks=index % 2 == 0)
            macs.append(mac)
            if index < affected:
                hits.append(incident(mac, T0_MS + HOUR_MS))
    return macs, hits


def test_lift_compares_the_affected_share_with_and_without_the_fact() -> None:
    macs, hits = _fleet(with_filter=(100, 30), without=(400, 40))
    report = suspects(macs, hits, DAY)
    row = next(r for r in report.ranked if r.fact == f"extension:{FILTER}")
    assert (row.devices_with, row.affected_with, row.devices_without, row.affected_without) == (100, 30, 400, 40)
    assert row.rate_with == pytest.approx(0.3)
    assert row.rate_without == pytest.approx(0.1)
    assert row.lift == pytest.approx(3.0)
    assert (row.lift_low, row.lift_high) == pytest.approx(tuple(risk_ratio_interval(30, 100, 40, 400, 0.95)))
    assert row.share_of_affected == pytest.approx(30 / 70)
    assert row.share_of_unaffected == pytest.approx(70 / 430)
    assert row.rank == 1
    assert row.flagged
    assert report.devices == 500
    assert report.affected == 70


def test_facts_every_device_has_or_few_have_are_listed_apart() -> None:
    macs, hits = _fleet(with_filter=(10, 5), without=(400, 40))
    report = suspects(macs, hits, DAY)
    apart = {row.fact for row in report.low_support}
    assert apart == {f"extension:{FILTER}", f"extension:{VPN}", "build:24C101"}  # 10 with; none without (x2)
    assert all(row.rank is None and not row.flagged for row in report.low_support)
    assert [row.fact for row in report.ranked] == ["vpn:include_all_networks"]


def test_a_neutral_fact_is_ranked_but_not_flagged() -> None:
    macs, hits = _fleet(with_filter=(200, 20), without=(200, 20))
    report = suspects(macs, hits, DAY)
    assert not any(row.flagged for row in report.ranked)


def test_ranking_prefers_the_better_supported_lift() -> None:
    # A rare proxy: 8 of 20 affected, lift 2.5 but a wide interval (from 1.4); a filter: 100 of 400, lift 2.3
    # with a narrow one (from 1.7); 58 of 580 others. The filter is the better supported suspect.
    macs, hits = [], []
    for extra, count, affected in (("com.rare.proxy", 20, 8), (FILTER, 400, 100), (None, 580, 58)):
        for index in range(count):
            mac = device(f"mac-{extra}-{index:06d}", extensions=(VPN, extra) if extra else (VPN,))
            macs.append(mac)
            if index < affected:
                hits.append(incident(mac, T0_MS + HOUR_MS))
    report = suspects(macs, hits, DAY)
    rows = {row.fact: row for row in report.ranked}
    rare, common = rows["extension:com.rare.proxy"], rows[f"extension:{FILTER}"]
    assert (rare.lift or 0) > (common.lift or 0)
    assert common.rank == 1
    assert rare.rank == 2


def test_only_devices_and_episodes_in_the_window_count() -> None:
    macs, hits = _fleet(with_filter=(100, 30), without=(400, 40))
    late = Window(T0_MS + 2 * HOUR_MS, T0_MS + DAY_MS)  # after every episode
    report = suspects(macs, hits, late)
    assert report.affected == 0
    gone = suspects(macs, hits, Window(T0_MS + 2 * DAY_MS, T0_MS + 3 * DAY_MS))
    assert gone.devices == 0


def test_affected_devices_missing_from_the_facts_are_counted_not_analysed() -> None:
    macs, hits = _fleet(with_filter=(100, 30), without=(400, 40))
    stranger = device("mac-not-in-facts")
    report = suspects(macs, [*hits, incident(stranger, T0_MS + HOUR_MS)], DAY)
    assert report.affected_without_facts == 1
    assert report.affected == 70


def test_document_ranks_and_sets_apart() -> None:
    macs, hits = _fleet(with_filter=(100, 30), without=(400, 40))
    text = render(document(suspects(macs, hits, DAY)), "table")
    ranked, apart = text.split("Too little support")
    assert f"1  extension:{FILTER}" in ranked
    assert "SUSPECT" in ranked
    assert f"extension:{VPN}" in apart
