"""A bad agent config fails at start naming the file, the key and the reason; secrets never print."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from netdown.agent import run
from netdown.agent.config import ConfigError, load_config
from netdown.agent.runtime import build_agent
from netdown.stamping import DeviceIdentity

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


FACTS = DeviceIdentity(
    device_id="linux-0123456789abcdef01234567", boot_id="b1", platform="linux", os_version="", os_build=""
)


def _write(tmp_path: Path, text: str) -> Path:
    for name, secret in (("fleet.key", "s3cret-fleet-key\n"), ("kafka.password", "hunter2\n")):
        (tmp_path / name).write_text(secret)
        (tmp_path / name).chmod(0o600)
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


@pytest.mark.parametrize(
    ("name", "key", "mode"),
    [
        ("fleet.key", "identity.key_file", 0o640),  # group-readable
        ("fleet.key", "identity.key_file", 0o644),  # world-readable
        ("fleet.key", "identity.key_file", 0o602),  # world-writable
        ("kafka.password", "broker.sasl_password_file", 0o604),  # world-readable
        ("kafka.password", "broker.sasl_password_file", 0o620),  # group-writable
    ],
)
def test_a_secret_file_that_group_or_others_may_access_is_refused_like_ssh_refuses_a_key(
    tmp_path: Path, name: str, key: str, mode: int
) -> None:
    path = _write(tmp_path, VALID)
    (tmp_path / name).chmod(mode)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    resolved = (tmp_path / name).resolve()
    assert str(raised.value) == (
        f"{path}: {key}: {resolved} is accessible by group or others (mode {mode:04o}); run chmod 600 on it"
    )


def test_a_secret_file_only_its_owner_may_read_is_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, VALID)
    (tmp_path / "fleet.key").chmod(0o400)
    _config, secrets = load_config(path)
    assert secrets["fleet_key"].reveal() == "s3cret-fleet-key"


# Each mistake below as a config to load and run, and the start of the one line that names it.


def _local(tmp_path: Path, text: str) -> Path:
    """``text`` written with its secrets, the state under ``tmp_path`` (so building the agent is harmless)."""
    return _write(tmp_path, text.replace('state_dir = "/var/lib/netdown"', f'state_dir = "{tmp_path}/state"'))


def _non_utf8_key(tmp_path: Path) -> Path:
    path = _local(tmp_path, VALID)
    (tmp_path / "fleet.key").write_bytes(b"k3y\xff\xfe")
    return path


def _oversized_segment(tmp_path: Path) -> Path:
    return _local(tmp_path, VALID.replace("max_mb = 32", "max_mb = 1\nsegment_kb = 1024"))


def _state_dir_under_a_file(tmp_path: Path) -> Path:
    """A state_dir no one can create, root included (the tests run as root): it lies under a regular file."""
    (tmp_path / "file").write_text("")
    return _write(tmp_path, VALID.replace('state_dir = "/var/lib/netdown"', f'state_dir = "{tmp_path}/file/sub"'))


def _with_source(tmp_path: Path, source: str, options: str) -> Path:
    """The valid config with one source table instead of its own."""
    text = VALID.replace('[sources.probes]\ntcp = ["gateway.example.com:443"]\n', f"[sources.{source}]\n{options}\n")
    return _local(tmp_path, text)


def _mistyped_option(tmp_path: Path) -> Path:
    return _with_source(tmp_path, "probes", 'targets = ["dns:example.com"]\ninterval_s = "fast"')


def test_a_key_file_that_is_not_utf8_names_the_file_and_key_but_not_the_bytes(tmp_path: Path) -> None:
    path = _non_utf8_key(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    resolved = (tmp_path / "fleet.key").resolve()
    assert str(raised.value) == f"{path}: identity.key_file: {resolved} is not UTF-8 text (byte 3)"


def test_a_segment_larger_than_half_the_spool_is_a_config_error(tmp_path: Path) -> None:
    path = _oversized_segment(tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"{path}: spool.segment_kb: 1024 KiB is more than half of spool.max_mb (1 MiB); "
        "the spool drops whole segments and keeps the one being written, so it must hold two"
    )


def test_a_segment_of_exactly_half_the_spool_is_accepted(tmp_path: Path) -> None:
    config, _secrets = load_config(_local(tmp_path, VALID.replace("max_mb = 32", "max_mb = 2\nsegment_kb = 1024")))
    assert config.spool.segment_bytes * 2 == config.spool.max_bytes


def test_a_state_dir_that_cannot_be_created_names_the_key(tmp_path: Path) -> None:
    path = _state_dir_under_a_file(tmp_path)
    config, secrets = load_config(path)
    with pytest.raises(ConfigError) as raised:
        build_agent(config, secrets, path, FACTS)
    assert str(raised.value) == f"{path}: identity.state_dir: cannot use {tmp_path}/file/sub/spool: Not a directory"


@pytest.mark.parametrize(
    ("source", "options", "message"),
    [
        (
            "probes",
            'targets = ["dns:example.com"]\ninterval_s = "fast"',
            "probes.interval_s: Expected `float`, got `str`",
        ),
        ("probes", "targets = [443]", "probes.targets[0]: Expected `str | object`, got `int`"),
        ("linux_path", "interval_s = true", "linux_path.interval_s: Expected `float`, got `bool`"),
        # The ones below were accepted, to fail only later in the source's thread (restarted forever).
        ("macos_path", 'hardware_refresh_s = "1h"', "macos_path.hardware_refresh_s: Expected `float`, got `str`"),
        (
            "app_events",
            'path = "/tmp/a"\npoll_interval = "0.2"',
            "app_events.poll_interval: Expected `float`, got `str`",
        ),
        ("app_events", "path = 7", "app_events.path: Expected `str`, got `int`"),
        ("unified_log", 'line_limit = "64k"', "unified_log.line_limit: Expected `int`, got `str`"),
        ("unified_log", 'command = ["cat", 2]', "unified_log.command[1]: Expected `str`, got `int`"),
    ],
)
def test_a_source_option_of_the_wrong_type_names_the_file_and_the_dotted_key(
    tmp_path: Path, source: str, options: str, message: str
) -> None:
    path = _with_source(tmp_path, source, options)
    config, secrets = load_config(path)
    with pytest.raises(ConfigError) as raised:
        build_agent(config, secrets, path, FACTS)
    assert str(raised.value) == f"{path}: sources.{message}"


def _agent_run(path: Path) -> subprocess.CompletedProcess[str]:
    """``netdown-agent run --config PATH`` as a process of its own: its real stderr and exit code."""
    code = "import sys; from netdown.agent.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _world_readable_key(tmp_path: Path) -> Path:
    path = _local(tmp_path, VALID)
    (tmp_path / "fleet.key").chmod(0o644)
    return path


@pytest.mark.parametrize(
    ("mistake", "key"),
    [
        (_world_readable_key, "identity.key_file"),
        (_non_utf8_key, "identity.key_file"),
        (_oversized_segment, "spool.segment_kb"),
        (_state_dir_under_a_file, "identity.state_dir"),
        (_mistyped_option, "sources.probes.interval_s"),
    ],
)
def test_the_agent_exits_2_with_one_line_naming_file_and_key_and_no_traceback(
    tmp_path: Path, mistake: Callable[[Path], Path], key: str
) -> None:
    path = mistake(tmp_path)
    done = _agent_run(path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"netdown-agent: {path}: {key}: ")


def _run_in_process(path: Path) -> int:
    """``run`` in this process, for tests that replace one of its collaborators.

    Without the repeat limiter: it would stay on the test runner's log handlers after the test.
    """
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(run, "install_repeat_limiter", lambda logger, interval_s: None)
        return run.run(argparse.Namespace(config=path, log_level="info"))


def test_the_run_hides_both_secrets_from_the_logs_before_it_identifies_the_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    def install(secrets: Iterable[str | bytes]) -> None:
        calls.append(f"install {sorted(map(str, secrets))}")

    def hardware_id(platform: str) -> str:
        calls.append("identify")
        return "3F2504E0-4F89-11D3-9A0C-0305E82C3301"

    monkeypatch.setattr(run, "install_redaction", install)
    monkeypatch.setattr(run, "read_hardware_id", hardware_id)
    assert _run_in_process(_state_dir_under_a_file(tmp_path)) == 2  # stops at build_agent, after both
    assert calls == ["install ['hunter2', 's3cret-fleet-key']", "identify"]
    assert capsys.readouterr().err.count("\n") == 1


def test_a_machine_without_a_hardware_id_exits_1_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_machine_id(platform: str) -> str:
        raise FileNotFoundError(2, "No such file or directory", "/etc/machine-id")

    monkeypatch.setattr(run, "install_redaction", lambda secrets: None)
    monkeypatch.setattr(run, "read_hardware_id", no_machine_id)
    assert _run_in_process(_local(tmp_path, VALID)) == 1
    assert (
        capsys.readouterr().err
        == "netdown-agent: cannot identify this device: /etc/machine-id: No such file or directory\n"
    )
