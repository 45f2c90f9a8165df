"""Each role's wheel holds its role: the agent's is the core and the agent, nothing of the demo or the server.

The wheels are built from the checkout (no isolated build env, so no network) and read as zip files; the
agent's is then installed with the core's alone into an empty folder and imported by an interpreter that
sees only that folder and the third-party packages, which proves it needs nothing else of ours.
"""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from typing import Final

import pytest
from packaging.requirements import Requirement

from netdown.version import __version__

ROOT: Final = Path(__file__).resolve().parents[2]
MEMBERS: Final = ("core", "agent", "stream", "dashboards", "tools")
CORE_FILES: Final = {
    "netdown/wire.py",
    "netdown/version.py",
    "netdown/cli_args.py",
    "netdown/topics.py",
    "netdown/stamping.py",
    "netdown/detection/inventory.py",
    "netdown/detection/detector.py",
    "netdown/py.typed",
}
TOOLS_PACKAGES: Final = ("netdown/demo/", "netdown/sim/", "netdown/devstack/", "netdown/report/")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every member's wheel, built from a copy of its pyproject.toml and src folder: setuptools keeps a build/
    folder next to the sources, from which a file deleted since an earlier build would reach the wheel."""
    sources, out = tmp_path_factory.mktemp("sources"), tmp_path_factory.mktemp("wheels")
    for member in MEMBERS:
        shutil.copytree(ROOT / member / "src", sources / member / "src", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(ROOT / member / "pyproject.toml", sources / member)
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out)]
    subprocess.run(
        [*command, *(str(sources / member) for member in MEMBERS)], check=True, capture_output=True, timeout=300
    )
    return {member: next(out.glob(f"netdown_{member}-*.whl")) for member in MEMBERS}


def _files(wheel: Path) -> set[str]:
    return {name for name in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in name}


def _requires(wheel: Path) -> set[str]:
    """The distributions a wheel depends on, by name (version ranges left out)."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        message = email.parser.Parser().parsestr(archive.read(metadata).decode())
    return {Requirement(requirement).name for requirement in message.get_all("Requires-Dist") or []}


def test_the_core_wheel_holds_the_contract_and_the_detector_only(wheels: dict[str, Path]) -> None:
    files = _files(wheels["core"])
    assert files >= CORE_FILES
    assert not [name for name in files if name.startswith(("netdown/agent/", "netdown/stream/", *TOOLS_PACKAGES))]
    assert "netdown/__init__.py" not in files  # the namespace is shared
    assert _requires(wheels["core"]) == {"msgspec"}


def test_the_agent_wheel_holds_only_agent_files_and_needs_only_the_core_and_kafka_python(
    wheels: dict[str, Path],
) -> None:
    files = _files(wheels["agent"])
    assert "netdown/agent/cli.py" in files
    assert [name for name in files if not name.startswith("netdown/agent/")] == []
    assert _requires(wheels["agent"]) == {"netdown-core", "kafka-python"}


def test_the_stream_wheel_holds_only_stream_files(wheels: dict[str, Path]) -> None:
    files = _files(wheels["stream"])
    assert {"netdown/stream/worker.py", "netdown/stream/replay.py"} <= files
    assert [name for name in files if not name.startswith("netdown/stream/")] == []
    assert _requires(wheels["stream"]) == {"netdown-core", "faust-streaming", "prometheus-client"}


def test_the_tools_wheel_carries_the_devstack_assets(wheels: dict[str, Path]) -> None:
    files = _files(wheels["tools"])
    assert "netdown/devstack/kafka_assets/pom.xml" in files
    assert [
        name
        for name in files
        if not name.startswith(("netdown/testing.py", "netdown/wire_reference.py", *TOOLS_PACKAGES))
    ] == []


def test_the_agent_and_core_wheels_alone_run_the_agent(wheels: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            wheels["core"],
            wheels["agent"],
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    installed = {str(path.relative_to(target)) for path in (target / "netdown").rglob("*") if path.is_file()}
    assert not [
        name
        for name in installed
        if name.startswith(("stream/", "dashboards/", "demo/", "sim/", "devstack/", "report/"))
    ]
    # -S: no site processing, so none of the checkout's editable members; third-party packages from purelib/platlib.
    third_party = [sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1]]; sys.path += sys.argv[2:]\n"
        "import netdown.agent.cli, netdown.wire, importlib.util\n"
        "print(sorted(p for p in netdown.__path__), importlib.util.find_spec('netdown.sim') is None)"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe, str(target), *third_party],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == [f"['{target / 'netdown'}']", "True"]


@pytest.mark.parametrize("member", MEMBERS)
def test_every_member_is_released_at_the_one_version(member: str) -> None:
    project = tomllib.loads((ROOT / member / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == __version__
    pins = [dep for dep in project.get("dependencies", []) if dep.startswith("netdown-")]
    assert all(dep.endswith(f"=={__version__}") for dep in pins), pins
