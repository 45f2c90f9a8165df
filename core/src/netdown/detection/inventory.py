"""What a device is, as its applied events and its episodes tell it: its facts record and its incident records.

The detector (:mod:`netdown.detection.detector`) judges, and keeps of a device only what judging needs.
The inventory reads the same transitions: each :class:`~netdown.detection.detector.EventApplied` gives
the device's release as of that event (a heartbeat, its facts too), each
:class:`~netdown.detection.detector.EpisodeChanged` becomes an incident record carrying them, and the
episodes opened and stuck add up to the history the device-facts record reports. It follows events
in the detector's order of application (event time, through the reorder buffer), not of arrival, so
an incident carries the release and facts of the events around it however they were delivered, and
a reboot's closes carry the old boot's release (they come before the new boot's event is applied).

Pure, like the detector: no Kafka, no clock, no metrics. Its state (:class:`Inventory`) is stored
beside the detector's, in the worker's device record and in a replay's.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from netdown import wire
from netdown.detection.detector import DeviceState, EpisodeChanged, open_episodes
from netdown.detection.device_facts import DeviceFacts, DeviceSource, device_sources
from netdown.detection.incident import Incident

__all__ = ["IncidentChanged", "Inventory", "applied", "changed", "device_facts"]


class Inventory(msgspec.Struct, kw_only=True):
    """A device's release and facts as of its latest applied event, and its episode history."""

    platform: str = ""
    os_version: str = ""  # as reported (not normalised)
    os_build: str = ""
    facts: wire.Facts | None = None  # the latest applied heartbeat's
    # The latest applied heartbeat's source health (at most wire.MAX_SOURCES); empty from an agent that does not
    # report it (older than 0.2), which is unknown, not blind.
    sources: tuple[DeviceSource, ...] = ()
    first_seen_ms: int | None = None  # earliest event time applied
    episodes: int = 0  # episodes opened
    stuck_closed: int = 0  # episodes that closed stuck
    last_episode_ms: int | None = None  # opening time of the latest episode


class IncidentChanged(msgspec.Struct, frozen=True, kw_only=True):
    """An episode change as the incidents topic carries it: ``incident`` is its record as of the change."""

    change: Literal["opened", "stuck", "closed"]
    incident: Incident


def applied(inventory: Inventory, event: wire.Event) -> None:
    """An :class:`~netdown.detection.detector.EventApplied`'s event: each says the device's release, a heartbeat
    its facts and its sources' health too."""
    ts = event.ts_ms
    if inventory.first_seen_ms is None or ts < inventory.first_seen_ms:
        inventory.first_seen_ms = ts
    inventory.platform, inventory.os_version, inventory.os_build = event.platform, event.os_version, event.os_build
    if type(event) is wire.HeartbeatEvent:
        inventory.facts = event.facts
        inventory.sources = device_sources(event.sources)


def changed(inventory: Inventory, device_id: str, change: EpisodeChanged) -> IncidentChanged:
    """An episode change counted into the history, and its incident record, with the device's release and facts
    as of the change (the events applied before it in the step's transitions)."""
    episode = change.episode
    if change.change == "opened":
        inventory.episodes += 1
        if inventory.last_episode_ms is None or episode.opened_ms > inventory.last_episode_ms:
            inventory.last_episode_ms = episode.opened_ms
    elif change.change == "closed" and episode.stuck:
        inventory.stuck_closed += 1
    incident = Incident(
        device_id=device_id,
        app=episode.app,
        opened_ms=episode.opened_ms,
        closed_ms=episode.closed_ms,
        close_reason=episode.close_reason,
        stuck=episode.stuck,
        os_version=inventory.os_version,
        os_build=inventory.os_build,
        platform=inventory.platform,
        evidence=episode.evidence,
        facts=inventory.facts,
    )
    return IncidentChanged(change=change.change, incident=incident)


def device_facts(state: DeviceState, inventory: Inventory) -> DeviceFacts | None:
    """The device's facts record as of now; None until one of its events has been applied."""
    if state.frontier_ms is None or inventory.first_seen_ms is None:
        return None
    facts = inventory.facts
    episodes = open_episodes(state)
    open_stuck = sum(episode.stuck for episode in episodes)
    return DeviceFacts(
        device_id=state.device_id,
        platform=inventory.platform,
        os_version=inventory.os_version,
        os_build=inventory.os_build,
        network_extensions=facts.network_extensions if facts is not None else (),
        vpn=facts.vpn if facts is not None else None,
        first_seen_ms=inventory.first_seen_ms,
        last_seen_ms=state.frontier_ms,
        affected=bool(episodes),
        stuck=open_stuck > 0,
        episodes=inventory.episodes,
        stuck_episodes=inventory.stuck_closed + open_stuck,
        last_episode_ms=inventory.last_episode_ms,
        sources=inventory.sources,
    )
