"""The agent is wired from its config: sources get their options and the agent's context, or a named error."""

from __future__ import annotations

import base64
import inspect
import threading
from pathlib import Path
from typing import Any

import pytest

from netdown import wire
from netdown.agent.config import ConfigError, load_config
from netdown.agent.envelope import Stamper
from netdown.agent.runtime import HeartbeatSource, build_agent
from netdown.agent.sources import discover
from netdown.agent.sources.base import Observation
from netdown.agent.sources.scutil import MacPathSource
from netdown.agent.spool import Spool
from netdown.stamping import DeviceIdentity
from tests.unit.agent.golden import jsonable

EXAMPLE = Path(__file__).resolve().parents[3] / "deploy" / "agent.example.toml"
FACTS = DeviceIdentity(
    device_id="mac-0123456789abcdef01234567", boot_id="b1", platform="darwin", os_version="15.1", os_build="24B83"
)


def _example(tmp_path: Path, edit: tuple[str, str] = ("", "")) -> Path:
    config = tmp_path / "agent.toml"
    text = EXAMPLE.read_text().replace(*edit)
    config.write_text(text.replace("/Library/Application Support/netdown/state", str(tmp_path / "state")))
    (tmp_path / "fleet.key").write_text("fleet-secret\n")
    (tmp_path / "kafka.password").write_text("hunter2\n")
    for secret in ("fleet.key", "kafka.password"):
        (tmp_path / secret).chmod(0o600)  # the agent refuses a secret file group or others may access
    return config


def test_the_shipped_example_config_builds_every_source_it_names(tmp_path: Path) -> None:
    path = _example(tmp_path)
    config, secrets = load_config(path)
    agent = build_agent(config, secrets, path, FACTS)
    names = [source.name for source in agent.sources]
    assert names == ["heartbeat", "macos_path", "unified_log", "app_events", "probes"]
    agent.spool.close()


def test_the_system_path_source_refreshes_at_the_configured_heartbeat_interval(tmp_path: Path) -> None:
    path = _example(tmp_path, ("interval_s = 300", "interval_s = 60"))
    config, secrets = load_config(path)
    agent = build_agent(config, secrets, path, FACTS)
    (system_path,) = (source for source in agent.sources if isinstance(source, MacPathSource))
    assert (system_path.interval_s, system_path.heartbeat_interval_s) == (2.0, 60)
    agent.spool.close()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[sources.probes]", "[sources.pings]"), "sources.pings: no such source"),
        (("interval_s = 2.0", "intervall_s = 2.0"), "sources.macos_path.intervall_s: unknown key"),
        (("jitter = 0.2", "jitter = 3"), "sources.probes: "),
        # The agent's own heartbeat interval sets it, so a source table cannot contradict it.
        (("interval_s = 2.0", "heartbeat_interval_s = 9"), "sources.macos_path.heartbeat_interval_s: unknown key"),
    ],
)
def test_a_bad_source_table_names_the_file_and_the_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    path = _example(tmp_path, edit)
    config, secrets = load_config(path)
    with pytest.raises(ConfigError, match=f"^{path}: {message}"):
        build_agent(config, secrets, path, FACTS)


def test_heartbeats_carry_uptime_facts_and_the_spools_state(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20, segment_bytes=4096)
    heartbeat = HeartbeatSource(
        spool=spool,
        platform="darwin",
        monitored="com.example.vpn.tunnel",
        interval_s=300,
        read_uptime=lambda: 4242,
        read_device_facts=lambda: wire.Facts(
            network_extensions=(wire.NetworkExtension(id="com.example.vpn.tunnel", kind="packet_tunnel"),)
        ),
        clock=lambda: 1_732_540_800.5,
    )
    seen: list[Observation] = []
    stop = threading.Event()
    stop.set()  # one heartbeat, then stop
    heartbeat.run(seen.append, stop)
    (observation,) = seen
    assert observation.ts_ms == 1_732_540_800_500
    assert isinstance(observation.body, wire.HeartbeatBody), "the heartbeat source emits typed heartbeat bodies"
    assert observation.body.uptime_s == 4242
    assert jsonable(observation.body.spool) == {
        "pending": 0,
        "dropped": 0,
        "lost": {"bound": 0, "corrupt": 0, "write_failed": 0},
    }
    event = Stamper(FACTS, next_seq=0).stamp(observation)
    assert isinstance(event, wire.HeartbeatEvent), "a heartbeat body satisfies the wire contract"
    assert event.facts.network_extensions == (wire.NetworkExtension(id="com.example.vpn.tunnel", kind="packet_tunnel"),)
    spool.close()


# The options each registered source that takes the fleet key needs to be built (besides the key).
KEY_TAKING_SOURCES: dict[str, dict[str, Any]] = {
    "probes": {"targets": ["tcp:gateway.example.com:443", "dns:example.com"]},
    "unified_log": {"processes": ["com.example.vpn.tunnel"]},
}


def _shown(secret: bytes, text: str) -> list[str]:
    """The forms of ``secret`` (as is, hex, base64) that ``text`` shows."""
    forms = (secret.decode(), secret.hex(), base64.b64encode(secret).decode())
    return [form for form in forms if form in text]


def test_no_repr_of_a_source_that_takes_the_fleet_key_shows_it() -> None:
    key = b"fleet-key-6c1f0e9d"
    registry = discover()
    taking_key = {name for name, factory in registry.items() if "key" in inspect.signature(factory).parameters}
    assert taking_key == set(KEY_TAKING_SOURCES), "a new source that takes the key needs its options above"
    for name, options in KEY_TAKING_SOURCES.items():
        source = registry[name](key=key, **options)
        assert _shown(key, repr(source)) == [], name


def test_no_repr_of_the_wired_agent_its_config_or_its_publisher_shows_a_secret(tmp_path: Path) -> None:
    path = _example(tmp_path)
    config, secrets = load_config(path)
    agent = build_agent(config, secrets, path, FACTS)
    for shown in (config, secrets, agent, agent.publisher, *agent.sources):
        assert _shown(b"fleet-secret", repr(shown)) == [], shown
        assert _shown(b"hunter2", repr(shown)) == [], shown
    agent.spool.close()
