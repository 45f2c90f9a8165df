"""A real Prometheus (Debian's ``prometheus`` package) for the end-to-end test and the demo.

It scrapes the given workers under the job name the rules and dashboards expect
(``netdown-stream``), loads the project's rule files, sends its alerts to the given Alertmanagers,
and keeps its data in a folder of its own. Readiness is Prometheus's own ``/-/ready`` endpoint,
never a sleep.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from netdown.devstack.http_service import LocalDaemon, ServiceError, get_json, start_service
from netdown.devstack.kafka import free_port

__all__ = ["JOB", "Prometheus", "PrometheusError"]

JOB: Final = "netdown-stream"


class PrometheusError(ServiceError):
    """Prometheus could not be started or answered a query with an error."""


@dataclass
class Prometheus(LocalDaemon):
    """One Prometheus on 127.0.0.1 scraping ``targets`` every ``scrape_interval`` with ``rule_files`` loaded.

    ``alertmanagers`` (``host:port``) receive its alerts.
    """

    data_dir: Path
    targets: Sequence[str]
    rule_files: Sequence[Path] = ()
    alertmanagers: Sequence[str] = ()
    scrape_interval: str = "1s"
    evaluation_interval: str = "1s"
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        self.port = self.port or free_port()

    def start(self, timeout: float = 60.0) -> None:
        """Write the config, start Prometheus (tied to this process), return once ``/-/ready`` answers 200."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusError("`prometheus` is not on PATH: `make setup` installs Debian's package")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "prometheus.yml"
        config.write_text(json.dumps(self._config(), indent=2), encoding="utf-8")  # JSON is YAML
        command = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
        ]
        self._process = start_service(
            command,
            base_url=self.url,
            log_path=self.data_dir / "prometheus.log",
            timeout=timeout,
            error=PrometheusError,
        )

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector (or scalar as one sample) an expression evaluates to now."""
        data = self._get("/api/v1/query", {"query": expr})
        result = data["result"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return list(result)

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts (pending and firing) as the rules API reports them."""
        return list(self._get("/api/v1/alerts", {})["alerts"])

    def targets_up(self) -> int:
        """How many scrape targets are up."""
        return sum(1 for t in self._get("/api/v1/targets", {})["activeTargets"] if t["health"] == "up")

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.evaluation_interval},
            "rule_files": [str(Path(path).absolute()) for path in self.rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": list(self.targets)}]}],
        }
        if self.alertmanagers:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(self.alertmanagers)}]}]}
        return config

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        body = get_json(self.url, path, params, error=PrometheusError)
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body}")
        data: dict[str, Any] = body["data"]
        return data
