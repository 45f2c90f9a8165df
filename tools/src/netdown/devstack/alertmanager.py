"""A real Alertmanager (Debian's ``prometheus-alertmanager`` package) for the demo.

It runs the shipped routing configuration (``deploy/alertmanager/alertmanager.yml``: ``page`` and
``ticket`` receivers by severity) on a free port with a data folder of its own, clustering off (a
single local instance must not gossip on 9094). Readiness is its ``/-/ready`` endpoint.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from netdown.devstack.http_service import LocalDaemon, ServiceError, get_json, start_service
from netdown.devstack.kafka import free_port

__all__ = ["SHIPPED_CONFIG", "Alertmanager", "AlertmanagerError"]

# The example configuration operators start from; the demo runs exactly this routing.
SHIPPED_CONFIG: Final = Path("deploy/alertmanager/alertmanager.yml")  # relative to the repository root, where make runs


class AlertmanagerError(ServiceError):
    """Alertmanager could not be started or answered with an error."""


@dataclass
class Alertmanager(LocalDaemon):
    """One Alertmanager on 127.0.0.1 with ``config_file``, its silences and notification log under ``data_dir``."""

    data_dir: Path
    config_file: Path = SHIPPED_CONFIG
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        self.config_file = Path(self.config_file).absolute()
        self.port = self.port or free_port()

    @property
    def address(self) -> str:
        """``host:port``, as Prometheus's ``alerting`` section names its Alertmanagers."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start Alertmanager (tied to this process) and return once ``/-/ready`` answers 200."""
        binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        if binary is None:
            raise AlertmanagerError("`prometheus-alertmanager` is not on PATH: `make setup` installs Debian's package")
        command = [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.path={self.data_dir / 'data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",
        ]
        self._process = start_service(
            command,
            base_url=self.url,
            log_path=self.data_dir / "alertmanager.log",
            timeout=timeout,
            error=AlertmanagerError,
        )

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds (API v2): labels, ``status.state`` (active, suppressed), receivers."""
        return list(get_json(self.url, "/api/v2/alerts", error=AlertmanagerError))
