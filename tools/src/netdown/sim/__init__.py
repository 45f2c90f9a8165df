"""The fleet simulator: simulated Macs producing wire events, with the ground truth to score a run against.

``simulate(FleetSpec(...), start_ms=..., duration_ms=..., params=...)`` gives a :class:`Simulation`:
its deliveries (events in arrival order, with the delivery faults of a real fleet) and its
:class:`GroundTruth`. :func:`score` compares a detector's incidents with that truth. The events go
to a broker through the agent's own spool and publisher (:mod:`netdown.sim.live`), or to an NDJSON
capture for ``netdown-stream replay`` (:mod:`netdown.sim.files`); ``netdown-sim`` is the command.
"""

from netdown.sim.fleet import DEFAULT_START_MS, MONITORED_APP, Delivery, Simulation, simulate
from netdown.sim.score import Score, score
from netdown.sim.spec import DEFAULT_RELEASES, Correlate, FleetSpec, Release
from netdown.sim.truth import GroundTruth, RunInfo, TrueDevice, TrueDisturbance, TrueEpisode, read_truth, write_truth

__all__ = [
    "DEFAULT_RELEASES",
    "DEFAULT_START_MS",
    "MONITORED_APP",
    "Correlate",
    "Delivery",
    "FleetSpec",
    "GroundTruth",
    "Release",
    "RunInfo",
    "Score",
    "Simulation",
    "TrueDevice",
    "TrueDisturbance",
    "TrueEpisode",
    "read_truth",
    "score",
    "simulate",
    "write_truth",
]
