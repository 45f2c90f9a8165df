"""Where the reports read from: Prometheus's HTTP API, the device-facts and incidents topics, NDJSON files.

Every failure to read becomes a :class:`SourceError` whose message is one line a person can act on
("cannot reach Prometheus at http://...: Connection refused"); the command prints it and exits 2.

* Prometheus: instant queries (``/api/v1/query`` with an explicit ``time``) over plain ``urllib``.
* Kafka (kafka-python, the agent's client): a topic read from its beginning to the end offsets
  taken when reading starts, without a consumer group (nothing is committed). The devices topic is
  compacted, so the latest value per key is the device's record; the incidents topic has one record
  per state change of an episode, merged per :attr:`Incident.key` into its furthest state.
* NDJSON files: ``netdown-stream replay``'s incidents and its ``--devices-out`` export. A line that
  does not decode is skipped and counted (a capture cut mid-line must not sink a post-mortem).
"""

from __future__ import annotations

import json
import math
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from netdown import cli_io
from netdown.detection.device_facts import DeviceFacts, decode_device_facts
from netdown.detection.incident import Incident, decode_incident, latest_incidents

__all__ = [
    "KafkaTopics",
    "Message",
    "PrometheusAPI",
    "Sample",
    "SourceError",
    "decoded_values",
    "latest_devices",
    "load_devices",
    "load_incidents",
    "read_ndjson",
]

_T = TypeVar("_T")
Message = tuple[bytes | None, bytes | None]  # a topic message's key and value
Sample = tuple[dict[str, str], float]  # an instant-vector element's labels and value


class SourceError(Exception):
    """A source could not be read; the message is one line for the terminal."""


# --- Prometheus ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrometheusAPI:
    """Instant queries against one Prometheus server (``url`` as ``http://host:9090``)."""

    url: str
    timeout_s: float = 30.0

    def query(self, expr: str, at_ms: int) -> list[Sample]:
        """The instant vector ``expr`` evaluates to at ``at_ms``: (labels, value) pairs, NaN kept."""
        params = urllib.parse.urlencode({"query": expr, "time": f"{at_ms / 1000:.3f}"})
        address = f"{self.url.rstrip('/')}/api/v1/query?{params}"
        try:
            with urllib.request.urlopen(address, timeout=self.timeout_s) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # Prometheus explains a bad query in the JSON body
            raise SourceError(f"Prometheus at {self.url} refused a query: {_prometheus_error(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        except ValueError:
            raise SourceError(f"{self.url} did not answer like Prometheus (not JSON)") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            raise SourceError(f"Prometheus at {self.url} answered an error: {body}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(dict(item["metric"]), float(item["value"][1])) for item in data["result"]]

    def by_label(self, expr: str, at_ms: int, label: str) -> dict[str, float]:
        """``expr``'s values by one label, non-finite values (``histogram_quantile`` of nothing) dropped."""
        return {labels.get(label, ""): value for labels, value in self.query(expr, at_ms) if math.isfinite(value)}


def _prometheus_error(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error", f"HTTP {exc.code}"))
    except ValueError:
        return f"HTTP {exc.code}"


# --- Kafka --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KafkaTopics:
    """Reads whole topics from a broker (``host:port``), as of the moment reading starts."""

    bootstrap: str
    timeout_s: float = 60.0

    def messages(self, topic: str) -> list[Message]:
        """Every (key, value) of ``topic`` up to its end offsets, in offset order within each partition."""
        from kafka import KafkaConsumer, TopicPartition  # noqa: PLC0415 (the `report` extra; files need no Kafka)
        from kafka.errors import KafkaError  # noqa: PLC0415

        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                enable_auto_commit=False,
                group_id=None,
                isolation_level="read_committed",
                request_timeout_ms=int(self.timeout_s * 1000),
                bootstrap_timeout_ms=int(self.timeout_s * 1000),
            )
        except KafkaError as exc:
            raise SourceError(f"cannot reach the Kafka broker at {self.bootstrap}: {exc}") from None
        try:
            return self._read(consumer, topic, TopicPartition)
        except KafkaError as exc:
            raise SourceError(f"cannot read topic {topic} from {self.bootstrap}: {exc}") from None
        finally:
            consumer.close()

    def _read(self, consumer: Any, topic: str, topic_partition: Any) -> list[Message]:
        numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise SourceError(f"topic {topic} does not exist on {self.bootstrap}")
        partitions = [topic_partition(topic, number) for number in sorted(numbers)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        by_partition: dict[int, list[Message]] = {tp.partition: [] for tp in partitions}
        deadline = time.monotonic() + self.timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise SourceError(f"could not read topic {topic} to its end within {self.timeout_s:g}s")
            for tp, batch in consumer.poll(timeout_ms=500).items():
                by_partition[tp.partition] += [(r.key, r.value) for r in batch if r.offset < ends[tp]]
        return [message for number in sorted(by_partition) for message in by_partition[number]]


# --- records from any source --------------------------------------------------------------------------


def read_ndjson(path: Path, decode: Callable[[bytes], _T], what: str) -> list[_T]:
    """Every record of an NDJSON file; undecodable lines are skipped and counted on stderr."""
    try:
        with path.open("rb") as stream:
            records, bad = _decode_lines(stream, decode)
    except OSError as exc:
        raise SourceError(f"cannot read {what} from {path}: {cli_io.os_reason(exc)}") from None
    if bad:
        print(
            f"netdown-report: skipped {len(bad)} undecodable line(s) of {path} (first: line {bad[0]})", file=sys.stderr
        )
    return records


def _decode_lines(lines: Iterable[bytes], decode: Callable[[bytes], _T]) -> tuple[list[_T], list[int]]:
    records: list[_T] = []
    bad: list[int] = []
    for number, line in enumerate(lines, start=1):
        if line.isspace() or not line:
            continue
        try:
            records.append(decode(line))
        except (msgspec.DecodeError, msgspec.ValidationError):
            bad.append(number)
    return records, bad


def decoded_values(
    messages: Iterable[tuple[bytes | None, bytes | None]], decode: Callable[[bytes], _T]
) -> Iterator[_T]:
    """The decodable values of topic messages; tombstones and foreign bytes are passed over."""
    for _key, value in messages:
        if value is None:
            continue
        try:
            yield decode(value)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue


def latest_devices(records: Iterable[DeviceFacts]) -> list[DeviceFacts]:
    """One record per device, the latest seen (a compacted topic may still hold older ones)."""
    latest: dict[str, DeviceFacts] = {}
    for record in records:
        known = latest.get(record.device_id)
        if known is None or record.last_seen_ms >= known.last_seen_ms:
            latest[record.device_id] = record
    return sorted(latest.values(), key=lambda device: device.device_id)


def load_devices(path: Path | None, topics: KafkaTopics | None, topic: str) -> list[DeviceFacts]:
    """Device records from an NDJSON export if given, else from the devices topic."""
    if path is not None:
        return latest_devices(read_ndjson(path, decode_device_facts, "device facts"))
    if topics is None:
        raise SourceError("no device facts: give --devices FILE or --broker HOST:PORT")
    return latest_devices(decoded_values(topics.messages(topic), decode_device_facts))


def load_incidents(path: Path | None, topics: KafkaTopics | None, topic: str) -> list[Incident]:
    """Episodes from replay's NDJSON output if given, else from the incidents topic."""
    if path is not None:
        return latest_incidents(read_ndjson(path, decode_incident, "incidents"))
    if topics is None:
        raise SourceError("no incidents: give --incidents FILE or --broker HOST:PORT")
    return latest_incidents(decoded_values(topics.messages(topic), decode_incident))
