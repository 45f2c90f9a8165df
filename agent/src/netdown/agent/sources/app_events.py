"""App-emitted events: NDJSON the monitored extension writes itself, tailed by the agent.

The most exact source: the extension knows its own connection states and path evaluations, so it
writes them (``docs/app-events.md`` has the format and a Swift example). Each line is a ``conn`` or
``path`` body of the wire contract plus ``type``, ``ts_ms`` and ``id`` (unique per line, chosen by
the app). The agent derives the event's ``event_id`` from ``id``, so a line read twice (the agent
was killed before it saved its place) is the same event and the stream job drops the repeat.

Lines are read with a byte cap; a line that is too long, not JSON, or not a valid body is skipped
and counted, never guessed at. A file that shrinks or is replaced (rotation) is read from its start.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Final

import msgspec

from netdown import wire
from netdown.agent.source_health import SourceStats
from netdown.agent.sources.base import Emit, Observation, register
from netdown.cli_io import capped_lines

__all__ = ["AppEventsSource", "parse_app_line"]

MAX_LINE_BYTES: Final = 64 * 1024
_ID_NAMESPACE: Final = uuid.UUID("5f0c6a8e-2b7d-4f55-9a51-6e0d2c1b7a90")
_BODIES: Final[dict[object, type[wire.ConnBody | wire.PathBody]]] = {"conn": wire.ConnBody, "path": wire.PathBody}


class _Position(msgspec.Struct):
    inode: int
    offset: int


def parse_app_line(line: bytes, allowed_apps: frozenset[str]) -> Observation | str:
    """One line of the app's file: an observation, or the reason it is skipped."""
    raw = _json_object(line)
    if isinstance(raw, str):
        return raw
    kind, ts_ms, line_id = raw.pop("type", None), raw.pop("ts_ms", None), raw.pop("id", None)
    if kind not in _BODIES:
        return "unknown_type"
    if type(ts_ms) is not int or not isinstance(line_id, str) or not line_id:
        return "missing_ts_or_id"
    app = raw.get("app")
    if allowed_apps and app not in allowed_apps:
        return "app_not_monitored"
    try:  # typed here, so a line that breaks the contract is this source's skip, named by its reason
        body = msgspec.convert({**raw, "observer": "app"} if kind == "path" else raw, _BODIES[kind])
    except msgspec.ValidationError:
        return "invalid_body"
    event_id = str(uuid.uuid5(_ID_NAMESPACE, f"{app}\x00{line_id}"))
    return Observation(ts_ms=ts_ms, body=body, event_id=event_id)


def _json_object(line: bytes) -> dict[str, Any] | str:
    """The line's JSON object, or the reason it is none."""
    try:
        raw = msgspec.json.decode(line)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return "not_json"
    return raw if isinstance(raw, dict) else "not_an_object"


@register("app_events")
@dataclass
class AppEventsSource:
    """Tails the app's NDJSON file (``path``), saving its place under ``state_dir`` at most every second.

    Its ``health``: each poll that read the file is a success, each line skipped as unreadable a
    parsing error (a line of an app not monitored is no error: it is not ours to read). A file the
    app has not written yet is neither; a file that cannot be read raises, and the agent counts it.
    """

    role: ClassVar[wire.SourceRole] = "app_view"

    path: Path | str
    state_dir: Path
    allowed_apps: frozenset[str] = frozenset()
    poll_interval: float = 0.2
    clock: Callable[[], float] = time.monotonic
    name: str = "app_events"
    skipped: Counter[str] = field(default_factory=Counter)
    health: SourceStats = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.state_file = Path(self.state_dir) / "app_events.position"
        self.health = SourceStats(self.name, self.role)  # its own clock is monotonic; health is in device time

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Follow the file until stopped, emitting each valid line once (at least once across crashes)."""
        position = self._load_position()
        saved_at = self.clock()
        while not stop.is_set():
            position = self._read_new_lines(position, emit)
            if self.clock() - saved_at >= 1.0:
                self._save_position(position)
                saved_at = self.clock()
            stop.wait(self.poll_interval)
        self._save_position(position)

    def _read_new_lines(self, position: _Position, emit: Emit) -> _Position:
        path = Path(self.path)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return position
        if stat.st_ino != position.inode or stat.st_size < position.offset:
            position = _Position(stat.st_ino, 0)  # rotated or truncated: the new file from its start
        with path.open("rb") as handle:
            handle.seek(position.offset)
            for line, end in _complete_lines(handle):
                position = _Position(position.inode, end)
                if line is None:
                    self._skip("too_long")
                    continue
                parsed = parse_app_line(line, self.allowed_apps)
                if isinstance(parsed, str):
                    self._skip(parsed)
                else:
                    emit(parsed)
        self.health.succeeded()
        return position

    def _skip(self, reason: str) -> None:
        """Count a skipped line: a misread one is a parsing error, another app's line only filtered."""
        self.skipped[reason] += 1
        if reason != "app_not_monitored":
            self.health.failed("parsing")

    def _load_position(self) -> _Position:
        try:
            return msgspec.json.decode(self.state_file.read_bytes(), type=_Position)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            return _Position(inode=-1, offset=0)

    def _save_position(self, position: _Position) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(position))
        os.replace(tmp, self.state_file)


def _complete_lines(handle: BinaryIO) -> Iterator[tuple[bytes | None, int]]:
    """Newline-terminated lines from the handle's position, each with the offset after it.

    An overlong line is yielded as None (counted, never held whole in memory); a partial last line,
    overlong or not, is not yielded at all: the app is still writing it, so the handle goes back to
    its start and the next poll reads it whole.
    """
    start = handle.tell()
    for line in capped_lines(handle.readline, MAX_LINE_BYTES + 1, MAX_LINE_BYTES):
        end = handle.tell()
        # A skipped line that reached its newline consumed one byte more than its size (the newline).
        complete = end - start > line if isinstance(line, int) else line.endswith(b"\n")
        if not complete:
            handle.seek(start)
            return
        yield (None if isinstance(line, int) else line.rstrip(b"\r\n")), end
        start = end
