"""``netdown-report suspects``: what do the affected Macs have in common?

The unit is the **device**, not the episode: a device is *affected* when at least one episode opened
on it in the window, among the devices seen in the window. For every fact some devices have and
others lack (:mod:`netdown.report.facts`), the report compares the share of devices affected with the
fact to the share affected without it. Their ratio is the **lift** (a risk ratio: "devices with this
content filter are 3.1 times as likely to be affected"), with Katz's log interval.

Facts are **ranked** by the lower bound of that interval, the lift the data supports with the
stated confidence: a fact on 30 devices with a lift of 6 but an interval down to 0.8 ranks below one
on 3,000 devices with a lift of 2.5 and an interval from 2.1. Facts with too little support (too few
devices with or without them, or too few affected devices in all) are listed apart, unranked: their
intervals are too wide or too unreliable to order. A ranked fact is **flagged** when its lift
exceeds 1 at the Bonferroni family-wise level over the ranked facts, so that scanning dozens of
extensions and builds does not flag an innocent one by chance.

A lift says "goes with", not "causes": two facts that travel together (a filter vendor that ships
only to one customer, whose Macs also run one build) share their lift.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Final

import msgspec

from netdown.detection.device_facts import DeviceFacts
from netdown.detection.incident import Incident
from netdown.report import render
from netdown.report.facts import FactView, fact_family, fact_view
from netdown.report.stats import family_confidence, risk_ratio, risk_ratio_interval
from netdown.report.window import Window

__all__ = [
    "DEFAULT_MIN_AFFECTED",
    "DEFAULT_MIN_DEVICES",
    "SuspectRow",
    "SuspectsReport",
    "document",
    "suspects",
]

DEFAULT_MIN_DEVICES: Final = 20
DEFAULT_MIN_AFFECTED: Final = 5


class SuspectRow(msgspec.Struct, frozen=True, kw_only=True):
    """One fact: who has it, who is affected on each side, the lift with its interval."""

    fact: str
    devices_with: int
    affected_with: int
    devices_without: int
    affected_without: int
    rate_with: float  # share of devices with the fact that were affected
    rate_without: float
    share_of_affected: float  # of the affected devices the fact is known for, the share that have it
    share_of_unaffected: float
    lift: float | None  # None when no device is affected on either side; inf when none without
    lift_low: float
    lift_high: float
    lift_low_familywise: float | None  # the lower bound the flag uses (ranked facts only)
    flagged: bool
    rank: int | None  # 1 = the strongest suspect; None = too little support to rank


class SuspectsReport(msgspec.Struct, frozen=True, kw_only=True):
    """The whole report, as the JSON output carries it."""

    start_ms: int
    end_ms: int
    confidence: float
    familywise_confidence: float
    min_devices: int
    min_affected: int
    devices: int  # seen in the window
    affected: int
    affected_without_facts: int  # affected devices the facts do not describe (not in the analysis)
    ranked: list[SuspectRow]
    low_support: list[SuspectRow]


class _Counts(msgspec.Struct):
    devices_with: int = 0
    affected_with: int = 0
    devices_known: int = 0
    affected_known: int = 0


def suspects(
    devices: Iterable[DeviceFacts],
    incidents: Iterable[Incident],
    window: Window,
    *,
    confidence: float = 0.95,
    min_devices: int = DEFAULT_MIN_DEVICES,
    min_affected: int = DEFAULT_MIN_AFFECTED,
) -> SuspectsReport:
    """Every fact's lift over the devices seen in ``window``, ranked, the thinly supported ones apart."""
    seen = [device for device in devices if window.touches(device.first_seen_ms, device.last_seen_ms)]
    hit = {incident.device_id for incident in incidents if window.holds(incident.opened_ms)}
    views = [(fact_view(device), device.device_id in hit) for device in seen]
    counts = _count(views)
    rows = [_row(fact, tally, confidence) for fact, tally in counts.items()]
    supported = [row for row in rows if _supported(row, min_devices, min_affected)]
    level = family_confidence(confidence, len(supported))
    ranked = sorted((_flag(row, level) for row in supported), key=_strength)
    low = sorted((row for row in rows if not _supported(row, min_devices, min_affected)), key=lambda r: r.fact)
    affected = sum(is_hit for _, is_hit in views)
    return SuspectsReport(
        start_ms=window.start_ms,
        end_ms=window.end_ms,
        confidence=confidence,
        familywise_confidence=level,
        min_devices=min_devices,
        min_affected=min_affected,
        devices=len(seen),
        affected=affected,
        affected_without_facts=len(hit - {device.device_id for device in seen}),
        ranked=[msgspec.structs.replace(row, rank=index) for index, row in enumerate(ranked, start=1)],
        low_support=low,
    )


def _count(views: list[tuple[FactView, bool]]) -> dict[str, _Counts]:
    """Per fact: devices with it and affected among them, and devices for which it is known at all."""
    known_devices: Counter[str] = Counter()
    known_affected: Counter[str] = Counter()
    counts: dict[str, _Counts] = {}
    for view, is_hit in views:
        for family in view.known:
            known_devices[family] += 1
            known_affected[family] += is_hit
        for fact in view.has:
            tally = counts.setdefault(fact, _Counts())
            tally.devices_with += 1
            tally.affected_with += is_hit
    for fact, tally in counts.items():
        family = fact_family(fact)
        tally.devices_known, tally.affected_known = known_devices[family], known_affected[family]
    return counts


def _row(fact: str, tally: _Counts, confidence: float) -> SuspectRow:
    n1, a = tally.devices_with, tally.affected_with
    n0, c = tally.devices_known - n1, tally.affected_known - a
    affected, unaffected = a + c, n1 + n0 - a - c
    lift = interval = None
    if n0 > 0:
        value = risk_ratio(a, n1, c, n0)
        lift = None if math.isnan(value) else value
        interval = risk_ratio_interval(a, n1, c, n0, confidence)
    return SuspectRow(
        fact=fact,
        devices_with=n1,
        affected_with=a,
        devices_without=n0,
        affected_without=c,
        rate_with=a / n1,
        rate_without=c / n0 if n0 else math.nan,
        share_of_affected=a / affected if affected else math.nan,
        share_of_unaffected=(n1 - a) / unaffected if unaffected else math.nan,
        lift=lift,
        lift_low=interval.low if interval else math.nan,
        lift_high=interval.high if interval else math.nan,
        lift_low_familywise=None,
        flagged=False,
        rank=None,
    )


def _supported(row: SuspectRow, min_devices: int, min_affected: int) -> bool:
    return (
        row.devices_with >= min_devices
        and row.devices_without >= min_devices
        and row.affected_with + row.affected_without >= min_affected
    )


def _flag(row: SuspectRow, level: float) -> SuspectRow:
    interval = risk_ratio_interval(
        row.affected_with, row.devices_with, row.affected_without, row.devices_without, level
    )
    return msgspec.structs.replace(row, lift_low_familywise=interval.low, flagged=interval.low > 1)


def _strength(row: SuspectRow) -> tuple[float, float, str]:
    """Strongest first: the supported lift (the interval's lower bound), then the lift; the name breaks ties."""
    return (-row.lift_low, -(row.lift if row.lift is not None else 0.0), row.fact)


def document(report: SuspectsReport) -> render.Document:
    """The report laid out for people (see :mod:`netdown.report.render`)."""
    level = render.confidence(report.confidence)
    header = [
        f"window: {Window(report.start_ms, report.end_ms).describe()}",
        f"devices seen: {report.devices:,}; affected (an episode opened in the window): {report.affected:,}"
        + (
            f"; affected but absent from the facts: {report.affected_without_facts:,}"
            if report.affected_without_facts
            else ""
        ),
        f"flagged: {', '.join(row.fact for row in report.ranked if row.flagged) or 'none'}",
    ]
    if report.affected_without_facts:
        header.insert(2, f"affected devices absent from the facts (left out): {report.affected_without_facts:,}")
    sides = [
        render.Column("with", lambda r: f"{r['devices_with']:,}"),
        render.Column("affected", lambda r: f"{r['affected_with']:,} ({render.percent(r['rate_with'])})"),
        render.Column("without", lambda r: f"{r['devices_without']:,}"),
        render.Column("affected", lambda r: f"{r['affected_without']:,} ({render.percent(r['rate_without'])})"),
    ]
    lift = [
        render.Column("lift", lambda r: render.times(r["lift"])),
        render.Column(f"{level} CI", lambda r: render.interval(r["lift_low"], r["lift_high"])),
    ]
    fact = render.Column("fact", lambda r: str(r["fact"]), left=True)
    ranked = [
        render.Column("#", lambda r: str(r["rank"])),
        fact,
        *sides,
        render.Column("of affected", lambda r: render.percent(r["share_of_affected"])),
        render.Column("of unaffected", lambda r: render.percent(r["share_of_unaffected"])),
        *lift,
        render.Column("flag", lambda r: "SUSPECT" if r["flagged"] else "", left=True),
    ]
    sections = [
        render.Section("ranked", "Ranked suspects", ranked, render.records(report.ranked)),
        render.Section(
            "low_support",
            f"Too little support to rank (< {report.min_devices} devices with or without, "
            f"or < {report.min_affected} affected in all)",
            [fact, *sides, *lift],
            render.records(report.low_support),
        ),
    ]
    notes = [
        "with/without: devices seen in the window that have / lack the fact (devices for which it is unknown are "
        "in neither); affected: of those, the devices with an episode, and their share.",
        "of affected / of unaffected: the share of affected (unaffected) devices that have the fact.",
        f"lift: the affected share with the fact over the share without it, with Katz's {level} log interval; "
        "ranked by the interval's lower bound.",
        f"SUSPECT: lift above 1 at the family-wise level, {render.confidence(report.familywise_confidence)} per fact "
        f"(Bonferroni: {level} for all ranked facts at once). A lift means 'goes with', not 'causes'. "
        "See docs/reports.md.",
    ]
    return render.Document("netdown suspects report", header, sections, notes, report)
