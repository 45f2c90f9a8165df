"""The Kafka topics netdown's roles meet on, in one place: the agent writes the first, the stream job reads it
and writes the others, and the reports and the demo read them back. Each is the default of the option that
names it (``--topic``, ``--incidents-topic``, ``--devices-topic``, ``--dlq-topic``); the records they carry are
defined in :mod:`netdown.wire` (events), :mod:`netdown.detection.incident`, :mod:`netdown.detection.device_facts`
and the worker's dead letters (``netdown.stream.dlq``). A new major version of a record gets a new topic."""

from typing import Final

__all__ = ["DEVICES_TOPIC", "DLQ_TOPIC", "EVENTS_TOPIC", "INCIDENTS_TOPIC"]

EVENTS_TOPIC: Final = "netdown.events.v1"  # where agents publish wire events, keyed by device_id
INCIDENTS_TOPIC: Final = "netdown.incidents.v1"  # each episode's record at every change, keyed by device_id
DEVICES_TOPIC: Final = "netdown.devices.v1"  # each device's latest facts, compacted: the fleet inventory
DLQ_TOPIC: Final = "netdown.events.dlq"  # refused messages, their bytes bounded, with the reason in headers
