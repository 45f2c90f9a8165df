"""The inventory: a device's facts record and its incident records, from the detector's transitions."""

from __future__ import annotations

import hashlib

import msgspec

from netdown import wire
from netdown.detection.detector import (
    DetectorParams,
    DeviceState,
    EpisodeChanged,
    EventApplied,
    Transition,
    new_device,
    step,
    tick,
)
from netdown.detection.device_facts import DeviceSource, encode_device_facts
from netdown.detection.incident import Incident, encode_incident
from netdown.detection.inventory import IncidentChanged, Inventory, applied, changed, device_facts
from netdown.stream.replay_run import ReplayRun
from netdown.testing import APP, T0_MS, Device, source

PARAMS = DetectorParams(window_ms=30_000, settle_ms=10_000, stuck_ms=60_000, lateness_ms=2_000, stale_ms=900_000)


class _Followed:
    """A detector state and the inventory that follows its transitions, as the engine
    (:mod:`netdown.stream.engine`) pairs them: applied events and episode changes, in order."""

    def __init__(self, device_id: str) -> None:
        self.state: DeviceState = new_device(device_id)
        self.inventory = Inventory()
        self.changes: list[IncidentChanged] = []

    def follow(self, transitions: list[Transition]) -> None:
        for transition in transitions:
            if isinstance(transition, EventApplied):
                applied(self.inventory, transition.event)
            elif isinstance(transition, EpisodeChanged):
                self.changes.append(changed(self.inventory, self.state.device_id, transition))

    def step(self, event: wire.Event, now_ms: int) -> None:
        self.follow(step(self.state, event, now_ms, PARAMS))

    def tick(self, now_ms: int) -> None:
        self.follow(tick(self.state, now_ms, PARAMS))


def _followed(events: list[wire.Event]) -> _Followed:
    """After every one of a device's ``events``, each at its own time, with processing time moved past L."""
    followed = _Followed(events[0].device_id)
    for event in events:
        followed.step(event, event.ts_ms)
    followed.tick(events[-1].ts_ms + PARAMS.lateness_ms)
    return followed


def test_a_device_has_no_facts_until_one_of_its_events_is_applied() -> None:
    device = Device("mac-facts-0001")
    followed = _Followed(device.device_id)
    assert device_facts(followed.state, followed.inventory) is None
    followed.step(device.heartbeat(T0_MS), T0_MS)  # a first event waits in the reorder buffer
    assert device_facts(followed.state, followed.inventory) is None
    followed.tick(T0_MS + PARAMS.lateness_ms)
    facts = device_facts(followed.state, followed.inventory)
    assert facts is not None
    assert (facts.first_seen_ms, facts.last_seen_ms) == (T0_MS, T0_MS)


def test_facts_carry_the_release_the_heartbeat_facts_and_the_episode_history() -> None:
    device = Device("mac-facts-0002", os_version="15.1")
    device.heartbeat(T0_MS)
    device.system_path(T0_MS + 1_000)
    device.conn(T0_MS + 20_000, enetdown=True)  # opens an episode
    device.conn(T0_MS + 100_000)  # closes it after 80 s > T: stuck
    device.system_path(T0_MS + 110_000)  # still healthy: system evidence within W of the next failure
    device.conn(T0_MS + 120_000, enetdown=True)  # opens another, still open
    device.probe(T0_MS + 200_000)  # ... and stuck by now
    followed = _followed(device.events)
    facts = device_facts(followed.state, followed.inventory)
    assert facts is not None
    assert (facts.platform, facts.os_version, facts.os_build) == ("darwin", "15.1", "")
    assert facts.network_extensions == (wire.NetworkExtension(id=APP, kind="packet_tunnel"),)
    assert facts.vpn is not None
    assert facts.vpn.include_all_networks is True
    assert (facts.first_seen_ms, facts.last_seen_ms) == (T0_MS, T0_MS + 200_000)
    assert (facts.affected, facts.stuck) == (True, True)
    assert (facts.episodes, facts.stuck_episodes, facts.last_episode_ms) == (2, 2, T0_MS + 120_000)


def test_a_device_without_heartbeat_has_no_extensions_and_no_vpn_flags() -> None:
    device = Device("mac-facts-0003")
    device.system_path(T0_MS)
    followed = _followed(device.events)
    facts = device_facts(followed.state, followed.inventory)
    assert facts is not None
    assert (facts.network_extensions, facts.vpn, facts.episodes, facts.last_episode_ms) == ((), None, 0, None)


def test_facts_carry_the_latest_heartbeats_sources_and_an_older_agents_none() -> None:
    device = Device("mac-facts-0005")
    device.heartbeat(T0_MS, sources=(source("macos_path", "system_path"), source("app_events", "app_view")))
    device.heartbeat(
        T0_MS + 60_000,
        sources=(
            source("macos_path", "system_path", running=False, last_success_ms=T0_MS),
            source("app_events", "app_view"),
        ),
    )
    facts = device_facts(*_state_and_inventory(device.events))
    assert facts is not None
    assert facts.sources == (
        DeviceSource(name="macos_path", role="system_path", running=False, last_success_ms=T0_MS),
        DeviceSource(name="app_events", role="app_view", running=True, last_success_ms=None),
    )
    device.heartbeat(T0_MS + 120_000)  # the agent downgraded to one that does not report its sources: unknown
    facts = device_facts(*_state_and_inventory(device.events))
    assert facts is not None
    assert facts.sources == ()


def _state_and_inventory(events: list[wire.Event]) -> tuple[DeviceState, Inventory]:
    followed = _followed(events)
    return followed.state, followed.inventory


_NEW_FACTS = wire.Facts(vpn=wire.VpnFlags(enforce_routes=True))


def _upgrade_story() -> tuple[list[wire.Event], list[wire.Event]]:
    """A device stuck on 15.1 reboots onto 15.2 (new heartbeat facts), then has a short episode there.

    Its events, and an arrival order that swaps neighbours within L (never across the reboot).
    """
    device = Device("mac-inventory-01", os_version="15.1")
    device.heartbeat(T0_MS)
    device.system_path(T0_MS + 1_000)
    device.conn(T0_MS + 20_000, enetdown=True)  # opens on 15.1
    device.probe(T0_MS + 90_000)  # stuck: open longer than T
    device.reboot()
    device.os_version = "15.2"
    heartbeat = device.heartbeat(T0_MS + 100_000)  # closes the stuck one (reboot)
    device.events[-1] = msgspec.structs.replace(heartbeat, facts=_NEW_FACTS)
    device.system_path(T0_MS + 101_000)
    device.conn(T0_MS + 120_000, enetdown=True)  # opens on 15.2
    device.conn(T0_MS + 125_000)  # recovered
    device.conn(T0_MS + 1_100_000, enetdown=True)  # the system path is older than R: insufficient evidence
    device.probe(T0_MS + 1_101_000)
    events = device.events
    arrival = [events[1], events[0], events[3], events[2], *events[4:6], events[7], events[6], *events[8:]]
    return events, arrival


def test_an_incident_carries_the_release_and_facts_of_the_events_applied_around_it() -> None:
    """A reboot's close belongs to the old boot: the old release and facts, though the new boot's event caused it."""
    _, arrival = _upgrade_story()
    run = ReplayRun(PARAMS)
    run.feed_all(arrival)
    shown = [
        (i.os_version, i.closed_ms is not None, i.close_reason, i.stuck, i.facts == _NEW_FACTS) for i in run.incidents
    ]
    assert shown == [
        ("15.1", False, None, False, False),  # opened
        ("15.1", False, None, True, False),  # stuck
        ("15.1", True, "reboot", True, False),  # closed by the reboot onto 15.2
        ("15.2", False, None, False, True),  # opened on the new release, with the new heartbeat's facts
        ("15.2", True, "recovered", False, True),
    ]


def test_incident_records_and_device_facts_are_byte_for_byte_those_before_the_inventory_split() -> None:
    """The digests of the records ``ReplayRun`` wrote for the upgrade story at 7f2c756, when the detector
    built incidents and kept the device's history itself (regenerate only for a deliberate change of a record).
    Two deliberate changes since: the story's last signal moved past R when the system path became a state
    that holds (old and new rules judge the story as it stands alike), and the facts gained ``"sources":[]``
    (the story's agent reports none). With that removed the facts hash to what 7f2c756's code writes for the
    story as it stands, 7143811891360f01021340991dc53e8bbbbace33986a3a618fb0f39bbf351137."""
    _, arrival = _upgrade_story()
    run = ReplayRun(PARAMS)
    run.feed_all(arrival)
    incidents = b"".join(encode_incident(incident) + b"\n" for incident in run.incidents)
    facts = b"".join(encode_device_facts(facts) + b"\n" for facts in run.final_device_facts())
    assert hashlib.sha256(incidents).hexdigest() == "506e7841c4d2ca6640b87880c68866be85fe4bf9a1bc6e026971a9190d3f4b83"
    assert hashlib.sha256(facts).hexdigest() == "7664281ff037b14b935894ddefb988142ea601b892903e6448bf7f2903fec610"


def test_the_history_counts_episodes_opened_stuck_and_the_latest_opening() -> None:
    events, _ = _upgrade_story()
    followed = _followed(events)
    assert [change.change for change in followed.changes] == ["opened", "stuck", "closed", "opened", "closed"]
    inventory = followed.inventory
    assert (inventory.episodes, inventory.stuck_closed, inventory.last_episode_ms) == (2, 1, T0_MS + 120_000)
    assert (inventory.os_version, inventory.facts, inventory.first_seen_ms) == ("15.2", _NEW_FACTS, T0_MS)
    assert all(isinstance(change.incident, Incident) for change in followed.changes)
