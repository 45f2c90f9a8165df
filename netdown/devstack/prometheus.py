"""A real Prometheus (Debian's ``prometheus`` package) for the end-to-end test and the demo.

It scrapes the given workers under the job name the rules and dashboards expect
(``netdown-stream``), loads the project's rule files, and keeps its data in a folder of its own.
Readiness is Prometheus's own ``/-/ready`` endpoint, never a sleep.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Self

from netdown.devstack.kafka import free_port, terminate

__all__ = ["JOB", "Prometheus", "PrometheusError"]

JOB: Final = "netdown-stream"


class PrometheusError(RuntimeError):
    """Prometheus could not be started or answered a query with an error."""


@dataclass
class Prometheus:
    """One Prometheus on 127.0.0.1 scraping ``targets`` every ``scrape_interval`` with ``rule_files`` loaded."""

    data_dir: Path
    targets: Sequence[str]
    rule_files: Sequence[Path] = ()
    scrape_interval: str = "1s"
    evaluation_interval: str = "1s"
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        self.port = self.port or free_port()

    @property
    def url(self) -> str:
        """Base URL of the HTTP API and UI."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Write the config, start Prometheus, return once ``/-/ready`` answers 200."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusError("`prometheus` is not on PATH: `make setup` installs Debian's package")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "prometheus.yml"
        config.write_text(json.dumps(self._config(), indent=2), encoding="utf-8")  # JSON is YAML
        with (self.data_dir / "prometheus.log").open("ab") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-lifecycle",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self.data_dir / "prometheus.log").read_text(errors="replace")[-2000:]
                raise PrometheusError(f"Prometheus did not become ready on {self.url}:\n{tail}")
            time.sleep(0.1)

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
        return {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.evaluation_interval},
            "rule_files": [str(Path(path).absolute()) for path in self.rule_files],
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": list(self.targets)}]}],
        }

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            raise PrometheusError(f"{path} {params}: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body}")
        data: dict[str, Any] = body["data"]
        return data
