"""The worker's options: flags, their NETDOWN_* environment fallbacks, and the detector parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdown.detection.detector import DetectorParams
from netdown.stream import worker
from netdown.stream.cli import build_parser
from netdown.stream.settings import detector_flags


def _options(*argv: str) -> worker.WorkerOptions:
    arguments = ["worker", *argv]
    return worker.WorkerOptions.from_args(build_parser(arguments).parse_args(arguments))


def test_defaults_are_the_documented_topics_and_parameters() -> None:
    options = _options()
    assert (
        options.broker,
        options.events_topic,
        options.incidents_topic,
        options.dlq_topic,
        options.devices_topic,
    ) == (
        "kafka://127.0.0.1:9092",
        "netdown.events.v1",
        "netdown.incidents.v1",
        "netdown.events.dlq",
        "netdown.devices.v1",
    )
    assert (options.web_port, options.metric_apps, options.params) == (6066, frozenset(), DetectorParams())
    assert options.batch_max == 20_000


def test_flags_override_the_environment_which_overrides_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETDOWN_EVENTS_TOPIC", "fleet.events")
    monkeypatch.setenv("NETDOWN_PARTITIONS", "24")
    monkeypatch.setenv("NETDOWN_METRIC_APPS", "com.example.vpn.tunnel,com.example.proxy")
    monkeypatch.setenv("NETDOWN_LATENESS", "30")
    monkeypatch.setenv("NETDOWN_DEVICES_TOPIC", "fleet.devices")
    options = _options("--partitions=6", "--data-dir=/var/lib/netdown", "--settle=2.5")
    assert options.events_topic == "fleet.events"
    assert options.devices_topic == "fleet.devices"
    assert options.partitions == 6
    assert options.metric_apps == frozenset({"com.example.vpn.tunnel", "com.example.proxy"})
    assert options.data_dir == Path("/var/lib/netdown")
    assert (options.params.lateness_ms, options.params.settle_ms) == (30_000, 2_500)


@pytest.mark.parametrize(
    "flag", ["--partitions=0", "--web-port=-1", "--partitions=many", "--log-level=chatty", "--batch-max=0"]
)
def test_a_bad_value_is_refused_before_anything_starts(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _options(flag)
    assert flag.split("=", maxsplit=1)[0] in capsys.readouterr().err


def test_detector_flags_give_back_the_parameters_they_were_made_from() -> None:
    params = DetectorParams(window_ms=12_345, settle_ms=2_500, stuck_ms=30_000, lateness_ms=4_001, stale_ms=86_400_000)
    assert _options(*detector_flags(params)).params == params
