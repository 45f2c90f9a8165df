"""A real full disk: the spool refuses records cleanly, counts them, and works again once space frees.

The disk is a 256 KiB tmpfs (mounting needs root; the tests skip without it). Filled through the
spool, the kernel gives a short write and then ENOSPC, which the fakes in the unit tests only imitate.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netdown import wire
from netdown.agent.publisher import Producer, Publisher
from netdown.agent.runtime import Agent, HeartbeatSource
from netdown.agent.sources.base import Observation
from netdown.agent.spool import Spool, SpoolWriteError
from netdown.stamping import DeviceIdentity
from tests.unit.agent.spool_disk import records_on_disk

DISK_BYTES = 256 * 1024
FACTS = DeviceIdentity(
    device_id="linux-full-disk-test1", boot_id="boot-1", platform="linux", os_version="12", os_build=""
)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh 256 KiB tmpfs, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mountpoint)],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {getattr(exc, 'stderr', b'') or exc}")
    try:
        yield mountpoint
    finally:
        # Lazily: a test that simulates a crash leaves its spool's descriptor open until the process ends.
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=True)


def _agent_log(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    """What the agent logged (the spool's own notes on its state file are not the point here)."""
    return [(record.levelno, record.getMessage()) for record in caplog.records if record.name.endswith("runtime")]


def _payload(index: int) -> bytes:
    return b"%06d|" % index + b"x" * 300


def test_a_full_disk_refuses_records_without_tearing_any_and_the_spool_recovers(small_disk: Path) -> None:
    directory = small_disk / "spool"
    spool = Spool(directory, max_bytes=4 << 20, segment_bytes=32 << 10)  # a bound far above the disk
    taken: list[tuple[int, bytes]] = []
    errors: list[SpoolWriteError] = []
    while len(errors) < 5:
        payload = _payload(len(taken) + len(errors))
        try:
            taken.append((spool.append(payload), payload))
        except SpoolWriteError as exc:
            errors.append(exc)
    assert len(taken) * 300 > DISK_BYTES // 2, "the disk filled with records, not with anything else"
    for error in errors:  # the kernel's short write is continued, so its ENOSPC is what the message says
        assert str(error) == f"spool {directory}: cannot write a 331-byte record: No space left on device"
        assert error.errno == errno.ENOSPC
    assert spool.losses == wire.SpoolLoss(write_failed=5)
    assert [(frame.index, frame.payload) for frame in records_on_disk(directory)] == taken, "no torn record"

    delivered = spool.read(len(taken) + 10)
    assert [(item.index, item.payload) for item in delivered] == taken
    spool.ack(delivered[-1].end)  # delivered: the finished segments are deleted, space frees
    after = spool.next_index
    assert after == len(taken) + 5, "refused records used up their indices"
    assert [spool.append(_payload(after + n)) for n in range(3)] == [after, after + 1, after + 2]
    del spool  # killed

    reopened = Spool(directory, max_bytes=4 << 20, segment_bytes=32 << 10)
    assert [(item.index, item.payload) for item in reopened.read(10)] == [
        (after + n, _payload(after + n)) for n in range(3)
    ]
    assert reopened.losses == wire.SpoolLoss(write_failed=5), "the count was saved once the disk had room"
    reopened.close()


def test_an_agent_on_a_full_disk_keeps_running_and_its_heartbeat_reports_the_loss(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (DISK_BYTES - 48 * 1024))  # another program filled the disk, nearly
    spool = Spool(small_disk / "spool", max_bytes=4 << 20, segment_bytes=32 << 10)

    def connect() -> Producer:
        raise AssertionError("this test never publishes")

    agent = Agent.create(FACTS, spool, Publisher(spool, "events", FACTS.device_id.encode(), connect), sources=[])
    caplog.set_level(logging.INFO, logger="netdown.agent.runtime")
    probe = Observation(ts_ms=1_732_540_800_000, body=wire.ProbeBody(target="10.9.0.1:443", kind="tcp", ok=True))
    results: list[wire.Event | None] = []
    while results.count(None) < 5:
        results.append(agent.accept(probe))  # never raises into the source's thread
    assert agent.unspooled == 5
    (warning,) = _agent_log(caplog)  # once, not per event
    assert warning[0] == logging.WARNING
    # The record's size is the event's (it grows with the contract), so the message is matched for its shape.
    assert re.search(r"cannot write a \d{3}-byte record: No space left on device", warning[1]), warning[1]

    filler.unlink()  # space frees
    heartbeat = HeartbeatSource(
        spool=spool,
        platform="linux",
        monitored=None,
        interval_s=300,
        read_uptime=lambda: 1,
        read_device_facts=wire.Facts,
    )
    stop = threading.Event()
    stop.set()  # one heartbeat
    beats: list[wire.Event | None] = []
    heartbeat.run(lambda observation: beats.append(agent.accept(observation, "heartbeat")), stop)
    (beat,) = beats
    assert isinstance(beat, wire.HeartbeatEvent)
    assert beat.spool.lost == wire.SpoolLoss(write_failed=5), "cumulative, so a lost heartbeat loses no count"
    assert beat.seq == len(results), "the refused events' seqs stay used: the stream job sees the gap"
    assert _agent_log(caplog)[1:] == [(logging.INFO, "spool writable again after 5 refused")]
    spooled = [wire.decode(item.payload) for item in spool.read(len(results) + 1)]
    assert len(spooled) == len(results) - 5 + 1
    spool.close()
