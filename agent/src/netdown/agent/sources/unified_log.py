"""Unified log source (macOS): the monitored app's own view of its connections and paths.

The app-side evidence of the failure this product exists for: Network.framework logs, in the
extension's own process, ``[C221 Hostname#8c901c3c:443 waiting parent-flow (unsatisfied (Path was
denied by NECP policy), interface: en0, ipv4)]`` and the app logs ``Connection state changed to
waiting(POSIXErrorCode(rawValue: 50): Network is down)``. This source runs ``log stream --style
ndjson`` with a predicate for the configured processes and subsystems and turns those lines into
``conn`` and ``path`` (observer ``app``) observations.

Reading is kept apart from parsing, so the parser runs its tests on Linux against captured output.
The parser is pure and has two layers, shared with
``netdown-agent parse-log`` (which reads captured logs in any layout):

1. :func:`split_records` (:mod:`netdown.agent.unified_log_layouts`): lines to :class:`LogRecord`\\ s,
   each line's layout recognised on its own, time from the line's own timestamp and zone;
2. :func:`parse_message` (:mod:`netdown.agent.unified_log_messages`): one record's message to the
   observations it states, and nothing it does not.

Unknown lines and unreadable messages are counted (:class:`LineTally`, :class:`ParseTally`), never
guessed into events. The reader caps what a line may cost (64 KiB, longer lines skipped unread).
While running, only transitions are emitted (:class:`Transitions`): ``log`` repeats a connection's
state in several lines, and a fleet pays for every event.
"""

from __future__ import annotations

import enum
import subprocess
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol

from netdown import wire
from netdown.agent.source_health import SourceStats
from netdown.agent.sources.base import Emit, Observation, register
from netdown.agent.unified_log_health import TallyCredit
from netdown.agent.unified_log_layouts import (
    LAYOUTS,
    LINE_LIMIT,
    LineTally,
    LogRecord,
    SplitOptions,
    read_lines,
    split_records,
)
from netdown.agent.unified_log_messages import (
    NO_CONN_ID,
    MessageKind,
    MessageResult,
    ParseOptions,
    find_error,
    parse_message,
    read_message,
)

__all__ = [
    "LAYOUTS",
    "LINE_LIMIT",
    "LOG_RESTART_DELAY_S",
    "NO_CONN_ID",
    "LineTally",
    "LogRecord",
    "MessageKind",
    "MessageResult",
    "ParseOptions",
    "ParseTally",
    "Parsed",
    "SplitOptions",
    "Transitions",
    "UnifiedLogSource",
    "build_command",
    "build_predicate",
    "find_error",
    "parse_lines",
    "parse_message",
    "parse_records",
    "read_lines",
    "read_message",
    "split_records",
]

LOG_COMMAND: Final = "/usr/bin/log"
LOG_RESTART_DELAY_S: Final = 5.0
_TRANSITION_MEMORY: Final = 4096  # connections (and apps) whose last state is remembered


@dataclass(frozen=True, slots=True)
class Parsed:
    """One observation and where it came from: its record, and its index among the record's observations."""

    record: LogRecord
    index: int
    observation: Observation


@dataclass
class ParseTally:
    """What the message layer made of the records: the parse summary's second half."""

    messages: Counter[str] = field(default_factory=Counter)  # by MessageKind
    events: Counter[str] = field(default_factory=Counter)  # by observation type
    collapsed: int = 0  # observations dropped as repeats by Transitions


class Transitions:
    """Keeps transitions only: a connection's state (or a newly known error), an app path that changed.

    A ``conn`` observation passes when its state differs from the last one passed for the same app,
    process and connection id, or when it brings an error the last one lacked (so a state report
    after a descriptor line, saying the same state, is dropped; its ENETDOWN never is). A ``path``
    observation passes when it differs from the last one passed for the same app and process. The
    memory is bounded: the least recently seen connection is forgotten first.
    """

    def __init__(self, capacity: int = _TRANSITION_MEMORY) -> None:
        self.capacity = capacity
        self._last: OrderedDict[tuple[Any, ...], tuple[Any, ...]] = OrderedDict()

    def admit(self, record: LogRecord, observation: Observation) -> bool:
        """True when ``observation`` is news; it is then remembered."""
        body = observation.body  # frozen Structs: hashable and comparable by value, nested ones included
        now: tuple[Any, ...]
        if isinstance(body, wire.ConnBody):
            key: tuple[Any, ...] = ("conn", body.app, record.pid, body.conn_id)
            now = (body.state, body.error)
            last = self._last.get(key)
            fresh = last is None or now[0] != last[0] or (now[1] is not None and now[1] != last[1])
        else:
            key = (observation.type, body.app if isinstance(body, wire.PathBody) else None, record.pid)
            now = (body,)
            fresh = self._last.get(key) != now
        if fresh:
            self._last[key] = now
            self._last.move_to_end(key)
            if len(self._last) > self.capacity:
                self._last.popitem(last=False)
        return fresh


def parse_records(
    records: Iterable[LogRecord],
    options: ParseOptions | None = None,
    tally: ParseTally | None = None,
    transitions: Transitions | None = None,
) -> Iterator[Parsed]:
    """Every observation the records state, in input order (only transitions when ``transitions`` is given)."""
    tally = tally if tally is not None else ParseTally()
    for record in records:
        result = read_message(record, options)
        tally.messages[result.kind] += 1
        for index, observation in enumerate(result.observations):
            if transitions is not None and not transitions.admit(record, observation):
                tally.collapsed += 1
                continue
            tally.events[observation.type] += 1
            yield Parsed(record, index, observation)


def parse_lines(
    lines: Iterable[str | None],
    *,
    split: SplitOptions | None = None,
    options: ParseOptions | None = None,
    line_tally: LineTally | None = None,
    tally: ParseTally | None = None,
    transitions: Transitions | None = None,
) -> Iterator[Parsed]:
    """Both layers over text lines: :func:`split_records`, then :func:`parse_records`."""
    records = split_records(lines, options=split, tally=line_tally)
    return parse_records(records, options, tally, transitions)


def build_predicate(processes: Iterable[str], subsystems: Iterable[str]) -> str:
    """The ``log`` predicate selecting the monitored processes' and subsystems' records."""
    clauses = [f'process == "{_quoted(name)}"' for name in processes]
    clauses += [f'subsystem == "{_quoted(name)}"' for name in subsystems]
    if not clauses:
        raise ValueError("the unified_log source needs at least one process or subsystem to watch")
    return " OR ".join(clauses)


def build_command(processes: Iterable[str], subsystems: Iterable[str], level: str | None = None) -> list[str]:
    """``log stream --style ndjson --predicate …`` (``--level`` to include info or debug messages)."""
    command = [LOG_COMMAND, "stream", "--style", "ndjson", "--predicate", build_predicate(processes, subsystems)]
    return [*command, "--level", level] if level else command


def _quoted(name: str) -> str:
    """A name inside an NSPredicate string literal."""
    return name.replace("\\", "\\\\").replace('"', '\\"')


class _Default(enum.Enum):
    """The type of a keyword's "not given" (so that ``None`` can mean something)."""

    DEFAULT = enum.auto()


_DEFAULT: Final = _Default.DEFAULT


class _App(Protocol):
    """A monitored app as the agent's configuration describes it (``[[apps]]``)."""

    @property
    def bundle_id(self) -> str: ...
    @property
    def processes(self) -> tuple[str, ...]: ...
    @property
    def subsystems(self) -> tuple[str, ...]: ...


@register("unified_log")
class UnifiedLogSource:
    """Streams the unified log of the monitored processes and emits their conn and path observations.

    ``command`` replaces ``log stream`` (tests feed a fixture with ``cat``); ``key`` hashes raw
    hostnames (the fleet key, as the probes source uses it); ``app_ids`` maps a process name to the
    bundle id reported as ``app``. When the command ends it is started again after
    ``restart_delay_s``, or the source returns when that is ``None``; by default ``log stream`` is
    restarted after 5 s (it ends only when something went wrong) and an injected command is not (a
    fixture that ended is read). A missing ``log`` binary is a broken setup and raises; bad lines never do.
    Its ``health`` counts a stream that ended by itself (and is restarted) as a reading error: it is
    not running until the next stream's first line is understood (:mod:`~netdown.agent.unified_log_health`).
    """

    name = "unified_log"
    role: ClassVar[wire.SourceRole] = "app_view"

    def __init__(
        self,
        *,
        processes: Iterable[str] = (),
        subsystems: Iterable[str] = (),
        app_ids: Mapping[str, str] | None = None,
        key: bytes | str = b"",
        command: Sequence[str] | None = None,
        level: str | None = None,
        transitions_only: bool = True,
        restart_delay_s: float | _Default | None = _DEFAULT,
        line_limit: int = LINE_LIMIT,
    ) -> None:
        self.command = list(command) if command is not None else build_command(processes, subsystems, level)
        self.options = ParseOptions(key=key.encode() if isinstance(key, str) else key, app_ids=dict(app_ids or {}))
        self.transitions_only = transitions_only
        if isinstance(restart_delay_s, _Default):
            restart_delay_s = LOG_RESTART_DELAY_S if command is None else None
        self.restart_delay_s = restart_delay_s
        self.line_limit = line_limit
        self.line_tally = LineTally()
        self.tally = ParseTally()
        self.health = SourceStats(self.name, self.role)
        self._credit = TallyCredit(self.health, self.line_tally, self.tally.messages)

    @classmethod
    def for_apps(cls, apps: Iterable[_App], **kwargs: Any) -> UnifiedLogSource:
        """A source watching the configured apps: their processes and subsystems, reported by bundle id."""
        apps = list(apps)
        return cls(
            processes=[process for app in apps for process in app.processes],
            subsystems=[subsystem for app in apps for subsystem in app.subsystems],
            app_ids={process: app.bundle_id for app in apps for process in app.processes},
            **kwargs,
        )

    def run(self, emit: Emit, stop: threading.Event) -> None:
        """Stream, parse and emit until ``stop`` is set (or, without a restart delay, until the command ends)."""
        transitions = Transitions() if self.transitions_only else None
        while not stop.is_set():
            self._stream_once(emit, stop, transitions)
            if self.restart_delay_s is None or stop.is_set():
                return
            self.health.failed("reading")  # `log stream` ended by itself: blind until it is back
            if stop.wait(self.restart_delay_s):
                return

    def _stream_once(self, emit: Emit, stop: threading.Event, transitions: Transitions | None) -> None:
        """One run of the command, read to its end (or until ``stop`` ends it)."""
        child = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        watcher = threading.Thread(target=_end_on_stop, args=(child, stop), name="unified_log-stop", daemon=True)
        watcher.start()
        try:
            assert child.stdout is not None  # stdout=PIPE above
            lines = self._credit.crediting(read_lines(child.stdout, self.line_tally, self.line_limit))
            split = SplitOptions(line_limit=self.line_limit)
            for parsed in parse_lines(
                lines,
                split=split,
                options=self.options,
                line_tally=self.line_tally,
                tally=self.tally,
                transitions=transitions,
            ):
                emit(parsed.observation)
            self._credit.credit()  # a record the parser held until the stream's end
        finally:
            if child.poll() is None:
                child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()


def _end_on_stop(child: subprocess.Popen[bytes], stop: threading.Event) -> None:
    """Terminate the child as soon as ``stop`` is set (its stdout then ends, and so does the reading loop)."""
    while child.poll() is None:
        if stop.wait(0.2):
            child.terminate()
            return
