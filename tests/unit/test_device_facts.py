"""A device's facts record: when the worker publishes it again, and its bytes (its contents: test_inventory.py)."""

from __future__ import annotations

import msgspec
import pytest

from netdown import wire
from netdown.detection.device_facts import (
    DeviceFacts,
    decode_device_facts,
    encode_device_facts,
    should_publish,
)
from netdown.testing import T0_MS

REFRESH_MS = 450_000


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
