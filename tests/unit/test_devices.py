"""A device's facts record: what it says of a detector state, when the worker publishes it again, its bytes."""

from __future__ import annotations

import msgspec
import pytest

from netdown import wire
from netdown.detection.detector import DetectorParams, DeviceState, new_device, step, tick
from netdown.stream.devices import (
    DeviceFacts,
    decode_device_facts,
    device_facts,
    encode_device_facts,
    should_publish,
)
from netdown.testing import APP, T0_MS, Device

PARAMS = DetectorParams(window_ms=30_000, settle_ms=10_000, stuck_ms=60_000, lateness_ms=2_000, stale_ms=900_000)
REFRESH_MS = 450_000


def _state(device: Device, *, until_ms: int | None = None) -> DeviceState:
    """The detector state after every event of ``device``, with processing time moved past L."""
    state = new_device(device.device_id)
    for event in device.events:
        step(state, event, event.ts_ms, PARAMS)
    tick(state, (until_ms or device.events[-1].ts_ms) + PARAMS.lateness_ms, PARAMS)
    return state


def test_a_device_has_no_facts_until_one_of_its_events_is_applied() -> None:
    device = Device("mac-facts-0001")
    state = new_device(device.device_id)
    assert device_facts(state) is None
    step(state, device.heartbeat(T0_MS), T0_MS, PARAMS)  # a first event waits in the reorder buffer
    assert device_facts(state) is None
    tick(state, T0_MS + PARAMS.lateness_ms, PARAMS)
    facts = device_facts(state)
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
    facts = device_facts(_state(device))
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
    facts = device_facts(_state(device))
    assert facts is not None
    assert (facts.network_extensions, facts.vpn, facts.episodes, facts.last_episode_ms) == ((), None, 0, None)


def _facts(**changes: object) -> DeviceFacts:
    base = DeviceFacts(
        device_id="mac-facts-0004",
        platform="darwin",
        os_version="14.4.1",
        os_build="23E224",
        first_seen_ms=T0_MS,
        last_seen_ms=T0_MS + 10_000,
    )
    return msgspec.structs.replace(base, **changes)


@pytest.mark.parametrize(
    ("previous", "current", "published_seen_ms", "publish"),
    [
        (None, _facts(), None, True),  # never published: always
        (_facts(), _facts(last_seen_ms=T0_MS + 20_000), T0_MS + 10_000, False),  # only seen again, soon after
        (_facts(), _facts(last_seen_ms=T0_MS + 10_000 + REFRESH_MS), T0_MS + 10_000, True),  # seen S/2 later
        (_facts(), _facts(last_seen_ms=T0_MS + 20_000, os_version="14.5"), T0_MS + 10_000, True),  # upgraded
        (_facts(), _facts(affected=True, episodes=1), T0_MS + 10_000, True),  # an episode opened
        (_facts(), _facts(vpn=wire.VpnFlags(include_all_networks=True)), T0_MS + 10_000, True),  # new heartbeat facts
    ],
)
def test_facts_are_published_first_on_any_change_and_when_last_seen_moved_the_refresh_interval(
    previous: DeviceFacts | None, current: DeviceFacts, published_seen_ms: int | None, publish: bool
) -> None:
    assert should_publish(previous, current, published_seen_ms=published_seen_ms, refresh_ms=REFRESH_MS) is publish


def test_facts_round_trip_through_their_json_with_every_field_present() -> None:
    facts = _facts(vpn=wire.VpnFlags(enforce_routes=True), episodes=3, last_episode_ms=T0_MS)
    data = encode_device_facts(facts)
    assert decode_device_facts(data) == facts
    assert set(msgspec.json.decode(data)) == set(DeviceFacts.__struct_fields__)
