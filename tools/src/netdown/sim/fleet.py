"""A simulated fleet: who the devices are, what happens to each, and how their events reach the broker.

:func:`simulate` draws the fleet from a :class:`~netdown.sim.spec.FleetSpec` and a seed: releases by
weight and planted correlates by share (exact counts, assigned at random, independently of each
other), then each device's timeline (:mod:`netdown.sim.timeline`) as its agent reports it
(:class:`~netdown.sim.profile.AgentProfile`), then delivery as the agent's
spool and publisher make it: a little network jitter, a stretch offline on some devices whose spool
delivers it all when the broker is reachable again (the late spool replay), events sent twice (a
batch retried after a lost acknowledgement, or an agent that died before acknowledging and re-sent
its tail minutes later) and a few lost for good.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.sim.profile import AgentProfile
from netdown.sim.spec import Correlate, FleetSpec, Release
from netdown.sim.timeline import DAY_MS, Cadence, Device
from netdown.sim.truth import GroundTruth, RunInfo, TrueDevice, TrueDisturbance, TrueEpisode

__all__ = ["DEFAULT_AGENT", "DEFAULT_START_MS", "MONITORED_APP", "Delivery", "Simulation", "simulate"]

MONITORED_APP: Final = "com.example.vpn.tunnel"
DEFAULT_START_MS: Final = 1_732_540_800_000  # a fixed start, so a seed gives the same bytes
DEFAULT_AGENT: Final = AgentProfile()
_VPN_EXTENSION: Final = wire.NetworkExtension(id=MONITORED_APP, kind="packet_tunnel")
_JITTER_MIN_MS: Final = 20
_JITTER_MEAN_MS: Final = 200


class Delivery(NamedTuple):
    """One event as the broker receives it, at processing time ``at_ms`` (never before its ``ts_ms``)."""

    at_ms: int
    event: wire.Event


@dataclass
class Simulation:
    """A simulated run: every delivery in arrival order, and the truth to score a detector against."""

    deliveries: list[Delivery]
    truth: GroundTruth

    @property
    def start_ms(self) -> int:
        return self.truth.run.start_ms

    @property
    def end_ms(self) -> int:
        return self.truth.run.end_ms


def simulate(
    spec: FleetSpec,
    *,
    start_ms: int,
    duration_ms: int,
    params: DetectorParams,
    agent: AgentProfile = DEFAULT_AGENT,
) -> Simulation:
    """Simulate ``spec`` over ``[start_ms, start_ms + duration_ms)``, shaped for ``params``; deterministic.

    ``params`` shape what happens (episode and outage lengths); ``agent`` is how each device reports it
    (the shipped agent config's cadences unless told otherwise).
    """
    if duration_ms <= 0:
        raise ValueError(f"duration_ms must be positive, got {duration_ms}")
    end_ms = start_ms + duration_ms
    rng = random.Random(spec.seed)
    cadence = Cadence.for_params(params)
    releases = _apportion(rng, spec.devices, spec.releases)
    carriers = [set(rng.sample(range(spec.devices), round(c.share * spec.devices))) for c in spec.correlates]
    blind = set(rng.sample(range(spec.devices), round(spec.blind_share * spec.devices)))
    truth = GroundTruth(
        RunInfo(
            start_ms=start_ms,
            end_ms=end_ms,
            seed=spec.seed,
            window_ms=params.window_ms,
            settle_ms=params.settle_ms,
            stuck_ms=params.stuck_ms,
            lateness_ms=params.lateness_ms,
            stale_ms=params.stale_ms,
            agent=agent,
        )
    )
    deliveries: list[Delivery] = []
    for index, release in enumerate(releases):
        correlates = [c for c, has in zip(spec.correlates, carriers, strict=True) if index in has]
        hazard = spec.episodes_per_device_day * release.incidence
        for correlate in correlates:
            hazard *= correlate.multiplier
        device_rng = random.Random(rng.getrandbits(64))
        device = Device(
            rng=device_rng,
            device_id=f"mac-{index:05d}-{device_rng.getrandbits(40):010x}",
            platform=release.platform,
            os_version=release.os_version,
            os_build=release.os_build,
            facts=_facts(spec.correlates, correlates),
            app=MONITORED_APP,
            start_ms=start_ms + device_rng.randrange(cadence.margin),
            end_ms=end_ms,
            cadence=cadence,
            agent=agent,
            blind=index in blind,
        )
        device.plan(hazard, spec.outages_per_device_day, spec.transients_per_device_day, spec.stuck_share)
        if device_rng.random() < spec.p_late_spool:
            device.plan_offline()
        events = device.events()
        deliveries += _deliver(device, events, spec)
        truth.devices.append(_true_device(device, correlates, hazard))
        truth.episodes += _true_episodes(device)
        truth.disturbances += [
            TrueDisturbance(device_id=device.device_id, type=span.kind, start_ms=span.start_ms, end_ms=span.end_ms)
            for span in device.spans
            if span.kind != "episode" and span.end_ms is not None
        ]
    # Stable: deliveries at the same ms stay in device order, then in the order each device sent them.
    deliveries.sort(key=operator.itemgetter(0))
    return Simulation(deliveries, truth)


def _apportion(rng: random.Random, devices: int, releases: Sequence[Release]) -> list[Release]:
    """Each device's release: counts proportional to the weights (largest remainders), in a random order."""
    total = sum(release.weight for release in releases)
    quotas = [devices * release.weight / total for release in releases]
    counts = [int(quota) for quota in quotas]
    by_remainder = sorted(range(len(releases)), key=lambda i: counts[i] - quotas[i])
    for i in by_remainder[: devices - sum(counts)]:
        counts[i] += 1
    assigned = [release for release, count in zip(releases, counts, strict=True) for _ in range(count)]
    rng.shuffle(assigned)
    return assigned


def _facts(all_correlates: Sequence[Correlate], carried: Sequence[Correlate]) -> wire.Facts:
    """The heartbeat facts of a device: the monitored VPN, the extensions and VPN flags it was planted with."""
    flags = {"include_all_networks": False, "enforce_routes": False, "exclude_local_networks": True}
    for correlate in all_correlates:
        if correlate.vpn_flag is not None:
            flags[correlate.vpn_flag] = correlate in carried
    extensions = [_VPN_EXTENSION, *(c.extension for c in carried if c.extension is not None)]
    return wire.Facts(network_extensions=tuple(dict.fromkeys(extensions)), vpn=wire.VpnFlags(**flags))


def _deliver(device: Device, events: list[wire.Event], spec: FleetSpec) -> Iterator[Delivery]:
    """The device's events as the broker receives them, not yet in arrival order."""
    rng, cadence = device.rng, device.cadence
    offline_from, offline_to = device.offline or (0, 0)
    back_ms = offline_to + rng.randrange(500, 2_000)  # the spool's first send once the broker is reachable
    for event in events:
        if rng.random() < spec.p_lost:
            continue
        if offline_from <= event.ts_ms < offline_to:
            at_ms = back_ms
        else:
            at_ms = event.ts_ms + _JITTER_MIN_MS + int(rng.expovariate(1 / _JITTER_MEAN_MS))
        yield Delivery(at_ms, event)
        if rng.random() < spec.p_duplicate:
            if rng.random() < 0.5:  # the batch was retried after a lost acknowledgement
                yield Delivery(at_ms + rng.randrange(100, max(cadence.margin, 101)), event)
            else:  # the agent died before acknowledging; on restart its spool re-sent the tail, much later
                yield Delivery(at_ms + rng.randrange(2 * cadence.offline[0], 5 * cadence.offline[0]), event)


def _true_device(device: Device, correlates: Sequence[Correlate], hazard: float) -> TrueDevice:
    return TrueDevice(
        device_id=device.device_id,
        platform=device.platform,
        os_version=device.os_version,
        os_build=device.os_build,
        facts=device.facts,
        correlates=tuple(correlate.name for correlate in correlates),
        hazard_per_day=hazard,
        expected_episodes=hazard * device.exposure_ms / DAY_MS,
        blind=device.blind,
    )


def _true_episodes(device: Device) -> Iterator[TrueEpisode]:
    for span in device.spans:
        if span.kind == "episode":
            yield TrueEpisode(
                device_id=device.device_id,
                app=device.app,
                opened_ms=span.start_ms,
                closed_ms=span.end_ms,
                stuck=span.stuck,
                close_reason=None if span.end_ms is None else "reboot" if span.stuck else "recovered",
            )
