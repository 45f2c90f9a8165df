"""What Network.framework (libnetwork), CFNetwork and an app's NWConnection say in a log message.

The second layer of the unified-log parser (:mod:`netdown.agent.sources.unified_log`): given one
:class:`~netdown.agent.unified_log_layouts.LogRecord`, it returns the wire-contract observations the
message states, and nothing it does not. The grammar, from the field corpus and libnetwork's own
descriptions:

- **connection descriptors**: ``[C221 Hostname#8c901c3c:443 waiting parent-flow (unsatisfied (Path
  was denied by NECP policy), interface: en0, ipv4)] event: path:unsatisfied @0.000s``, optionally
  after a function name (``nw_flow_disconnected [C9 …] …``); 2016 releases write ids without ``C``
  and paths as ``(satisfied)``. The endpoint handler's state maps to the connection's: ``waiting`` →
  waiting, ``in_progress`` → preparing, ``ready``, ``failed``, ``cancelled`` as such, ``initial``
  states nothing yet;
- **state reports**: ``nw_connection_report_state_with_handler_on_nw_queue [C221] reporting state
  waiting`` (``… reporting state failed error Socket is not connected``);
- **lifecycle**: ``[C46 <uuid> Hostname#9081a023:443 tcp, …] cancelled``;
- **CFNetwork**: ``Connection 95: failed to connect 1:50, reason -1`` (CFNetwork's connection 95 is
  libnetwork's ``C95``: the same log prints both), ``TCP Conn 0x600005c24180 Failed : error 0:50 [50]``;
- **syslog-era**: ``tcp_connection_handle_connect_conditions_bad 20 failed: 2 - Path was denied by NECP policy``;
- **the app's own NWConnection state**, in any wording the grammar of
  :mod:`netdown.agent.unified_log_app_state` reads (``Connection state changed to
  waiting(POSIXErrorCode(rawValue: 50): Network is down)``, ``state = .failed(…)``, ``preparing ->
  failed(…)``); such a line names no connection id, so ``conn_id`` is ``-`` and ``endpoint`` is empty
  (nothing was logged; nothing is invented);
- **paths**: a descriptor line that reports a path evaluation (``event: path:…``,
  ``nw_endpoint_handler_path_change``), ``_NSURLErrorNWPathKey=unsatisfied (…), interface: …`` and
  ``libinfo check path: …`` give an ``app`` path observation.

Only top-level connections (``C221``, not the child flow ``C221.1`` or ``C4.1.1``) give ``conn``
observations: a child flow is one attempt (one address, one interface) of several, and its failure
is not the connection's, so an IPv6 attempt failing with ENETDOWN while IPv4 connects must not
read as the app losing its network. Path evaluations of any flow give ``path`` observations.

Path reasons map to the contract's values (``Path was denied by NECP policy`` → ``policy_denied``,
``No network route`` → ``no_route``, ``Local network prohibited`` → ``local_network_denied``,
``Denied over cellular/Wi-Fi interface`` → ``cellular_denied``/``wifi_denied``, a required VPN not
active → ``vpn_inactive``, a required interface missing (``Interface type wifi is required by
parameters``) → ``interface_unavailable``, anything else → ``other``). Interface types: a ``[802.11]``
subtype or a path's ``uses wifi|cell|wired|loopback`` is taken as logged; otherwise the BSD name
decides only where it is unambiguous (``utun*``/``ipsec*``/``ppp*`` → tunnel, ``lo*`` → loopback,
``pdp_ip*`` → cellular) and ``en0`` & co. are ``other``, since a Mac's ``en0`` may be Wi-Fi or
Ethernet. ``ipv4``/``ipv6``/``dns`` are true only when the path lists them.

Errors (:func:`find_error`, :mod:`netdown.agent.unified_log_errors`) are recognised in every spelling
the corpus shows, for ENETDOWN and the other POSIX errors (darwin codes) and DNS-SD errors; the
contract's ``ErrorInfo(domain="posix", code=50, name="ENETDOWN")``. A line that says a state or an
error this grammar cannot read fully is ``unreadable``: counted, never turned into an observation.
Endpoints pass through :func:`netdown.agent.redact.redact_endpoint`, so no raw hostname, URL or
address is ever observed.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec

from netdown import wire
from netdown.agent.redact import redact_endpoint
from netdown.agent.sources.base import Observation
from netdown.agent.unified_log_app_state import closing_paren, find_announcement
from netdown.agent.unified_log_errors import DNS_ERRORS, POSIX_ERRORS, find_error
from netdown.agent.unified_log_layouts import LogRecord

__all__ = [
    "DNS_ERRORS",
    "NO_CONN_ID",
    "POSIX_ERRORS",
    "MessageKind",
    "MessageResult",
    "ParseOptions",
    "PathFacts",
    "find_error",
    "interface_type",
    "parse_message",
    "parse_path",
    "path_reason",
    "read_message",
]

NO_CONN_ID: Final = "-"  # conn_id of a state line that names no connection (the app's own NWConnection log)
_MESSAGE_CAP: Final = 16 * 1024  # longer messages are not read: no Network.framework line is near this


@dataclass(frozen=True)
class ParseOptions:
    """What the message layer needs from outside the line: the hash key and who the app is."""

    # HMAC key for raw hostnames/URLs/addresses (the fleet key in the agent): never in a repr
    key: bytes = field(default=b"", repr=False)
    app_ids: Mapping[str, str] = field(default_factory=dict)  # process name -> bundle id to report as `app`
    default_process: str | None = None  # process of records whose layout names none (key=value exports)


class MessageKind(enum.StrEnum):
    """What a message turned out to be; a bounded set, counted in the parse summary."""

    EVENTS = "events"  # it stated observations
    NETWORK = "network"  # Network.framework text that states no transition (child flows, errors without a state)
    UNREADABLE = "unreadable"  # it looked like a state or path line but could not be read fully
    UNATTRIBUTED = "unattributed"  # it stated observations, but no process names the app
    OTHER = "other"  # not about connections or paths


@dataclass(frozen=True)
class MessageResult:
    """A message's kind, the grammar that read it, and its observations (empty unless ``EVENTS``)."""

    kind: MessageKind
    grammar: str | None = None
    observations: tuple[Observation, ...] = ()


@dataclass(frozen=True)
class PathFacts:
    """A path description as libnetwork prints it, read into the contract's terms."""

    status: wire.PathStatus | None  # None for `(null)`
    reason: wire.PathReason | None
    interfaces: tuple[tuple[str, wire.InterfaceType], ...]  # (name, type)
    ipv4: bool
    ipv6: bool
    dns: bool


def parse_message(record: LogRecord, options: ParseOptions | None = None) -> list[Observation]:
    """The observations one record's message states (``conn``, and ``path`` with observer ``app``)."""
    return list(read_message(record, options).observations)


def read_message(record: LogRecord, options: ParseOptions | None = None) -> MessageResult:
    """What one record's message is, and the observations it states; never raises."""
    options = options or _DEFAULTS
    message = record.message
    if len(message) > _MESSAGE_CAP:
        kind = MessageKind.UNREADABLE if _triggers(message[:4096]) else MessageKind.OTHER
        return MessageResult(kind, "too_long")
    if not _triggers(message):
        return MessageResult(MessageKind.OTHER)
    for grammar in _GRAMMARS:
        if (said := grammar(message, options.key)) is not None:
            return _result(said, record, options)
    return MessageResult(MessageKind.NETWORK)


def _triggers(message: str) -> bool:
    """Any chance of a Network.framework statement or of an app's own state line: else ``other`` at once."""
    return _TRIGGER.search(message) is not None or find_announcement(message) is not None


def _result(said: _Said, record: LogRecord, options: ParseOptions) -> MessageResult:
    """Observations from what a grammar read, once the record's app and time are known."""
    if not said.readable:
        return MessageResult(MessageKind.UNREADABLE, said.grammar)
    if said.conn is None and said.path is None:
        return MessageResult(MessageKind.NETWORK, said.grammar)
    app = _app(record, options)
    if app is None:
        return MessageResult(MessageKind.UNATTRIBUTED, said.grammar)
    observations = [
        Observation(ts_ms=record.ts_ms, body=msgspec.structs.replace(body, app=app))
        for body in (said.conn, said.path)
        if body is not None
    ]
    return MessageResult(MessageKind.EVENTS, said.grammar, tuple(observations))


_DEFAULTS: Final = ParseOptions()


def _app(record: LogRecord, options: ParseOptions) -> str | None:
    """The ``app`` to report: the configured bundle id of the record's process, else the process name."""
    process = record.process or options.default_process
    if process is None:
        return None
    return options.app_ids.get(process, process)


# --- paths --------------------------------------------------------------------------------------------------

_PATH_HEAD: Final = re.compile(
    r"(?P<status>satisfied|unsatisfied|satisfiable|invalid|\(null\)|null)(?: \((?P<reason>[^()]{0,256})\))?"
)
_PATH_ITEM: Final = re.compile(
    r"interface: (?P<if>[A-Za-z][\w]{0,15})(?:\[(?P<sub>[^\[\]]{0,32})\])?"
    r"|uses (?P<uses>[a-z]{2,16})"
    r"|(?P<flag>ipv4|ipv6|dns)"
    r"|LQM: \w{1,16}|estimated mtu: \d{1,6}|[a-z][a-z -]{0,30}"
)
_ITEM_END: Final = re.compile(r"[,\s;)\]}]|$")
_STATUSES: Final[Mapping[str, wire.PathStatus]] = {
    "satisfied": "satisfied",
    "unsatisfied": "unsatisfied",
    "satisfiable": "requires_connection",
}
_USES: Final[Mapping[str, wire.InterfaceType]] = {
    "wifi": "wifi",
    "cell": "cellular",
    "cellular": "cellular",
    "wired": "wired",
    "loopback": "loopback",
}
_TUNNEL: Final = re.compile(r"(?:utun|ipsec|ppp|tun|tap|wg|gif|stf)\d{1,4}")
_LOOPBACK: Final = re.compile(r"lo\d{1,4}")
_CELLULAR: Final = re.compile(r"pdp_ip\d{1,4}")


def parse_path(text: str, *, whole: bool = True) -> PathFacts | None:
    """A libnetwork path description (``unsatisfied (…), interface: en0[802.11], ipv4, dns, uses wifi``).

    ``whole``: the text is exactly the description (inside a descriptor's parentheses), so an item
    this reader does not know is skipped; otherwise (``_NSURLErrorNWPathKey=…``) the description ends
    at the first item that is not a path item. None when the status is not one libnetwork prints.
    """
    head = _PATH_HEAD.match(text)
    if head is None or (whole and head.end() != len(text) and not text.startswith(", ", head.end())):
        return None
    names: list[tuple[str, str | None]] = []
    uses: str | None = None
    flags: set[str] = set()
    for item in _path_items(text, head.end(), whole=whole):
        if item["if"]:
            names.append((item["if"], item["sub"]))
        uses = item["uses"] or uses
        if item["flag"]:
            flags.add(item["flag"])
    status = _STATUSES.get(head["status"])
    return PathFacts(
        status=status,
        reason=path_reason(head["reason"]) if status is not None and status != "satisfied" else None,
        interfaces=tuple((name, interface_type(name, sub, uses if len(names) == 1 else None)) for name, sub in names),
        ipv4="ipv4" in flags,
        ipv6="ipv6" in flags,
        dns="dns" in flags,
    )


def _path_items(text: str, pos: int, *, whole: bool) -> Iterator[re.Match[str]]:
    """The ``, item`` parts after a path's status: in a whole description an unknown item is skipped;
    elsewhere the description ends at the first text that is not a path item."""
    if whole:
        for part in text[pos:].split(", ")[1:]:
            if (item := _PATH_ITEM.fullmatch(part)) is not None:
                yield item
        return
    while text.startswith(", ", pos):
        item = _PATH_ITEM.match(text, pos + 2)
        if item is None or not _ITEM_END.match(text, item.end()):
            return
        yield item
        pos = item.end()


def path_reason(text: str | None) -> wire.PathReason | None:
    """The contract's reason for an unsatisfied path's logged reason text (None when none was logged)."""
    if not text:
        return None
    squeezed = re.sub(r"[^a-z]", "", text.lower())
    for reason, test in _REASONS:
        if test(squeezed):
            return reason
    return None if "pathissatisfi" in squeezed else "other"  # `Path is satisfied`/`satisfiable`: no failure


_REASONS: Final[tuple[tuple[wire.PathReason, Callable[[str], bool]], ...]] = (
    ("policy_denied", lambda t: "necp" in t),
    ("no_route", lambda t: "nonetworkroute" in t or "noroute" in t),
    ("local_network_denied", lambda t: "localnetwork" in t),
    ("cellular_denied", lambda t: "cell" in t and "denied" in t),
    ("wifi_denied", lambda t: "wifi" in t and "denied" in t),
    ("vpn_inactive", lambda t: "vpn" in t and ("inactive" in t or "notactive" in t)),
    (
        "interface_unavailable",
        lambda t: any(
            s in t
            for s in ("isrequiredbyparameters", "interfacenotavailable", "interfaceunavailable", "nousableinterface")
        ),
    ),
)


def interface_type(name: str, subtype: str | None = None, uses: str | None = None) -> wire.InterfaceType:
    """The contract's interface type: unambiguous BSD names, else the logged subtype or ``uses``, else other."""
    if _TUNNEL.fullmatch(name):
        return "tunnel"
    if _LOOPBACK.fullmatch(name):
        return "loopback"
    if _CELLULAR.fullmatch(name):
        return "cellular"
    if subtype == "802.11":
        return "wifi"
    return _USES.get(uses or "", "other")


# --- the grammar --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Said:
    """What one grammar read in a message: a conn and/or a path body (``app`` not yet known), or that it could not."""

    grammar: str
    conn: wire.ConnBody | None = None
    path: wire.PathBody | None = None
    readable: bool = True


_CONN_STATES: Final[Mapping[str, wire.ConnState]] = {
    state: state for state in ("preparing", "waiting", "ready", "failed", "cancelled")
}
_SILENT_STATES: Final = frozenset({"setup", "invalid"})  # real NWConnection states the contract has no value for
# The app's own state words: C's nw_connection_state_* and Swift's NWConnection.State (and the US
# spelling `canceled`); `setup` (before start(): nothing attempted yet) and `invalid` have no contract value.
_APP_STATES: Final[Mapping[str, wire.ConnState]] = {**_CONN_STATES, "canceled": "cancelled"}
_ERROR_STATES: Final = frozenset({"waiting", "failed"})
_HANDLER_STATES: Final[Mapping[str, wire.ConnState | None]] = {
    "initial": None,
    "waiting": "waiting",
    "in_progress": "preparing",
    "ready": "ready",
    "failed": "failed",
    "cancelled": "cancelled",
}
_TOP_LEVEL: Final = re.compile(r"C?\d{1,12}")
_ID: Final = r"C?\d{1,12}(?:\.\d{1,12}){0,8}(?::\d{1,6})?"
_REPORT: Final = re.compile(
    r"(?:\[(?P<id>" + _ID + r")\] )?reporting state (?P<state>[a-z_]{1,20})(?: error (?P<error>.{1,1024}))?"
)
_DESCRIPTOR: Final = re.compile(r"\[(?P<id>" + _ID + r") ")
_DESCRIPTOR_BODY: Final = re.compile(
    r"(?P<endpoint><[^<>\[\]]{0,200}>(?:[:.]\d{1,5})?(?:@[\w.-]{1,32})?|[^\s\[\]]{1,512})"
    r" (?P<state>[a-z_]{2,20}) (?P<kind>[a-z][a-z-]{0,30}) \("
)
_LIFECYCLE: Final = re.compile(
    r"(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12} )?"
    r"(?P<endpoint><[^<>\[\]]{0,200}>(?:[:.]\d{1,5})?|[^\s\[\]]{1,512}) [^\[\]]{0,2048}\]"
    r" (?P<verb>start|cancel|cancelled|restart)\b"
)
_EVENT_ERROR: Final = re.compile(r", error (?P<error>.{1,1024})$")
_CFNETWORK: Final = re.compile(r"Connection (?P<n>\d{1,12}): (?P<rest>.*)")
_CFNETWORK_FAILED: Final = re.compile(r"failed to connect (?P<error>[^,]{1,200})(?:, reason -?\d{1,10})?")
_TCP_CONN: Final = re.compile(r"TCP Conn (?P<id>0x[0-9a-fA-F]{1,16}) Failed : error (?P<error>.{1,200})")
_LEGACY_TCP: Final = re.compile(
    r"tcp_connection_handle_connect_conditions_bad (?P<n>\d{1,12}) failed: \d{1,4} - (?P<reason>.{1,200})"
)
_PATH_KEY: Final = re.compile(r"_NSURLErrorNWPathKey=")
_LIBINFO: Final = re.compile(r"libinfo check path: ")
# Cheap test for any chance of a Network.framework statement; everything else is `other` at once.
_TRIGGER: Final = re.compile(
    r"nw_|\[C\d|\[\d{1,12}(?:\.\d{1,12}){0,8} |reporting state|^Connection \d|TCP Conn|tcp_connection|NWPathKey"
    r"|libinfo check path|[Cc]onnection\b.{0,200}?\bstate\b"
)


def _error_of(text: str | None) -> tuple[bool, wire.ErrorInfo | None]:
    """(readable, error): no error text is readable and no error; text we cannot read is unreadable."""
    if text is None or not text.strip():
        return True, None
    error = find_error(text)
    return error is not None, error


# The bodies a grammar reads lack their app until the record's process names it (:func:`_result` sets it).
_UNATTRIBUTED: Final = ""


def _conn(
    conn_id: str,
    state: wire.ConnState,
    error: wire.ErrorInfo | None = None,
    *,
    endpoint: str = "",
    path: PathFacts | None = None,
) -> wire.ConnBody:
    """A conn body, its app not yet known; the path fields from ``path`` when the line showed one."""
    return wire.ConnBody(
        app=_UNATTRIBUTED,
        conn_id=conn_id,
        endpoint=endpoint,
        state=state,
        error=error,
        path_status=path.status if path else None,
        path_reason=path.reason if path else None,
        interface=path.interfaces[0][0] if path and path.interfaces else None,
    )


def _path(path: PathFacts, status: wire.PathStatus) -> wire.PathBody:
    """An app's path body, its app not yet known."""
    return wire.PathBody(
        observer="app",
        app=_UNATTRIBUTED,
        status=status,
        reason=path.reason,
        interfaces=tuple(wire.Interface(name=name, type=kind) for name, kind in path.interfaces),
        ipv4=path.ipv4,
        ipv6=path.ipv6,
        dns=path.dns,
    )


def _report(message: str, key: bytes) -> _Said | None:
    """``… [C221] reporting state waiting`` (and ``… failed error <error>``)."""
    if "reporting state " not in message:
        return None
    match = _REPORT.search(message)
    if match is None or match.end() != len(message):
        return _Said("report", readable=False)
    state, conn_id = match["state"], match["id"] or NO_CONN_ID
    readable, error = _error_of(match["error"])
    if not readable or (state not in _CONN_STATES and state not in _SILENT_STATES):
        return _Said("report", readable=False)
    if state in _SILENT_STATES or not (conn_id == NO_CONN_ID or _TOP_LEVEL.fullmatch(conn_id)):
        return _Said("report")
    return _Said("report", conn=_conn(conn_id, _CONN_STATES[state], error))


def _descriptor(message: str, key: bytes) -> _Said | None:
    """``[C221 endpoint state kind (path)] …`` or the lifecycle ``[C46 <uuid> endpoint params] cancelled``."""
    opening = _DESCRIPTOR.search(message)
    if opening is None:
        return None
    conn_id, pos = opening["id"], opening.end()
    body = _DESCRIPTOR_BODY.match(message, pos)
    if body is None:
        return _lifecycle(message, pos, conn_id, key)
    close = closing_paren(message, body.end() - 1)
    path = parse_path(message[body.end() : close]) if close is not None else None
    if close is None or path is None or body["state"] not in _HANDLER_STATES or not message.startswith("]", close + 1):
        return _Said("descriptor", readable=False) if conn_id.startswith("C") else None
    trailing = message[close + 2 :].strip()
    error_text = _EVENT_ERROR.search(trailing)
    readable, error = _error_of(error_text["error"] if error_text else None)
    if not readable:
        return _Said("descriptor", readable=False)
    state = _HANDLER_STATES[body["state"]]
    conn = None
    if state is not None and _TOP_LEVEL.fullmatch(conn_id):
        conn = _conn(conn_id, state, error, endpoint=redact_endpoint(body["endpoint"], key), path=path)
    evaluated = (
        trailing.startswith("event: path:")
        or trailing.startswith("reported event path:")
        or "path_change" in message[: opening.start()]
    )
    app_path = _path(path, path.status) if evaluated and path.status is not None else None
    return _Said("descriptor", conn=conn, path=app_path)


def _lifecycle(message: str, pos: int, conn_id: str, key: bytes) -> _Said | None:
    """``[C46 <uuid> Hostname#9081a023:443 tcp, …] start|cancel|cancelled``: only ``cancelled`` is a state."""
    lifecycle = _LIFECYCLE.match(message, pos) if conn_id.startswith("C") else None
    if lifecycle is None:
        return _Said("descriptor", readable=False) if conn_id.startswith("C") else None
    if lifecycle["verb"] != "cancelled" or not _TOP_LEVEL.fullmatch(conn_id):
        return _Said("lifecycle")
    return _Said("lifecycle", conn=_conn(conn_id, "cancelled", endpoint=redact_endpoint(lifecycle["endpoint"], key)))


def _cfnetwork(message: str, key: bytes) -> _Said | None:
    """CFNetwork's ``Connection 95: failed to connect 1:50, reason -1`` (its connection N is libnetwork's CN)."""
    match = _CFNETWORK.fullmatch(message)
    if match is None:
        return None
    failed = _CFNETWORK_FAILED.fullmatch(match["rest"])
    if failed is None:
        return _Said("cfnetwork")
    error = find_error(failed["error"])
    if error is None:
        return _Said("cfnetwork", readable=False)
    return _Said("cfnetwork", conn=_conn(f"C{match['n']}", "failed", error))


def _tcp_conn(message: str, key: bytes) -> _Said | None:
    """CFNetwork's older ``TCP Conn 0x600005c24180 Failed : error 0:50 [50]``."""
    if not message.startswith("TCP Conn "):
        return None
    match = _TCP_CONN.fullmatch(message)
    if match is None:
        return _Said("tcp_conn")
    error = find_error(match["error"])
    if error is None:
        return _Said("tcp_conn", readable=False)
    return _Said("tcp_conn", conn=_conn(match["id"], "failed", error))


def _legacy_tcp(message: str, key: bytes) -> _Said | None:
    """Syslog-era ``tcp_connection_handle_connect_conditions_bad 20 failed: 2 - Path was denied by NECP policy``."""
    match = _LEGACY_TCP.search(message)
    if match is None:
        return None
    reason = path_reason(match["reason"])
    if reason in (None, "other"):  # a failure whose reason is not a path's: the connection failed, no more said
        return _Said("tcp_connection", conn=_conn(match["n"], "failed"))
    path = PathFacts(status="unsatisfied", reason=reason, interfaces=(), ipv4=False, ipv6=False, dns=False)
    return _Said("tcp_connection", conn=_conn(match["n"], "failed", path=path), path=_path(path, "unsatisfied"))


def _app_state(message: str, key: bytes) -> _Said | None:
    """The app's own NWConnection state in its own words (:mod:`netdown.agent.unified_log_app_state`).

    Only ``waiting`` and ``failed`` carry an error (Swift's ``NWConnection.State`` gives the others
    none), so text after any other state is not read as one.
    """
    said = find_announcement(message)
    if said is None:
        return None
    if not said.complete:
        return _Said("app_state", readable=False)
    if not said.of_connection:
        return _Said("app_state")
    readable, error = _error_of(said.error if said.state in _ERROR_STATES else None)
    if not readable:
        return _Said("app_state", readable=False)
    state = _APP_STATES.get(said.state)
    if state is None:
        return _Said("app_state")
    return _Said("app_state", conn=_conn(NO_CONN_ID, state, error))


def _path_text(pattern: re.Pattern[str], grammar: str) -> Callable[[str, bytes], _Said | None]:
    """A path description that follows ``pattern`` in the message, up to its first non-path item."""

    def read(message: str, key: bytes) -> _Said | None:
        match = pattern.search(message)
        if match is None:
            return None
        path = parse_path(message[match.end() : match.end() + 2048], whole=False)
        if path is None:
            return _Said(grammar, readable=False)
        return _Said(grammar, path=_path(path, path.status) if path.status is not None else None)

    return read


_GRAMMARS: Final[tuple[Callable[[str, bytes], _Said | None], ...]] = (
    _report,
    _descriptor,
    _cfnetwork,
    _tcp_conn,
    _legacy_tcp,
    _path_text(_PATH_KEY, "nsurl_path"),
    _path_text(_LIBINFO, "libinfo_path"),
    _app_state,
)
