"""A device's facts record: when the worker publishes it again, and its bytes (its contents: test_inventory.py)."""

from __future__ import annotations

import msgspec
import pytest

from netdown import wire
from netdown.detection.device_facts import (
    DeviceFacts,
    DeviceSource,
    decode_device_facts,
    encode_device_facts,
    should_publish,
)
from netdown.testing import T0_MS

REFRESH_MS = 450_000
_LOG = DeviceSource(name="macos_path", role="system_path", running=True, last_success_ms=T0_MS)
_APP = DeviceSource(name="app_events", role="app_view", running=True, last_success_ms=T0_MS)


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
        (_facts(), _facts(sources=(_LOG, _APP)), T0_MS + 10_000, True),  # the agent reports its sources
        # A source stopped: at once, whatever its last success says.
        (
            _facts(sources=(_LOG, _APP)),
            _facts(sources=(msgspec.structs.replace(_LOG, running=False), _APP)),
            T0_MS + 10_000,
            True,
        ),
        # Working sources succeeded again: their clocks only, like last_seen_ms, ride with the refresh.
        (
            _facts(sources=(_LOG, _APP)),
            _facts(
                last_seen_ms=T0_MS + 20_000,
                sources=tuple(msgspec.structs.replace(s, last_success_ms=T0_MS + 20_000) for s in (_LOG, _APP)),
            ),
            T0_MS + 10_000,
            False,
        ),
        (_facts(sources=(_LOG, _APP)), _facts(sources=(_LOG,)), T0_MS + 10_000, True),  # a source is gone
    ],
)
def test_facts_are_published_first_on_any_change_and_when_last_seen_moved_the_refresh_interval(
    previous: DeviceFacts | None, current: DeviceFacts, published_seen_ms: int | None, publish: bool
) -> None:
    assert should_publish(previous, current, published_seen_ms=published_seen_ms, refresh_ms=REFRESH_MS) is publish


def test_facts_round_trip_through_their_json_with_every_field_present() -> None:
    facts = _facts(vpn=wire.VpnFlags(enforce_routes=True), episodes=3, last_episode_ms=T0_MS, sources=(_LOG,))
    data = encode_device_facts(facts)
    assert decode_device_facts(data) == facts
    assert set(msgspec.json.decode(data)) == set(DeviceFacts.__struct_fields__)


def test_a_record_written_before_sources_were_added_reads_as_reporting_none() -> None:
    """Forward compatible: a record from an older worker (no ``sources``) still decodes, as unknown sources."""
    older = msgspec.json.decode(encode_device_facts(_facts()))
    del older["sources"]
    assert decode_device_facts(msgspec.json.encode(older)) == _facts()
