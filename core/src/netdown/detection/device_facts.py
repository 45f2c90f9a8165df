"""The device-facts record: each device's latest facts, published to the compacted ``netdown.devices.v1``.

Reports need the fleet's denominators (how many Macs run 15.2 build 24C101, how many have a content
filter) without labelling Prometheus series by device. The worker keeps one record per device and
publishes it, keyed by ``device_id``, to a compacted topic: the topic's latest value per key *is* the
fleet inventory, readable by any Kafka client, and ``netdown-stream replay --devices-out`` writes the
same records as NDJSON for a post-mortem with no cluster.

Like the wire contract and the incident record, it is defined once, here, with its codec and the rule
of when the worker publishes it again (:func:`should_publish`). What a device's facts are is the
inventory's to say (:func:`netdown.detection.inventory.device_facts`), for the worker and the replay alike.
"""

from __future__ import annotations

from typing import Final

import msgspec

from netdown import wire

__all__ = [
    "DeviceFacts",
    "DeviceSource",
    "decode_device_facts",
    "device_sources",
    "encode_device_facts",
    "should_publish",
]


class DeviceSource(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One evidence source of the device's agent, as its latest applied heartbeat reported it.

    What on-call needs to go from ``NetdownAgentsBlind`` to the Macs: which source, the evidence it
    gives, whether it works, and since when it has not. The heartbeat's cumulative counts (events,
    errors) are left out: they grow with every heartbeat, and a record that changed with each would
    be published with each (:func:`should_publish`).
    """

    name: str  # the source's name in the agent's config, as reported (up to 256 characters, wire.SourceHealth)
    role: wire.SourceRole
    running: bool
    last_success_ms: int | None = None  # device clock; null if it never read and parsed successfully


def device_sources(sources: tuple[wire.SourceHealth, ...]) -> tuple[DeviceSource, ...]:
    """A heartbeat's source health as the device-facts record keeps it (at most ``wire.MAX_SOURCES`` entries)."""
    return tuple(
        DeviceSource(name=source.name, role=source.role, running=source.running, last_success_ms=source.last_success_ms)
        for source in sources
    )


class DeviceFacts(msgspec.Struct, frozen=True, kw_only=True):
    """One device as the worker last saw it: identity, release, facts, activity, and its episode history."""

    v: int = 1
    device_id: str
    platform: str
    os_version: str  # as reported (not normalised): reports group by it and by os_build
    os_build: str
    network_extensions: tuple[wire.NetworkExtension, ...] = ()
    vpn: wire.VpnFlags | None = None
    first_seen_ms: int  # event time of the first event applied
    last_seen_ms: int  # event time of the latest event applied
    affected: bool = False  # an episode is open now
    stuck: bool = False  # an open episode is stuck
    episodes: int = 0  # episodes opened since first seen
    stuck_episodes: int = 0  # of those, how many became stuck
    last_episode_ms: int | None = None  # when the latest episode opened
    # The agent's sources as of its latest applied heartbeat. Empty for an agent older than 0.2, which does not
    # report them (and until a heartbeat is applied): unknown, not blind. Added after v1's first fields; older
    # readers ignore it, and a record without it reads as empty.
    sources: tuple[DeviceSource, ...] = ()


_ENCODER: Final = msgspec.json.Encoder(order="sorted")
_DECODER: Final = msgspec.json.Decoder(DeviceFacts)


def encode_device_facts(facts: DeviceFacts) -> bytes:
    """Canonical JSON bytes (sorted keys, every field present), the topic's and the NDJSON export's value."""
    return _ENCODER.encode(facts)


def decode_device_facts(data: bytes) -> DeviceFacts:
    """A record from its JSON bytes; raises ``msgspec.ValidationError``/``DecodeError`` on bad input."""
    return _DECODER.decode(data)


def should_publish(
    previous: DeviceFacts | None, current: DeviceFacts, *, published_seen_ms: int | None, refresh_ms: int
) -> bool:
    """Whether the worker publishes ``current``, the facts after an update that found ``previous``.

    Always the first time (``published_seen_ms`` is the ``last_seen_ms`` of the last record published,
    None if none was); then on any change but of ``last_seen_ms`` and of the sources' ``last_success_ms``;
    and when ``last_seen_ms`` has moved ``refresh_ms`` past the last one published. Every event moves
    ``last_seen_ms``, and every heartbeat a working source's ``last_success_ms``: publishing each would be
    a record per event (or per heartbeat); this way a device costs a record per change and per
    ``refresh_ms`` of its own time, and a reader knows each device's last activity, and each source's
    last success, to within ``refresh_ms``.

    Comparing with ``previous`` rather than with the record last published is enough: every other change
    is published, so the two differ in those clocks alone.
    """
    if published_seen_ms is None or previous is None:
        return True
    if current.last_seen_ms - published_seen_ms >= refresh_ms:
        return True
    if msgspec.structs.replace(previous, last_seen_ms=current.last_seen_ms, sources=current.sources) != current:
        return True
    # Most updates leave the sources as they were: one comparison; only a heartbeat's new ones are looked into.
    return previous.sources != current.sources and _health(previous.sources) != _health(current.sources)


def _health(sources: tuple[DeviceSource, ...]) -> list[tuple[str, str, bool]]:
    """The sources without their clocks: what a change of which is published at once."""
    return [(source.name, source.role, source.running) for source in sources]
