"""The local broker as a developer drives it: the `netdown-kafka` command and the Python API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from netdown.devstack.kafka import KAFKA_VERSION, KafkaBroker, api_versions_ok, recorded_pid


def _netdown_kafka(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed console script, as a developer would."""
    script = Path(sys.executable).parent / "netdown-kafka"
    return subprocess.run([script, *args], capture_output=True, text=True, timeout=180, check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split(")", 1)[1].split()[0] != "Z"


def _wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_command_starts_reports_and_stops_a_detached_broker(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "kafka")
    started = _netdown_kafka("start", "--data-dir", data_dir)
    assert started.returncode == 0, started.stderr
    assert f"Kafka {KAFKA_VERSION} serving on 127.0.0.1:" in started.stdout
    pid = recorded_pid(Path(data_dir))
    assert pid is not None
    try:
        status = _netdown_kafka("status", "--data-dir", data_dir)
        assert status.returncode == 0
        assert f"(pid {pid})" in status.stdout
        again = _netdown_kafka("start", "--data-dir", data_dir)
        assert again.returncode == 1
        assert "already runs" in again.stderr
    finally:
        stopped = _netdown_kafka("stop", "--data-dir", data_dir)
    assert stopped.returncode == 0
    assert f"stopped Kafka (pid {pid})" in stopped.stdout
    assert _wait_dead(pid, 5)
    after = _netdown_kafka("status", "--data-dir", data_dir)
    assert after.returncode == 3
    assert "not running" in after.stdout


def test_broker_restarted_on_its_data_dir_keeps_port_and_messages(tmp_path: Path) -> None:
    broker = KafkaBroker(data_dir=tmp_path / "kafka")
    with broker:
        first_port = broker.port
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic("kept", num_partitions=1, replication_factor=1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        for i in range(20):
            producer.send("kept", value=b"m%d" % i)
        producer.flush()
        producer.close()
    assert not api_versions_ok("127.0.0.1", first_port)
    with broker:
        assert broker.port == first_port
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, consumer_timeout_ms=10_000)
        partition = TopicPartition("kept", 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        values = [record.value for _, record in zip(range(20), consumer, strict=False)]
        consumer.close()
    assert values == [b"m%d" % i for i in range(20)]


def test_broker_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    owner_script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from netdown.devstack.kafka import KafkaBroker\n"
        "broker = KafkaBroker(data_dir=Path(sys.argv[1]))\n"
        "broker.start()\n"
        "print(broker.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", owner_script, str(tmp_path / "kafka")], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    broker_pid = int(owner.stdout.readline())
    assert _pid_alive(broker_pid)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    owner.stdout.close()
    assert _wait_dead(broker_pid, 60), "the broker outlived the process that started it"
