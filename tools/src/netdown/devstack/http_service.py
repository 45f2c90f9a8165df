"""Start a local HTTP daemon (Prometheus, Alertmanager) and wait until it says it is ready; read its JSON API.

Both Debian binaries answer ``GET /-/ready`` with 200 once they serve, so readiness is that
endpoint, never a sleep. The daemon is tied to our lifetime (``setpriv --pdeathsig``) like the
broker: a test or demo killed mid-run leaves no daemon holding a port. Like the broker it runs in a
session of its own, so a Ctrl-C at the terminal reaches only its parent, which stops it in order.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from netdown.devstack.kafka import _tied_to_parent, terminate

__all__ = ["LocalDaemon", "ServiceError", "get_json", "is_ready", "start_service"]


class ServiceError(RuntimeError):
    """A local daemon could not be started, or its API answered with an error."""


class LocalDaemon:
    """What a started daemon object offers besides its own ``start``: URL, pid, stop, and a ``with`` block.

    A mixin, not a dataclass base: each daemon is a dataclass with its own positional fields, and
    only needs to hold ``port`` and the ``_process`` that :func:`start_service` returned.
    """

    port: int
    _process: subprocess.Popen[bytes] | None

    def start(self, timeout: float = 60.0) -> None:
        """Start the daemon and return once it is ready."""
        raise NotImplementedError

    @property
    def url(self) -> str:
        """Base URL of its HTTP API and UI."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the daemon started by this object, while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        process, self._process = self._process, None
        if process is not None:
            terminate(process, 30)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def is_ready(base_url: str) -> bool:
    """True when ``base_url/-/ready`` answers 200."""
    try:
        with urllib.request.urlopen(f"{base_url}/-/ready", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_service(
    command: Sequence[str], *, base_url: str, log_path: Path, timeout: float, error: type[ServiceError]
) -> subprocess.Popen[bytes]:
    """Launch ``command`` (its output appended to ``log_path``) and return once ``base_url`` is ready.

    If it exits or is not ready within ``timeout``, it is stopped and ``error`` raised with its log's tail.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            _tied_to_parent(list(command)),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C at the terminal is ours to handle, not the daemon's
        )
    deadline = time.monotonic() + timeout
    while not is_ready(base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            terminate(process, 30)
            tail = log_path.read_text(errors="replace")[-2000:]
            raise error(f"{Path(command[0]).name} did not become ready on {base_url}:\n{tail}")
        time.sleep(0.1)
    return process


def get_json(base_url: str, path: str, params: dict[str, str] | None = None, *, error: type[ServiceError]) -> Any:
    """The decoded JSON body of ``GET base_url+path?params``; ``error`` on an HTTP error."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    try:
        with urllib.request.urlopen(f"{base_url}{path}{query}", timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise error(f"{path} {params or ''}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None
