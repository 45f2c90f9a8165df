"""The agent's ``seq`` is its spool's index, and a disk that refuses events costs those events, never the agent.

``seq`` never goes back across restarts, not even when the disk lost a tail that was delivered;
a refused event keeps its ``seq`` (a gap the stream job counts), is counted in the heartbeat's
cumulative ``spool.lost``, and is logged when refusals start and when they stop, not per event.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from netdown import wire
from netdown.agent.publisher import Producer, Publisher
from netdown.agent.runtime import Agent, HeartbeatSource
from netdown.agent.sources.base import Observation
from netdown.agent.spool import Spool
from netdown.stamping import DeviceIdentity
from tests.unit.agent.spool_disk import no_space, parse_segment, segments

FACTS = DeviceIdentity(
    device_id="mac-0123456789abcdef01234567", boot_id="b1", platform="darwin", os_version="15.1", os_build="24B83"
)


def _agent(spool: Spool) -> Agent:
    def connect() -> Producer:
        raise AssertionError("these tests never publish")

    return Agent.create(FACTS, spool, Publisher(spool, "events", FACTS.device_id.encode(), connect), sources=[])


def _probe(index: int) -> Observation:
    return Observation(ts_ms=1_732_540_800_000 + index, body=wire.ProbeBody(target="x", kind="dns", ok=True))


def _seqs(events: list[wire.Event | None]) -> list[int | None]:
    return [event.seq if event else None for event in events]


def test_seq_is_the_spool_index_and_never_goes_back_not_even_when_a_delivered_tail_is_lost(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    agent = _agent(spool)
    assert _seqs([agent.accept(_probe(index)) for index in range(6)]) == [0, 1, 2, 3, 4, 5], "a new spool: from 0"
    items = spool.read(10)
    assert [item.index for item in items] == [0, 1, 2, 3, 4, 5]
    spool.ack(items[-1].end)  # delivered
    del spool, agent  # power loss: the disk lost the tail, 3-5
    (segment,) = segments(tmp_path)
    with segment.open("r+b") as handle:
        handle.truncate(parse_segment(segment)[3].start)
    restarted = _agent(Spool(tmp_path))
    assert _seqs([restarted.accept(_probe(6))]) == [6], "3-5 are in Kafka: never a second event with those seqs"
    restarted.spool.close()


def test_a_full_disk_costs_the_events_it_refuses_never_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    agent = _agent(spool)
    heartbeat = HeartbeatSource(
        spool=spool,
        platform="darwin",
        monitored=None,
        interval_s=300,
        read_uptime=lambda: 1,
        read_device_facts=wire.Facts,
    )
    stop = threading.Event()
    stop.set()  # one heartbeat per run()
    caplog.set_level(logging.INFO, logger="netdown.agent.runtime")
    events = [agent.accept(_probe(0))]
    with monkeypatch.context() as patched:
        patched.setattr("netdown.agent.spool.os.write", no_space)
        events += [agent.accept(_probe(index)) for index in (1, 2, 3)]  # returns, never raises
    events.append(agent.accept(_probe(4)))
    heartbeat.run(lambda observation: events.append(agent.accept(observation, "heartbeat")), stop)

    assert _seqs(events) == [0, None, None, None, 4, 5], "refused events keep their seq: a gap the worker counts"
    assert agent.unspooled == 3
    assert agent.accepted == 3
    assert spool.next_index == 6, "stamper and spool stay in step"
    messages = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0][0] == logging.WARNING
    assert "cannot write a" in messages[0][1]
    assert "No space left on device" in messages[0][1]
    assert messages[1] == (logging.INFO, "spool writable again after 3 refused")

    beat = events[-1]
    assert isinstance(beat, wire.HeartbeatEvent)
    assert beat.spool.lost == wire.SpoolLoss(write_failed=3), "cumulative: a later heartbeat repeats the total"
    spooled = [wire.decode(item.payload) for item in spool.read(10)]
    assert [event.seq for event in spooled if isinstance(event, wire.Event)] == [0, 4, 5]
    spool.close()
