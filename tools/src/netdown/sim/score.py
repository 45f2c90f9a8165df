"""Scoring a detector's episodes against a simulation's ground truth: precision and recall.

A detected episode matches a planted one of the same device and app when their spans overlap, the
planted span widened by a tolerance of W + G on each side (the detector may open an episode a few
signals late when one was lost, and closes it at the first recovery it sees). Matching is one to one,
in opening order. An episode still open at the end counts as lasting until ``end_ms``.

Unmatched detections are false positives; unmatched planted episodes are false negatives, except
those that began less than G + L before ``end_ms``: a live worker cannot have judged them yet, so
they are left out of recall (counted as ``undetectable``), and a detection of one still counts. The
episodes of blind devices (no system-path source running, so no evidence for any judgement) are left
out of recall the same way, counted as ``blind``.

How late a match opened, its ``opened_ms`` minus the planted episode's (its first failure signal),
says what the agent's cadence costs: a detector that waits for system evidence opens an episode at
the first failure after a probe or a path report, which at the field's cadences is often many
retries after the first.

Detections may be given as every record of the incidents topic (opened, stuck, closed): records of
one episode (same device, app, opening time) count once, as their most advanced state.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netdown.detection.detector import DetectorParams
from netdown.detection.incident import Incident, latest_incidents
from netdown.sim.truth import GroundTruth, TrueEpisode

__all__ = ["Score", "score"]


@dataclass(frozen=True)
class Score:
    """How a detector's episodes compare with the planted ones."""

    true_positives: int
    false_positives: int
    false_negatives: int
    undetectable: int  # planted too close to the end to be judged, and not detected: outside recall
    stuck_agreed: int  # matched episodes whose stuck flag agrees with the truth, where the truth can be known
    stuck_judged: int  # matched episodes that lasted (or were observed) longer than T, or were recovering
    blind: int = 0  # planted on blind devices, and not detected: outside recall
    opening_delays_ms: tuple[int, ...] = ()  # per match, in ascending order: detected opening - planted opening

    @property
    def precision(self) -> float:
        """Share of detections that are planted episodes (1 when nothing was detected)."""
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        """Share of detectable planted episodes that were detected (1 when none was planted)."""
        planted = self.true_positives + self.false_negatives
        return self.true_positives / planted if planted else 1.0

    def summary(self) -> str:
        """Counts, then the last line ``precision=P recall=R`` that scripts read."""
        return (
            f"true positives  {self.true_positives}\n"
            f"false positives {self.false_positives}\n"
            f"false negatives {self.false_negatives}\n"
            f"undetectable    {self.undetectable} (planted < G + L before the end, not detected)\n"
            f"stuck agreed    {self.stuck_agreed} of {self.stuck_judged}\n"
            f"blind           {self.blind} (planted on devices reporting no system path, not detected)\n"
            f"opening delay   {_delays(self.opening_delays_ms)}\n"
            f"precision={self.precision:.4f} recall={self.recall:.4f}"
        )


def score(
    truth: GroundTruth,
    incidents: Iterable[Incident],
    *,
    params: DetectorParams | None = None,
    end_ms: int | None = None,
) -> Score:
    """Match ``incidents`` to ``truth``'s episodes; ``params`` and ``end_ms`` default to the run's own."""
    params = params or truth.run.params
    end = truth.run.end_ms if end_ms is None else end_ms
    tolerance = params.window_ms + params.settle_ms
    horizon = end - params.settle_ms - params.lateness_ms
    planted: dict[tuple[str, str], list[TrueEpisode]] = defaultdict(list)
    for episode in truth.episodes:
        if episode.opened_ms < end:
            planted[episode.device_id, episode.app].append(episode)
    detected: dict[tuple[str, str], list[Incident]] = defaultdict(list)
    for incident in latest_incidents(incidents):
        detected[incident.device_id, incident.app].append(incident)

    blind_devices = {device.device_id for device in truth.devices if device.blind}
    tp = fp = fn = undetectable = blind = stuck_agreed = stuck_judged = 0
    delays: list[int] = []
    for key in planted.keys() | detected.keys():
        episodes = sorted(planted.get(key, ()), key=lambda e: e.opened_ms)
        unmatched = list(episodes)
        for incident in sorted(detected.get(key, ()), key=lambda i: i.opened_ms):
            found_end = end if incident.closed_ms is None else incident.closed_ms
            match = next(
                (
                    e
                    for e in unmatched
                    if e.opened_ms - tolerance <= found_end
                    and incident.opened_ms <= (end if e.closed_ms is None else e.closed_ms) + tolerance
                ),
                None,
            )
            if match is None:
                fp += 1
                continue
            unmatched.remove(match)
            tp += 1
            delays.append(incident.opened_ms - match.opened_ms)
            if not match.stuck or (match.closed_ms or end) - match.opened_ms > params.stuck_ms + tolerance:
                stuck_judged += 1
                stuck_agreed += incident.stuck == match.stuck
        for episode in unmatched:
            if episode.opened_ms >= horizon:
                undetectable += 1
            elif episode.device_id in blind_devices:
                blind += 1
            else:
                fn += 1
    return Score(tp, fp, fn, undetectable, stuck_agreed, stuck_judged, blind, tuple(sorted(delays)))


def _delays(ascending: Sequence[int]) -> str:
    """Median, 95th percentile (nearest rank) and maximum of the opening delays, in seconds."""
    if not ascending:
        return "none (no match)"

    def rank(share: float) -> float:
        return ascending[max(math.ceil(share * len(ascending)) - 1, 0)] / 1000

    return (
        f"median {rank(0.5):.1f} s, p95 {rank(0.95):.1f} s, max {ascending[-1] / 1000:.1f} s "
        f"(detected opening - first failure, {len(ascending)} matches)"
    )
