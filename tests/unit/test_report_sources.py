"""Reading the reports' inputs: NDJSON files, merged incident states, Prometheus answers and failures, the window."""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from netdown.detection.device_facts import encode_device_facts
from netdown.detection.incident import decode_incident, encode_incident, latest_incidents
from netdown.devstack.kafka import free_port
from netdown.report.sources import (
    KafkaTopics,
    PrometheusAPI,
    SourceError,
    latest_devices,
    load_devices,
    load_incidents,
    read_ndjson,
)
from netdown.report.testing import HOUR_MS, T0_MS, device, incident
from netdown.report.window import Window, format_duration, parse_time

# --- NDJSON and merging ------------------------------------------------------------------------------------


def test_ndjson_skips_undecodable_lines_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mac = device("mac-ndjson-0001")
    path = tmp_path / "incidents.ndjson"
    path.write_bytes(
        encode_incident(incident(mac, T0_MS)) + b"\n\n{not json\n" + encode_incident(incident(mac, T0_MS + 1)) + b"\n"
    )
    records = read_ndjson(path, decode_incident, "incidents")
    assert [record.opened_ms for record in records] == [T0_MS, T0_MS + 1]
    assert "skipped 1 undecodable line(s)" in capsys.readouterr().err


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot read device facts from .*: No such file or directory"):
        load_devices(tmp_path / "absent.ndjson", None, "unused")


def test_incident_state_changes_merge_into_the_furthest_state_in_any_order() -> None:
    mac = device("mac-merge-00001")
    opened = incident(mac, T0_MS)
    stuck = msgspec.structs.replace(opened, stuck=True)
    closed = msgspec.structs.replace(stuck, closed_ms=T0_MS + HOUR_MS, close_reason="reboot")
    other = incident(mac, T0_MS + 2 * HOUR_MS)
    for order in ([opened, stuck, closed, other], [closed, opened, other, stuck]):
        assert latest_incidents(order) == [closed, other]


def test_the_latest_record_of_a_device_wins(tmp_path: Path) -> None:
    old = device("mac-latest-0001", os_build="24B83", last_seen_ms=T0_MS)
    new = device("mac-latest-0001", os_build="24C101", last_seen_ms=T0_MS + HOUR_MS)
    assert latest_devices([new, old]) == [new]
    path = tmp_path / "devices.ndjson"
    path.write_bytes(encode_device_facts(old) + b"\n" + encode_device_facts(new) + b"\n")
    assert load_devices(path, None, "unused") == [new]


def test_files_need_no_broker(tmp_path: Path) -> None:
    mac = device("mac-files-00001")
    path = tmp_path / "incidents.ndjson"
    path.write_bytes(encode_incident(incident(mac, T0_MS)) + b"\n")
    assert len(load_incidents(path, None, "unused")) == 1
    with pytest.raises(SourceError, match="give --incidents FILE or --broker"):
        load_incidents(None, None, "unused")


def test_an_unreachable_broker_is_one_line() -> None:
    topics = KafkaTopics(f"127.0.0.1:{free_port()}", timeout_s=1.0)
    with pytest.raises(SourceError, match=r"cannot reach the Kafka broker at 127\.0\.0\.1:\d+: .*Unable to bootstrap"):
        topics.messages("netdown.devices.v1")


# --- Prometheus over HTTP ------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers /api/v1/query like Prometheus: a vector for `up`, a 400 for anything else, garbage for `garbage`."""

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        expr, at = query["query"][0], query["time"][0]
        if expr == "garbage":
            self._send(200, b"<html>")
        elif expr == "up":
            result = [{"metric": {"os_version": "15.2"}, "value": [float(at), "3"]}]
            self._send(200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}))
        else:
            body = {"status": "error", "errorType": "bad_data", "error": f'parse error in "{expr}"'}
            self._send(400, json.dumps(body))

    def _send(self, status: int, body: str | bytes) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        """Quiet."""


@pytest.fixture
def prometheus() -> Iterator[PrometheusAPI]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield PrometheusAPI(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=5)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_prometheus_queries_at_an_explicit_time(prometheus: PrometheusAPI) -> None:
    assert prometheus.query("up", T0_MS + 500) == [({"os_version": "15.2"}, 3.0)]
    assert prometheus.by_label("up", T0_MS, "os_version") == {"15.2": 3.0}


def test_a_refused_query_says_why(prometheus: PrometheusAPI) -> None:
    with pytest.raises(SourceError, match=r'refused a query: parse error in "sum\(\("'):
        prometheus.query("sum((", T0_MS)


def test_something_that_is_not_prometheus(prometheus: PrometheusAPI) -> None:
    with pytest.raises(SourceError, match="did not answer like Prometheus"):
        prometheus.query("garbage", T0_MS)


def test_an_unreachable_prometheus_is_one_line() -> None:
    api = PrometheusAPI(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(SourceError, match=r"cannot reach Prometheus at http://127\.0\.0\.1:\d+: .*refused"):
        api.query("up", T0_MS)


# --- the window --------------------------------------------------------------------------------------------


def test_durations_print_back_as_promql_accepts_them() -> None:
    assert [format_duration(ms) for ms in (604_800_000, 5_400_000, 90_000, 1_500)] == [
        "7d",
        "1h30m",
        "1m30s",
        "1s500ms",
    ]


def test_times() -> None:
    assert parse_time("1732540800") == 1_732_540_800_000
    assert parse_time("2024-11-25T13:20:00Z") == 1_732_540_800_000
    assert parse_time("2024-11-25T14:20:00+01:00") == 1_732_540_800_000
    assert parse_time("2024-11-25 13:20") == 1_732_540_800_000  # naive is UTC
    with pytest.raises(ValueError, match="neither Unix seconds nor an ISO 8601 time"):
        parse_time("yesterday")


def test_window_membership_and_overlap() -> None:
    window = Window(1000, 2000)
    assert not window.holds(1000)  # (start, end], as increase() counts
    assert window.holds(2000)
    assert window.overlap_ms(500, 1500) == 500
    assert window.overlap_ms(2500, 3000) == 0
    assert window.touches(2000, 2000)
    assert not window.touches(500, 1000)
