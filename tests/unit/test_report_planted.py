"""The suspects report finds a planted cause and leaves a planted red herring alone, over many simulated fleets.

Each seed simulates 400 Macs for 20 minutes with two planted correlates: a content filter on 20% of
them that triples their episode hazard, and ``includeAllNetworks`` on half of them with no effect.
Each fleet goes the way of a post-mortem: the capture through ``netdown-stream replay --devices-out``,
its incidents and device facts through ``netdown-report suspects --format json``. Over 20 seeds:

* the filter is ranked first, with a 95% interval above 1, in every fleet, and flagged (above 1 at
  the family-wise level) in at least 90% of them: a fleet this size has that much power;
* ``includeAllNetworks`` is never flagged;
* the interval covers the true lift in at least 90% of fleets (it should in about 95%). The true
  lift is the simulator's: each device's chance of at least one episode in the run,
  1 - exp(-hazard x duration), averaged over the devices with the filter and over those without,
  and divided. (Not from each device's ``expected_episodes``: the time an affected device spends in
  its own episodes is not at risk, so that figure shrinks with the outcome and biases the truth low.)
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import pytest

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.report.cli import main as report
from netdown.sim import Correlate, FleetSpec, Simulation, simulate
from netdown.sim.files import write_capture
from netdown.stream.cli import main as stream

SEEDS: Final = range(20)
START_MS: Final = 1_732_540_800_000
PARAMS: Final = DetectorParams()
FILTER: Final = wire.NetworkExtension(id="com.example.filter", kind="content_filter")
CAUSE: Final = Correlate(extension=FILTER, share=0.2, multiplier=3.0)
HERRING: Final = Correlate(vpn_flag="include_all_networks", share=0.5, multiplier=1.0)
Row = dict[str, Any]


def _simulate(seed: int) -> Simulation:
    spec = FleetSpec(devices=400, seed=seed, episodes_per_device_day=12.0, correlates=(CAUSE, HERRING))
    return simulate(spec, start_ms=START_MS, duration_ms=20 * 60_000, params=PARAMS)


def _stdout_of(command: Callable[[Sequence[str]], int], argv: Sequence[str]) -> bytes:
    """Run a console script's ``main`` in-process; what it wrote to stdout (its stderr is dropped)."""
    sink = io.BytesIO()
    text = io.TextIOWrapper(sink, encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(io.StringIO()):
        code = command(argv)
    text.flush()
    assert code == 0, f"{argv}: exit {code}"
    return sink.getvalue()


def _post_mortem(sim: Simulation, folder: Path) -> list[Row]:
    """The capture through replay and the suspects report, as files; the ranked facts."""
    capture, devices, incidents = folder / "fleet.ndjson", folder / "devices.ndjson", folder / "incidents.ndjson"
    with capture.open("wb") as stream_out:
        write_capture(sim.deliveries, stream_out)
    incidents.write_bytes(_stdout_of(stream, ["replay", "--input", str(capture), "--devices-out", str(devices)]))
    argv = ["suspects", "--devices", str(devices), "--incidents", str(incidents), "--range", "1h", "--format", "json"]
    ranked: list[Row] = json.loads(_stdout_of(report, argv))["ranked"]
    return ranked


def _true_lift(sim: Simulation) -> float:
    days = (sim.end_ms - sim.start_ms) / 86_400_000

    def affected_share(carries: bool) -> float:
        group = [mac for mac in sim.truth.devices if (CAUSE.name in mac.correlates) == carries]
        return sum(1 - math.exp(-mac.hazard_per_day * days) for mac in group) / len(group)

    return affected_share(True) / affected_share(False)


def _row(rows: list[Row], fact: str) -> Row:
    return next(row for row in rows if row["fact"] == fact)


Outcome = tuple[int, list[Row], float]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[Outcome]:
    """Per seed: the ranked facts and the true lift of the filter."""
    results = []
    for seed in SEEDS:
        sim = _simulate(seed)
        results.append((seed, _post_mortem(sim, tmp_path_factory.mktemp(f"seed{seed}")), _true_lift(sim)))
    return results


def test_the_planted_cause_ranks_first_with_an_interval_above_1(
    outcomes: list[Outcome],
) -> None:
    unflagged = []
    for seed, ranked, _ in outcomes:
        top = ranked[0]
        assert top["fact"] == f"extension:{FILTER.id}", f"seed {seed}: {[row['fact'] for row in ranked]}"
        assert top["lift_low"] > 1, f"seed {seed}: {top}"
        if not top["flagged"]:
            unflagged.append(f"seed {seed}: lift {top['lift']}, family-wise from {top['lift_low_familywise']}")
    assert len(unflagged) <= len(SEEDS) // 10, unflagged


def test_the_neutral_flag_is_never_flagged(outcomes: list[Outcome]) -> None:
    for seed, ranked, _ in outcomes:
        herring = _row(ranked, "vpn:include_all_networks")
        assert not herring["flagged"], f"seed {seed}: {herring}"


def test_the_interval_covers_the_true_lift_in_at_least_90_percent_of_fleets(
    outcomes: list[Outcome],
) -> None:
    misses = []
    for seed, ranked, truth in outcomes:
        row = _row(ranked, f"extension:{FILTER.id}")
        if not row["lift_low"] <= truth <= row["lift_high"]:
            misses.append(f"seed {seed}: true {truth:.2f} outside [{row['lift_low']:.2f}, {row['lift_high']:.2f}]")
    assert len(misses) <= len(SEEDS) // 10, misses
