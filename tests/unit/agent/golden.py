"""Golden files for the agent's parsers: ``tests/fixtures/<source>/<case>`` beside ``<case>.expected.json``.

Each case also has a ``<case>.source`` naming where its text came from (a corpus address, a
capture on a named machine, or ``SYNTHESISED`` with the reason). Run with
``NETDOWN_UPDATE_GOLDEN=1`` to rewrite the expectations from the code, then review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Final

import msgspec

from netdown import wire
from netdown.stamping import stamp
from netdown.testing import SAMPLE_IDENTITY

__all__ = ["FIXTURES", "as_wire_event", "assert_golden", "cases", "fixture_text", "jsonable"]

FIXTURES: Final = Path(__file__).resolve().parents[2] / "fixtures"
_UPDATE: Final = os.environ.get("NETDOWN_UPDATE_GOLDEN") == "1"


def cases(source: str, suffix: str = ".txt") -> list[Path]:
    """The inputs of one source's golden cases: files ending in ``suffix`` (``""``: directories)."""
    folder = FIXTURES / source
    if suffix:
        return sorted(path for path in folder.glob(f"*{suffix}") if not path.name.endswith(".expected.json"))
    return sorted(path for path in folder.iterdir() if path.is_dir())


def fixture_text(source: str, case: str) -> str:
    """The text of ``tests/fixtures/<source>/<case>.txt``."""
    return (FIXTURES / source / f"{case}.txt").read_text(encoding="utf-8")


def jsonable(value: Any) -> Any:
    """Dataclasses, Structs, tuples and sets as plain JSON values, so results compare as the file stores them."""
    if isinstance(value, msgspec.Struct):
        return jsonable(msgspec.to_builtins(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: jsonable(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def assert_golden(case: Path, actual: Any) -> None:
    """``actual`` equals the case's expectation (or rewrites it under NETDOWN_UPDATE_GOLDEN=1)."""
    stem = case.name.removesuffix(case.suffix) if case.is_file() else case.name
    expected_path = case.parent / f"{stem}.expected.json"
    assert (case.parent / f"{stem}.source").is_file(), f"{case.name}: every fixture names its source"
    value = jsonable(actual)
    if _UPDATE:
        expected_path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    assert expected_path.is_file(), f"no {expected_path.name}: run with NETDOWN_UPDATE_GOLDEN=1 and review it"
    assert value == json.loads(expected_path.read_text(encoding="utf-8"))


def as_wire_event(body: wire.Body) -> wire.Event:
    """The body stamped as the agent stamps it, under a sample identity; raises if it breaks the contract."""
    return stamp(SAMPLE_IDENTITY, body, seq=0, ts_ms=1_732_540_800_123, event_id="golden")
