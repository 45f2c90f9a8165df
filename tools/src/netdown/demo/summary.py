"""The demo's closing report: what ran, what the alerts did and, for a ``--duration`` run, how well it detected.

The score compares the worker's incidents (read back from the incidents topic) with the episodes
the simulator planted (:func:`netdown.sim.score`). The last line is ``precision=P recall=R`` so a
script or a test can read it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from netdown.demo.watch import AlertSeen
from netdown.detection.incident import Incident, latest_incidents
from netdown.sim import GroundTruth, Score

__all__ = ["alerts_line", "fleet_line", "scored", "stopped"]


def alerts_line(seen: Mapping[str, AlertSeen]) -> str:
    """Every alert that went pending or fired during the run, fired ones first, with where Alertmanager routed them.

    "pending only" is a condition that held for less than the rule's ``for``: nobody was notified.
    """
    if not seen:
        return "alerts seen: none"
    parts = [
        f"{name} ({alert.severity}) "
        + ("fired" if alert.state == "firing" else "pending only")
        + (f" -> {', '.join(sorted(alert.routed_to))}" if alert.routed_to else "")
        for name, alert in sorted(seen.items(), key=lambda item: (item[1].state != "firing", item[0]))
    ]
    return "alerts seen: " + "; ".join(parts)


def stopped(pids: Mapping[str, int | None]) -> str:
    """The services the demo started, by pid, now stopped."""
    return "stopped: " + ", ".join(f"{name} (pid {pid})" for name, pid in pids.items() if pid is not None)


def fleet_line(devices: int, seconds: float, seed: int, published: int) -> str:
    """What the simulated fleet did."""
    return f"fleet: {devices} simulated Macs for {seconds:.0f} s (seed {seed}), {published:,} events published"


def scored(*, fleet: str, truth: GroundTruth, incidents: Sequence[Incident], score: Score) -> list[str]:
    """The fleet, the counts behind the score, then ``precision=P recall=R`` (two decimals) as the last line."""
    episodes = latest_incidents(incidents)
    return [
        fleet,
        f"episodes planted: {len(truth.episodes)} ({sum(e.stuck for e in truth.episodes)} stuck); "
        f"detected by the worker: {len(episodes)} ({sum(i.stuck for i in episodes)} stuck), "
        f"from {len(incidents)} incident records",
        f"true positives {score.true_positives}, false positives {score.false_positives}, "
        f"false negatives {score.false_negatives}, undetectable at the end {score.undetectable}, "
        f"stuck flag agreed {score.stuck_agreed} of {score.stuck_judged}",
        f"precision={score.precision:.2f} recall={score.recall:.2f}",
    ]
