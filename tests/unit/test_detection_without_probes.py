"""Detection does not hang on probes: a captured fleet replayed with and without its probes finds the same episodes.

The capture is the simulator's, its devices behaving as the agent does with its default config. Stripping the
probes renumbers each device's events as an agent with probes turned off would have numbered them (no probe,
no gap), so what differs between the two replays is the probes' evidence alone.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from typing import Final

import msgspec

from netdown import wire
from netdown.detection.detector import ENETDOWN, DetectorParams
from netdown.sim import FleetSpec, simulate
from netdown.stream.replay_run import ReplayRun
from netdown.testing import T0_MS

PARAMS: Final = DetectorParams()
HOUR_MS: Final = 3_600_000


def _capture() -> list[wire.Event]:
    """Six hours of a small fleet with many episodes, outages and wake transients, in arrival order.

    No event is lost for good (``p_lost=0``): after a lost system path only fresh evidence vouches for an old
    one, and a probe is the one the agent sends between heartbeats, so a loss is a difference probes rightly make.
    Duplicates and late spool replays stay.
    """
    spec = FleetSpec(devices=60, seed=13, episodes_per_device_day=8, outages_per_device_day=4, p_lost=0)
    simulation = simulate(spec, start_ms=T0_MS, duration_ms=6 * HOUR_MS, params=PARAMS)
    return [delivery.event for delivery in simulation.deliveries]


def _without_probes(events: list[wire.Event]) -> list[wire.Event]:
    """The capture minus its probes, each device's later events renumbered down past the probes removed (their
    ``seq`` and the ``path_seq`` they name)."""
    probe_seqs: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if isinstance(event, wire.ProbeEvent):
            probe_seqs[event.device_id].append(event.seq)
    removed = {device: sorted(set(seqs)) for device, seqs in probe_seqs.items()}

    def renumbered(event: wire.Event, seq: int) -> int:
        return seq - bisect.bisect_left(removed.get(event.device_id, []), seq)

    return [
        msgspec.structs.replace(
            event,
            seq=renumbered(event, event.seq),
            path_seq=None if event.path_seq is None else renumbered(event, event.path_seq),
        )
        for event in events
        if not isinstance(event, wire.ProbeEvent)
    ]


def _episodes(events: Iterable[wire.Event]) -> dict[tuple[str, str], list[int]]:
    """Each (device, app)'s episode openings, replayed with the default parameters."""
    run = ReplayRun(PARAMS)
    run.feed_all(events)
    openings: dict[tuple[str, str], list[int]] = defaultdict(list)
    for incident in run.final_incidents():
        openings[incident.device_id, incident.app].append(incident.opened_ms)
    return openings


def _signal_times(events: Iterable[wire.Event]) -> dict[tuple[str, str], list[int]]:
    """Each (device, app)'s failure signals in event time (distinct times)."""
    times: dict[tuple[str, str], set[int]] = defaultdict(set)
    for event in events:
        match event:
            case wire.ConnEvent(error=wire.ErrorInfo(name=name)) if name == ENETDOWN:
                times[event.device_id, event.app].add(event.ts_ms)
            case wire.PathEvent(app=str(app), reason="policy_denied"):
                times[event.device_id, app].add(event.ts_ms)
    return {key: sorted(values) for key, values in times.items()}


def _failed_probe_before(events: Iterable[wire.Event], device_id: str, ts_ms: int) -> bool:
    """A probe of the device failed within W before ``ts_ms``: the evidence only probes give."""
    return any(
        isinstance(event, wire.ProbeEvent)
        and event.device_id == device_id
        and not event.ok
        and ts_ms - PARAMS.window_ms <= event.ts_ms <= ts_ms
        for event in events
    )


def test_the_same_episodes_open_at_the_same_times_without_probes() -> None:
    captured = _capture()
    stripped = _without_probes(captured)
    assert len(stripped) < len(captured)  # the capture had probes to strip
    with_probes, without = _episodes(captured), _episodes(stripped)
    signals = _signal_times(captured)
    opened = sum(len(openings) for openings in with_probes.values())
    assert opened >= 50, "the fleet must have episodes to compare"
    for key, openings in with_probes.items():
        others = without.get(key, [])
        for opened_ms in openings:
            times = signals[key]
            at = times.index(opened_ms)
            # Within one event of the first failing signal: the same signal, or the app's next one.
            assert any(other in times[at : at + 2] for other in others), (key, opened_ms, others)
    for key, others in without.items():
        for opened_ms in others:
            if opened_ms not in with_probes.get(key, []):
                # Only a failing probe, which the stripped capture no longer has, could have said "outage".
                assert _failed_probe_before(captured, key[0], opened_ms), (key, opened_ms)
