"""A broker outage leaves a log a person can read: a line per change of state and periodic summaries, not
dozens of identical errors a second; and the worker carries on once the broker is back."""

from __future__ import annotations

import time
from pathlib import Path

from netdown.devstack.kafka import KafkaBroker
from netdown.devstack.stream_worker import StreamWorker, create_topics, produce
from netdown.testing import T0_MS, Device, messages

OUTAGE_S = 20.0
# Measured before the repeat limiter: ~63 ERROR lines a second from one worker (over 1,200 in this outage).
MAX_LINES_PER_OUTAGE = 60


def test_a_broker_outage_is_logged_in_a_few_lines_and_processing_resumes_after_it(tmp_path: Path) -> None:
    with KafkaBroker(data_dir=tmp_path / "kafka") as broker:
        worker = StreamWorker.named(broker.bootstrap, tmp_path / "worker", "outage", partitions=1)
        create_topics(broker.bootstrap, [worker.events_topic], 1)
        first = Device("mac-outage-00001")
        first.heartbeat(T0_MS)
        produce(broker.bootstrap, worker.events_topic, messages(first.events))
        with worker:
            worker.wait_for(lambda m: m.value("netdown_events_total") == 1, timeout=90)
            time.sleep(2)  # let the first commit and metadata refresh settle
            before = worker.log_path.read_text(errors="replace").count("\n")
            broker.stop()
            time.sleep(OUTAGE_S)
            during = worker.log_path.read_text(errors="replace").splitlines()[before:]
            broker.start()
            second = Device("mac-outage-00002")
            second.heartbeat(T0_MS)
            produce(broker.bootstrap, worker.events_topic, messages(second.events))
            worker.wait_for(lambda m: m.value("netdown_events_total") == 2, timeout=120)
    assert during, "the outage is logged"
    assert len(during) <= MAX_LINES_PER_OUTAGE, "\n".join(during[:80])
