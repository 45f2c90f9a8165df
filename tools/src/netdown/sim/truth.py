"""The ground truth of a simulated run: every device as planted, every episode as it really happened.

A detector run over the simulation's events is scored against it (:mod:`netdown.sim.score`); a report
of suspects or regressions is checked against the hazards planted per device.

On disk it is NDJSON, one record per line, told apart by ``kind``: first one ``run`` (the time span,
the detector parameters the timelines were shaped for, and the spec's seed), then one ``device`` per
device, one ``episode`` per planted episode and one ``disturbance`` per outage or wake transient (the
failures that are *not* episodes). Lines of an unknown ``kind`` are skipped, so a newer simulator's
truth stays readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Final, Literal, TypeAlias

import msgspec

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.detection.incident import CloseReason
from netdown.sim.profile import AgentProfile

__all__ = ["GroundTruth", "RunInfo", "TrueDevice", "TrueDisturbance", "TrueEpisode", "read_truth", "write_truth"]

DisturbanceKind: TypeAlias = Literal["outage", "transient"]


class RunInfo(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="run"):
    """The simulated span ``[start_ms, end_ms)``, the detector parameters it was shaped for, and its seed.

    ``agent``: the cadences the devices' agents reported with (None in a truth from before they were
    recorded, when the simulator probed below W).
    """

    start_ms: int
    end_ms: int
    seed: int
    window_ms: int
    settle_ms: int
    stuck_ms: int
    lateness_ms: int
    stale_ms: int
    agent: AgentProfile | None = None

    @property
    def params(self) -> DetectorParams:
        """The detector parameters the run's timelines are scorable at."""
        return DetectorParams(
            window_ms=self.window_ms,
            settle_ms=self.settle_ms,
            stuck_ms=self.stuck_ms,
            lateness_ms=self.lateness_ms,
            stale_ms=self.stale_ms,
        )


class TrueDevice(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="device"):
    """A device as planted: its release, its facts, and its true episode intensity.

    ``hazard_per_day`` is its episode rate (base x release incidence x its correlates' multipliers);
    ``expected_episodes`` is that rate integrated over the time it was at risk (not in an episode or
    settling after one), the exact expectation of its episode count, so tests can compare true ratios.

    ``blind``: its agent's system-path source was not running, so it reported no system path and none
    of its failures could be judged. Its episodes are still episodes (the system was healthy whether
    the agent saw it or not); scoring leaves them out of recall.
    """

    device_id: str
    platform: wire.Platform
    os_version: str
    os_build: str
    facts: wire.Facts
    correlates: tuple[str, ...]  # names (Correlate.name) of the planted correlates it carries
    hazard_per_day: float
    expected_episodes: float
    blind: bool = False


class TrueEpisode(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="episode"):
    """A planted episode: opened at its first failure signal, closed at the app's recovery or at the reboot.

    ``closed_ms`` is None when it was still open at the end of the run; ``stuck`` episodes last until
    a reboot (a new ``boot_id``), the others recover within the stuck threshold T.
    """

    device_id: str
    app: str
    opened_ms: int
    closed_ms: int | None
    stuck: bool
    close_reason: CloseReason | None


class TrueDisturbance(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="disturbance"):
    """A failure that is not an episode: a real outage, or a wake transient (the path came back seconds ago)."""

    device_id: str
    type: DisturbanceKind
    start_ms: int
    end_ms: int


_Record: TypeAlias = RunInfo | TrueDevice | TrueEpisode | TrueDisturbance


@dataclass
class GroundTruth:
    """What really happened in a run."""

    run: RunInfo
    devices: list[TrueDevice] = field(default_factory=list)
    episodes: list[TrueEpisode] = field(default_factory=list)
    disturbances: list[TrueDisturbance] = field(default_factory=list)

    def records(self) -> Iterator[_Record]:
        """Every record in file order: the run, then devices, episodes, disturbances."""
        yield self.run
        yield from self.devices
        yield from self.episodes
        yield from self.disturbances


_ENCODER: Final = msgspec.json.Encoder(order="sorted")
_DECODER: Final = msgspec.json.Decoder(_Record)


class _Kind(msgspec.Struct):
    kind: str = ""


_KIND_DECODER: Final = msgspec.json.Decoder(_Kind)
_KINDS: Final = frozenset({"run", "device", "episode", "disturbance"})


def write_truth(truth: GroundTruth, stream: IO[bytes]) -> None:
    """Write the truth as NDJSON (see the module docstring)."""
    stream.write(b"".join(_ENCODER.encode(record) + b"\n" for record in truth.records()))


def read_truth(lines: Iterable[bytes]) -> GroundTruth:
    """Read a truth written by :func:`write_truth`; raises ``ValueError`` naming the line that is wrong."""
    run: RunInfo | None = None
    devices: list[TrueDevice] = []
    episodes: list[TrueEpisode] = []
    disturbances: list[TrueDisturbance] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            if _KIND_DECODER.decode(line).kind not in _KINDS:
                continue
            record = _DECODER.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ValueError(f"line {number}: not a ground-truth record: {exc}") from None
        match record:
            case RunInfo():
                run = record
            case TrueDevice():
                devices.append(record)
            case TrueEpisode():
                episodes.append(record)
            case TrueDisturbance():
                disturbances.append(record)
    if run is None:
        raise ValueError("no `run` record: not a ground truth written by netdown-sim")
    return GroundTruth(run, devices, episodes, disturbances)
