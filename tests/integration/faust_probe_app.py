"""A minimal Faust app that proves faust-streaming works against our broker, run as a real worker.

Configured by environment (the test starts it as ``python -m tests.integration.faust_probe_app worker``):
it declares its input topic (Faust creates it with the requested partitions), decodes each message
with the wire contract, counts events per device in a changelog-backed table, and forwards each
event's ``event_id`` to an output topic keyed by ``device_id`` for the test to read.
"""

from __future__ import annotations

import os

import faust

from netdown import wire

app = faust.App(
    os.environ["PROBE_APP_ID"],
    broker=f"kafka://{os.environ['PROBE_BOOTSTRAP']}",
    datadir=os.environ["PROBE_DATADIR"],
    store="memory://",
    web_enabled=False,
    topic_partitions=int(os.environ["PROBE_PARTITIONS"]),
    topic_replication_factor=1,
)
events_in = app.topic(
    os.environ["PROBE_IN_TOPIC"],
    partitions=int(os.environ["PROBE_PARTITIONS"]),
    key_serializer="raw",
    value_serializer="raw",
    internal=True,  # Faust creates it if missing, with these partitions
)
ids_out = app.topic(os.environ["PROBE_OUT_TOPIC"], key_serializer="raw", value_serializer="raw")
events_per_device = app.Table("events_per_device", default=int)


@app.agent(events_in)
async def forward(stream: faust.StreamT[bytes]) -> None:
    """Decode, count per device, forward the event id."""
    async for key, value in stream.items():
        event = wire.decode(value)
        if isinstance(event, wire.Rejection):
            raise RuntimeError(f"probe received an invalid event: {event}")
        events_per_device[event.device_id] += 1
        await ids_out.send(key=key, value=event.event_id.encode())


if __name__ == "__main__":
    app.main()
