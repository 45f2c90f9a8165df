"""The workspace's boundaries, read from the imports: which distribution may use which.

Each distribution is a src folder under the shared ``netdown`` namespace (see the root pyproject.toml).
The rules keep each role's wheel self-sufficient and small: a Mac that installs the agent must not need
the stream job, and no product code may lean on the developer tools.
"""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
MEMBERS: Final = ("core", "agent", "stream", "dashboards", "tools")

# What each distribution may import of ours. The tools may import anything; nothing imports the tools.
ALLOWED: Final[dict[str, frozenset[str]]] = {
    "core": frozenset({"core"}),
    "agent": frozenset({"core", "agent"}),
    "stream": frozenset({"core", "stream"}),
    "dashboards": frozenset({"core", "dashboards"}),
    "tools": frozenset(MEMBERS),
}


def _src(member: str) -> Path:
    return ROOT / member / "src"


def _modules(member: str) -> Iterator[tuple[str, Path]]:
    """Every module of a member: its dotted name and file."""
    src = _src(member)
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _owner(module: str, owners: dict[str, str]) -> str:
    """The member that holds ``module``, or the package it is an attribute of (``from netdown.x import name``)."""
    while module:
        if module in owners:
            return owners[module]
        module = module.rpartition(".")[0]
    raise AssertionError(f"no member holds {module!r}")


def _imports(path: Path, module: str) -> Iterator[str]:
    """The ``netdown`` modules a file imports, anywhere in it (function bodies and TYPE_CHECKING blocks too)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _owners() -> dict[str, str]:
    owners: dict[str, str] = {}
    for member in MEMBERS:
        for module, path in _modules(member):
            assert module not in owners, f"{module} is in both {owners[module]} and {member} ({path})"
            owners[module] = member
    return owners


@pytest.mark.parametrize("member", MEMBERS)
def test_each_member_imports_only_what_its_role_allows(member: str) -> None:
    owners = _owners()
    crossings = sorted(
        f"{path.relative_to(ROOT)} imports {imported} ({_owner(imported, owners)})"
        for module, path in _modules(member)
        for imported in _imports(path, module)
        if imported.startswith("netdown.") and _owner(imported, owners) not in ALLOWED[member]
    )
    assert crossings == [], f"{member} may import only {sorted(ALLOWED[member])}"


def test_the_namespace_is_shared_and_every_module_has_one_home() -> None:
    owners = _owners()  # raises on a module defined in two members
    assert not any((_src(member) / "netdown" / "__init__.py").exists() for member in MEMBERS), (
        "netdown is a PEP 420 namespace: an __init__.py would hide the other members"
    )
    assert {
        owners[m]
        for m in (
            "netdown.wire",
            "netdown.topics",
            "netdown.stamping",
            "netdown.detection.detector",
            "netdown.cli_args",
        )
    } == {"core"}
    # The folders at the repository root are distributions, not importable packages of a second path.
    assert not [member for member in MEMBERS if (ROOT / member / "__init__.py").exists()]


def test_the_repository_holds_no_symlink() -> None:
    listing = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert listing, "not a git checkout"
    links = [line.split("\t", 1)[1] for line in listing.splitlines() if line.startswith("120000 ")]
    assert links == []
