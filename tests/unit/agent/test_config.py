"""A bad agent config fails at start naming the file, the key and the reason; secrets never print."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdown.agent.config import ConfigError, load_config

VALID = """
[broker]
bootstrap = "kafka-1.example.internal:9093"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "netdown-agent"
sasl_password_file = "kafka.password"

[identity]
key_file = "fleet.key"
state_dir = "/var/lib/netdown"

[spool]
max_mb = 32

[[apps]]
bundle_id = "com.example.vpn.tunnel"
processes = ["com.example.vpn.tunnel"]

[sources.probes]
tcp = ["gateway.example.com:443"]
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "fleet.key").write_text("s3cret-fleet-key\n")
    (tmp_path / "kafka.password").write_text("hunter2\n")
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_a_valid_file_loads_with_defaults_and_secrets_read_from_their_files(tmp_path: Path) -> None:
    config, secrets = load_config(_write(tmp_path, VALID))
    assert config.broker.topic == "netdown.events.v1"
    assert config.spool.max_mb == 32
    assert config.heartbeat.interval_s == 300
    assert [app.bundle_id for app in config.apps] == ["com.example.vpn.tunnel"]
    assert config.sources["probes"] == {"tcp": ["gateway.example.com:443"]}
    assert secrets["fleet_key"].reveal() == "s3cret-fleet-key"
    assert secrets["sasl_password"].reveal() == "hunter2"


def test_secrets_never_show_in_a_repr(tmp_path: Path) -> None:
    _config, secrets = load_config(_write(tmp_path, VALID))
    assert "hunter2" not in repr(secrets)
    assert "s3cret" not in repr(secrets)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("max_mb = 32", 'max_mb = "lots"'), "spool.max_mb: Expected `float`, got `str`"),
        (("max_mb = 32", "max_mb = -1"), "spool.max_mb: Expected `float` > 0"),
        (("bootstrap =", "bootstap ="), "broker.bootstap: unknown key"),
        (('key_file = "fleet.key"', ""), "identity.key_file: required key is missing"),
        (('security_protocol = "SASL_SSL"', 'security_protocol = "TLS"'), "broker.security_protocol: Invalid enum"),
        (('processes = ["com.example.vpn.tunnel"]', 'process = "x"'), "apps[0].process: unknown key"),
        (('key_file = "fleet.key"', 'key_file = "missing.key"'), "identity.key_file: cannot read"),
        (("[spool]", "[spool"), "not valid TOML"),
    ],
)
def test_each_mistake_names_the_file_and_the_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    path = _write(tmp_path, VALID.replace(*edit))
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_an_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    (tmp_path / "fleet.key").write_text("\n")
    with pytest.raises(ConfigError, match=r"identity\.key_file: .* is empty"):
        load_config(path)
