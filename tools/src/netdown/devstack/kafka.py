"""A real single-node Apache Kafka broker (KRaft broker+controller) for development, tests and the demo.

There is no Docker engine and no Apache download mirror on our machines, but Maven Central is: the
broker's jars come from there (``kafka/pom.xml`` beside this module pins the version), into a cache
netdown owns. The broker runs from those jars with ``java -cp``, exactly as Kafka's own scripts do:
format the storage with a cluster id, then ``kafka.Kafka server.properties``.

Readiness is kafka-python's bootstrap on the listener (``ApiVersions``, then ``Metadata`` listing the
broker), never a sleep: a broker that accepts TCP connections may still be loading its metadata, one
that answers the protocol is serving.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Final, Self

import msgspec

__all__ = [
    "KAFKA_VERSION",
    "BrokerError",
    "KafkaBroker",
    "api_versions_ok",
    "default_cache_dir",
    "ensure_jars",
    "free_port",
    "load_recorded",
    "recorded_pid",
    "stop_recorded",
    "terminate",
]

_ASSETS: Final = resources.files("netdown.devstack") / "kafka_assets"
_POM_NS: Final = {"m": "http://maven.apache.org/POM/4.0.0"}
_STATE_FILE: Final = "broker.json"
_COMPLETE_MARKER: Final = ".complete"


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says what to do."""


def _pinned_version() -> str:
    """The Kafka version pinned in ``kafka/pom.xml``: one place to change it, read by Maven and us."""
    root = ET.fromstring(_ASSETS.joinpath("pom.xml").read_text(encoding="utf-8"))
    version = root.findtext("m:properties/m:kafka.version", namespaces=_POM_NS)
    if not version:
        raise BrokerError("kafka/pom.xml has no <kafka.version> property")
    return version


KAFKA_VERSION: Final = _pinned_version()


def default_cache_dir() -> Path:
    """Where fetched jars live: ``$NETDOWN_CACHE_DIR``, else ``$XDG_CACHE_HOME/netdown``, else ``~/.cache``."""
    explicit = os.environ.get("NETDOWN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "netdown"


def ensure_jars(cache_dir: Path | None = None) -> Path:
    """Return the folder of the pinned broker's jars, fetching them with Maven on first use.

    The copy goes to a temporary folder renamed into place, and a marker is written last, so an
    interrupted fetch is redone rather than half-used.
    """
    libs = (cache_dir or default_cache_dir()) / f"kafka-{KAFKA_VERSION}" / "libs"
    if (libs / _COMPLETE_MARKER).is_file():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("`mvn` is not on PATH: install Maven and Java 17 (`make setup` does) to fetch Kafka")
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    with resources.as_file(_ASSETS.joinpath("pom.xml")) as pom:
        done = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerError(f"Maven could not fetch Kafka {KAFKA_VERSION}:\n{done.stdout}{done.stderr}")
    jars = sorted(p.name for p in staging.glob("*.jar"))
    (staging / _COMPLETE_MARKER).write_text("\n".join(jars) + "\n", encoding="utf-8")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel's choice, so parallel runs do not collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# kafka-python's reconnect backoff, pinned (not grown exponentially): a refused connection is retried this often.
_RETRY_MS: Final = 50
# One readiness attempt of the start-up wait: short, so a JVM that exits is noticed within it.
_READY_ATTEMPT_SECONDS: Final = 0.25


def api_versions_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a Kafka broker at host:port answers kafka-python's bootstrap within ``timeout`` seconds.

    The bootstrap is what every kafka-python client does first: an ``ApiVersions`` request (the broker
    version check), then ``Metadata`` that must list a broker. A refused connection is retried every
    50 ms until ``timeout``. The client is kafka-python's bare network client: no IO thread to stop.
    """
    from kafka.errors import KafkaError  # noqa: PLC0415 - kafka-python only where a broker is checked
    from kafka.net.compat import KafkaNetClient  # noqa: PLC0415

    timeout_ms = max(1, round(timeout * 1000))
    client = KafkaNetClient(
        bootstrap_servers=f"{host}:{port}",
        client_id="netdown-ready",
        request_timeout_ms=timeout_ms,
        socket_connection_setup_timeout_ms=timeout_ms,
        reconnect_backoff_ms=_RETRY_MS,
        reconnect_backoff_max_ms=_RETRY_MS,
    )
    try:
        return client.check_version(timeout_ms=timeout_ms) is not None
    except (KafkaError, OSError):
        return False
    finally:
        client.close()


def terminate(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM a child (a clean shutdown), SIGKILL it if it has not exited within ``timeout``; its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def _tied_to_parent(command: list[str]) -> list[str]:
    """Prefix ``command`` so Linux SIGTERMs it when we die (util-linux ``setpriv --pdeathsig``).

    A test run or demo that is killed must not leave a JVM behind holding ports and disk. The
    death signal survives the exec into java; where setpriv is missing the broker is merely untied.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *command] if setpriv else command


@dataclass
class KafkaBroker:
    """One KRaft broker+controller on 127.0.0.1, its data, config and logs under ``data_dir``.

    Ports default to free ones chosen at construction and are kept across ``stop()``/``start()``,
    so clients keep their bootstrap address when a test stops the broker and brings it back.
    """

    data_dir: Path
    port: int = 0
    controller_port: int = 0
    heap: str = "512m"
    cache_dir: Path | None = None
    startup_seconds: float | None = field(default=None, init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """The broker's own log (log4j2), the first place to look when it misbehaves."""
        return self.data_dir / "logs" / "server.log"

    @property
    def pid(self) -> int | None:
        """Process id of the broker started by this object, while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def start(self, timeout: float = 90.0, *, detach: bool = False) -> None:
        """Format storage if new, launch the JVM and return once the broker answers the protocol.

        ``detach=True`` lets the broker outlive this process (the ``netdown-kafka start`` command);
        otherwise it is tied to our lifetime.
        """
        if self.pid is not None:
            return
        other = recorded_pid(self.data_dir)
        if other is not None:
            raise BrokerError(f"a broker (pid {other}) already runs on {self.data_dir}; stop it first")
        libs = ensure_jars(self.cache_dir)
        java = shutil.which("java")
        if java is None:
            raise BrokerError("`java` is not on PATH: Kafka needs Java 17 or later (`make setup` installs it)")
        properties = self._write_config()
        classpath = f"{libs}/*"
        if not (self.data_dir / "kraft" / "meta.properties").exists():
            self._format_storage(java, classpath, properties)
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        command = [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(properties),
        ]
        started = time.monotonic()
        with (self.data_dir / "broker.out").open("ab") as out:
            process = self._process = subprocess.Popen(
                command if detach else _tied_to_parent(command),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(started, timeout)
        self.startup_seconds = time.monotonic() - started
        # Recorded so that `netdown-kafka status/stop` can find a detached broker later.
        state = _BrokerState(
            pid=process.pid,
            port=self.port,
            controller_port=self.controller_port,
            version=KAFKA_VERSION,
            startup_seconds=self.startup_seconds,
        )
        (self.data_dir / _STATE_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(state)) + b"\n")

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (Kafka's controlled shutdown), then SIGKILL if it has not exited within ``timeout``."""
        process, self._process = self._process, None
        if process is not None:
            terminate(process, timeout)

    def kill(self) -> None:
        """SIGKILL the broker, as a crash would: no controlled shutdown, no flushed state."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _write_config(self) -> Path:
        """Render ``server.properties``: single node, replication factors 1, no rebalance delay."""
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "kraft"),
            "num.partitions": "1",
            # Topics are created on purpose (the worker declares its own), as in production.
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            # 50 offsets partitions (the default) make the first group join slow on a laptop.
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Without this, every first consumer group join waits 3 s for more members.
            "group.initial.rebalance.delay.ms": "0",
        }
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_config = _ASSETS.joinpath("log4j2.properties").read_text(encoding="utf-8")
        (self.data_dir / "log4j2.properties").write_text(log_config, encoding="utf-8")
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()), encoding="utf-8")
        return path

    def _format_storage(self, java: str, classpath: str, properties: Path) -> None:
        """``kafka-storage format`` with a fresh base64url cluster id (as ``kafka-storage random-uuid``)."""
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        done = subprocess.run(
            # `--cluster-id=` form: a generated id may begin with "-", which argparse4j reads as a flag.
            [
                java,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={cluster_id}",
                "-c",
                str(properties),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BrokerError(f"formatting Kafka storage in {self.data_dir} failed:\n{done.stdout}{done.stderr}")

    def _wait_ready(self, started: float, timeout: float) -> None:
        """Poll the listener until kafka-python bootstraps from it; fail fast if the JVM exits."""
        assert self._process is not None
        while not api_versions_ok("127.0.0.1", self.port, timeout=_READY_ATTEMPT_SECONDS):
            if self._process.poll() is not None:
                code, self._process = self._process.returncode, None
                raise BrokerError(f"Kafka exited with code {code} during start-up; see {self._tail_logs()}")
            if time.monotonic() - started > timeout:
                self.kill()
                raise BrokerError(
                    f"Kafka did not answer on {self.bootstrap} within {timeout:.0f}s; see {self._tail_logs()}"
                )
            time.sleep(0.05)

    def _tail_logs(self) -> str:
        """Where to look, with the last lines of the broker's output inline for CI logs."""
        out = self.data_dir / "broker.out"
        tail = out.read_text(encoding="utf-8", errors="replace").splitlines()[-20:] if out.exists() else []
        return f"{out} and {self.log_path}\n" + "\n".join(tail)


def load_recorded(data_dir: Path) -> KafkaBroker | None:
    """The broker an earlier start recorded in ``data_dir``, with its ports; None if never started there."""
    state = _read_state(Path(data_dir))
    if state is None:
        return None
    return KafkaBroker(data_dir=Path(data_dir), port=state.port, controller_port=state.controller_port)


def recorded_pid(data_dir: Path) -> int | None:
    """The pid an earlier start recorded in ``data_dir``, if that process still runs a Kafka broker."""
    state = _read_state(Path(data_dir))
    if state is None or not _is_kafka_process(state.pid):
        return None
    return state.pid


def stop_recorded(data_dir: Path, timeout: float = 60.0) -> int | None:
    """Stop the broker recorded in ``data_dir`` (SIGTERM, then SIGKILL after ``timeout``); its pid, if any."""
    pid = recorded_pid(data_dir)
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _is_kafka_process(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    return pid


class _BrokerState(msgspec.Struct, frozen=True):
    """What a start records in ``data_dir/broker.json`` for later ``status``/``stop`` calls."""

    pid: int
    port: int
    controller_port: int
    version: str
    startup_seconds: float


def _read_state(data_dir: Path) -> _BrokerState | None:
    """The state a start wrote into ``data_dir``, or None if there is none (or it is unreadable)."""
    try:
        return msgspec.json.decode((data_dir / _STATE_FILE).read_bytes(), type=_BrokerState)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def _is_kafka_process(pid: int) -> bool:
    """True if ``pid`` is alive and (where /proc tells) is a Kafka broker, not a reused pid or a zombie."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    proc = Path(f"/proc/{pid}")
    with contextlib.suppress(OSError):
        if " Z " in (proc / "stat").read_text().split(")", 1)[1][:4]:
            return False
        return b"kafka.Kafka" in (proc / "cmdline").read_bytes()
    return True
