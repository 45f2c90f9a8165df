"""The message layer: what each kind of Network.framework line states, exactly, and what it must not.

Messages are the field corpus's (``public_captures.md`` section numbers in the names); each test
checks whole observation bodies, so a field added or changed shows here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from netdown.agent.redact import hash_host, redact_endpoint
from netdown.agent.sources.unified_log import (
    NO_CONN_ID,
    LogRecord,
    MessageKind,
    ParseOptions,
    find_error,
    parse_message,
    read_message,
)
from netdown.agent.unified_log_messages import interface_type, parse_path, path_reason
from tests.unit.agent.golden import as_wire_event, jsonable

TS = 1_664_960_935_853
ENETDOWN = {"domain": "posix", "code": 50, "name": "ENETDOWN"}
KEY = b"test-key"


def record(message: str, process: str | None = "mynetworkextension", pid: int | None = 1234) -> LogRecord:
    return LogRecord(
        line=7, layout="console", ts_ms=TS, process=process, pid=pid, subsystem=None, category=None, message=message
    )


def observed(message: str, **options: Any) -> list[tuple[str, dict[str, Any]]]:
    """(type, body) of each observation, every body checked against the wire contract."""
    observations = parse_message(record(message), ParseOptions(key=KEY, **options))
    for observation in observations:
        as_wire_event(observation.body)
        assert observation.ts_ms == TS
    return [(observation.type, jsonable(observation.body)) for observation in observations]


def error_of(text: str) -> dict[str, Any] | None:
    """The error :func:`find_error` reads in ``text``, as its JSON object."""
    error: dict[str, Any] | None = jsonable(find_error(text))
    return error


def kind(message: str) -> MessageKind:
    return read_message(record(message), ParseOptions(key=KEY)).kind


def conn(conn_id: str, state: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    body = {
        "app": "mynetworkextension",
        "conn_id": conn_id,
        "endpoint": "",
        "state": state,
        "error": None,
        "path_status": None,
        "path_reason": None,
        "interface": None,
    }
    return "conn", {**body, **fields}


def path(
    status: str, reason: str | None, interfaces: list[dict[str, str]], **flags: bool
) -> tuple[str, dict[str, Any]]:
    body = {
        "observer": "app",
        "app": "mynetworkextension",
        "status": status,
        "reason": reason,
        "interfaces": interfaces,
    }
    return "path", {**body, "ipv4": False, "ipv6": False, "dns": False, **flags}


# --- libnetwork descriptors ------------------------------------------------------------------------------------

NECP_LINE = (
    "[C221 Hostname#8c901c3c:443 waiting parent-flow (unsatisfied (Path was denied by NECP policy), interface: en0, "
    "ipv4)] event: path:unsatisfied @0.000s, uuid: FA51A7E3-9B79-495C-AB80-0919C89CECCA"
)


def test_the_necp_denied_path_evaluation_gives_a_waiting_conn_and_an_app_path_s01() -> None:
    assert observed(NECP_LINE) == [
        conn(
            "C221",
            "waiting",
            endpoint="Hostname#8c901c3c:443",
            path_status="unsatisfied",
            path_reason="policy_denied",
            interface="en0",
        ),
        path("unsatisfied", "policy_denied", [{"name": "en0", "type": "other"}], ipv4=True),
    ]


def test_a_descriptor_that_is_no_path_evaluation_gives_the_conn_only_s01() -> None:
    line = (
        "[C221 Hostname#8c901c3c:443 in_progress parent-flow (unsatisfied (Path was denied by NECP policy), "
        "interface: en0, ipv4)] event: flow:start_child @0.000s"
    )
    assert observed(line) == [
        conn(
            "C221",
            "preparing",
            endpoint="Hostname#8c901c3c:443",
            path_status="unsatisfied",
            path_reason="policy_denied",
            interface="en0",
        )
    ]


@pytest.mark.parametrize(
    ("handler_state", "state"),
    [
        ("waiting", "waiting"),
        ("in_progress", "preparing"),
        ("ready", "ready"),
        ("failed", "failed"),
        ("cancelled", "cancelled"),
    ],
)
def test_handler_states_map_to_connection_states(handler_state: str, state: str) -> None:
    line = (
        f"[C46 Hostname#9081a023:443 {handler_state} resolver (satisfied (Path is satisfied), interface: en0, ipv4, "
        "ipv6, dns)] event: flow:x @1.0s"
    )
    assert observed(line) == [
        conn("C46", state, endpoint="Hostname#9081a023:443", path_status="satisfied", interface="en0")
    ]


def test_a_failed_flow_with_its_error_in_the_event() -> None:
    line = (
        "[C46 Hostname#9081a023:443 failed resolver (satisfied (Path is satisfied), interface: en0, ipv4, ipv6, dns)] "
        "event: flow:failed_connect @1.260s, error Network is down"
    )
    assert observed(line) == [
        conn(
            "C46", "failed", endpoint="Hostname#9081a023:443", error=ENETDOWN, path_status="satisfied", interface="en0"
        )
    ]


def test_the_initial_state_and_a_null_path_state_nothing_s01() -> None:
    line = "[C221 Hostname#8c901c3c:443 initial parent-flow ((null))] event: path:start @0.000s"
    assert observed(line) == []
    assert kind(line) is MessageKind.NETWORK


def test_child_flows_give_no_conn_but_their_path_evaluations_count_s36() -> None:
    failing = (
        "nw_endpoint_flow_failed_with_error [C4.1.1 2607:f8b0:4020:802::200e.443 failed channel-flow (satisfied (Path "
        "is satisfied), viable, interface: en0[802.11], ipv4, ipv6, dns, uses wifi)] event: x, error Network is down"
    )
    assert observed(failing) == []
    evaluated = (
        "[C1.1.1.1 IPv4#c9080d21:9123@en8 waiting path (unsatisfied (Interface type wifi is required by "
        "parameters), interface: en8, scoped, ipv4, dns)] event: path:unsatisfied @0.092s, uuid: "
        "1315243B-F687-4980-84F8-DEBB2A450DF7"
    )
    assert observed(evaluated) == [
        path("unsatisfied", "interface_unavailable", [{"name": "en8", "type": "other"}], ipv4=True, dns=True)
    ]


def test_2016_descriptors_have_ids_without_c_s32() -> None:
    change = "nw_endpoint_handler_path_change [3.1 ::1.8097 waiting path (satisfied)]"
    assert observed(change) == [path("satisfied", None, [])]
    report = (
        "nw_endpoint_resolver_receive_report [3 localhost:8097 in_progress resolver (satisfied)] received child "
        "report:[3.1 ::1.8097 waiting path (satisfied)]"
    )
    assert observed(report) == [
        conn("3", "preparing", endpoint=hash_host("localhost", KEY) + ":8097", path_status="satisfied")
    ]


def test_descriptors_the_parser_cannot_read_fully_are_unreadable_not_guessed() -> None:
    for line in (
        "[C4 Hostname#0a1b2c3d:443 stalled parent-flow (satisfied (Path is satisfied))] event: x",
        "[C5 Hostname#0a1b2c3d:443 waiting parent-flow (maybe (who knows))] event: path:maybe",
        "[C6 Hostname#0a1b2c3d:443 waiting parent-flow (unsatisfied (Path was denied by NECP policy), interface: en0",
        "[C7 Hostname#0a1b2c3d:443 failed parent-flow (satisfied (Path is satisfied))] event: x, error TLS -9816",
    ):
        assert kind(line) is MessageKind.UNREADABLE, line
        assert observed(line) == []


# --- state reports and lifecycle ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["preparing", "waiting", "ready", "failed", "cancelled"])
def test_state_reports_s01(state: str) -> None:
    line = f"nw_connection_report_state_with_handler_on_nw_queue [C221] reporting state {state}"
    assert observed(line) == [conn("C221", state)]


def test_a_state_report_with_its_error() -> None:
    line = (
        "nw_connection_report_state_with_handler_on_nw_queue [C46] reporting state failed error Socket is not connected"
    )
    assert observed(line) == [conn("C46", "failed", error={"domain": "posix", "code": 57, "name": "ENOTCONN"})]


def test_state_reports_without_a_contract_state_or_of_a_child_say_nothing_and_unknown_ones_are_unreadable() -> None:
    assert observed("nw_connection_report_state_with_handler_on_nw_queue [C3] reporting state setup") == []
    assert observed("nw_connection_report_state_with_handler_on_nw_queue [C3.1] reporting state ready") == []
    assert (
        kind("nw_connection_report_state_with_handler_on_nw_queue [C3] reporting state zombie")
        is MessageKind.UNREADABLE
    )
    unreadable_error = "nw_connection_report_state_with_handler_on_nw_queue [C3] reporting state failed error -9816"
    assert kind(unreadable_error) is MessageKind.UNREADABLE


def test_a_state_report_whose_id_was_stripped_names_no_connection() -> None:
    assert observed("reporting state failed error Operation timed out") == [
        conn(NO_CONN_ID, "failed", error={"domain": "posix", "code": 60, "name": "ETIMEDOUT"})
    ]


def test_lifecycle_lines_only_cancelled_is_a_state_s01() -> None:
    start = (
        "[C221 873998CB-9BC7-4C6E-8218-9BD5A4346538 Hostname#8c901c3c:443 tcp, url hash: 5ffa153d, tls, attribution: "
        "developer, context: Default Network Context (private), proc: BD2C7D53-7F93-3CA0-8003-4B8C86F705C9] start"
    )
    assert observed(start) == []
    assert kind(start) is MessageKind.NETWORK
    cancelled = start.replace("] start", "] cancelled")
    assert observed(cancelled) == [conn("C221", "cancelled", endpoint="Hostname#8c901c3c:443")]


# --- CFNetwork, syslog-era and the app's own lines ---------------------------------------------------------------


def test_cfnetwork_connection_n_is_libnetwork_cn_s28() -> None:
    assert observed("Connection 95: failed to connect 1:50, reason -1") == [conn("C95", "failed", error=ENETDOWN)]
    assert observed("Connection 95: encountered error(1:50)") == []  # an error, but no state
    assert kind("Connection 95: received failure notification") is MessageKind.NETWORK


def test_cfnetwork_tcp_conn_keeps_its_id_as_logged_s29_s31() -> None:
    assert observed("TCP Conn 0x600005c24180 Failed : error 0:50 [50]") == [
        conn("0x600005c24180", "failed", error=ENETDOWN)
    ]
    assert observed("TCP Conn 0x60c000162400 Failed : error 0:1 [1]") == [
        conn("0x60c000162400", "failed", error={"domain": "posix", "code": 1, "name": "EPERM"})
    ]


def test_the_syslog_era_necp_denial_s30() -> None:
    line = "tcp_connection_handle_connect_conditions_bad 20 failed: 2 - Path was denied by NECP policy"
    assert observed(line) == [
        conn("20", "failed", path_status="unsatisfied", path_reason="policy_denied"),
        path("unsatisfied", "policy_denied", []),
    ]


def test_the_apps_own_nwconnection_state_line_s01() -> None:
    line = (
        '[WebSocketClient.swift:332]  ["Connection state changed to waiting(POSIXErrorCode(rawValue: 50): '
        'Network is down)"]'
    )
    assert observed(line) == [conn(NO_CONN_ID, "waiting", error=ENETDOWN)]
    assert observed("Connection state changed to ready") == [conn(NO_CONN_ID, "ready")]
    assert observed("Connection state changed to setup") == []
    assert kind("Connection state changed to failed(TLS error -9816)") is MessageKind.UNREADABLE


@pytest.mark.parametrize(
    ("line", "state"),
    [
        ("Connection state changed to failed with error: POSIXErrorCode(rawValue: 50): Network is down", "failed"),
        ("connection state: waiting (Network is down)", "waiting"),
        ("Link state did change to waiting: Network is down", "waiting"),
        ("tunnel entered state failed(posix(ENETDOWN))", "failed"),
        ("C3 preparing -> failed(NWError.posix(POSIXErrorCode.ENETDOWN))", "failed"),
        ("ready \u2192 waiting(ENETDOWN)", "waiting"),
        ("state = .failed(.posix(.ENETDOWN))", "failed"),
        ("newState: waiting(POSIXErrorCode: Network is down)", "waiting"),
        ("NWConnection.State.failed(Network.NWError.posix(__C.POSIXErrorCode(rawValue: 50)))", "failed"),
        ("nw_connection_state_failed error: domain nw_error_domain_posix code 50", "failed"),
        ("Connection State Changed: Failed - Network is down", "failed"),
        ("UDP connection state changed from preparing to waiting(errno 50)", "waiting"),
        ("Tunnel connection waiting(POSIXErrorCode(rawValue: 50): Network is down)", "waiting"),
    ],
)
def test_the_apps_connection_state_in_any_wording_with_its_error(line: str, state: str) -> None:
    assert observed(line) == [conn(NO_CONN_ID, state, error=ENETDOWN)]


@pytest.mark.parametrize(
    ("line", "state"),
    [
        ("connection state nw_connection_state_waiting error (null)", "waiting"),
        ("Connection state is now .cancelled", "cancelled"),
        ("connection state -> canceled", "cancelled"),
        ("state changed to ready, sending hello", "ready"),
        ("[C4] connection state: preparing", "preparing"),
    ],
)
def test_states_without_an_error_and_text_after_them_that_is_none(line: str, state: str) -> None:
    assert observed(line) == [conn(NO_CONN_ID, state)]


def test_setup_and_invalid_state_nothing_and_prose_is_no_state() -> None:
    for line in ("Connection 7 state: setup", "connection state: nw_connection_state_invalid"):
        assert observed(line) == []
        assert kind(line) is MessageKind.NETWORK, line
    for line in ("Saving the statement failed", "Waiting for network state to change", "restated: ready"):
        assert kind(line) is MessageKind.OTHER, line


def test_a_state_whose_error_is_no_posix_error_is_unreadable() -> None:
    for line in (
        'Connection state changed to failed(Error Domain=NSURLErrorDomain Code=50 "(null)")',
        "Connection state changed to failed with error HTTP 500",
        "connection state: waiting (50)",
        "Connection state changed to failed(POSIXErrorCode(rawValue: 50)",  # never closed
    ):
        assert kind(line) is MessageKind.UNREADABLE, line


def test_other_nw_objects_states_are_not_connections_s52() -> None:
    assert observed("Browser did update state to waiting(-65570: PolicyDenied)") == []
    assert kind("Tunnel 'laptop-full' connection status changed to 'disconnecting'") is MessageKind.OTHER


def test_path_of_a_failed_url_task_and_libinfo_check_path() -> None:
    task = (
        "Task <93FD5AD0>.<1> finished with error [-1009] Error Domain=NSURLErrorDomain Code=-1009 UserInfo="
        "{_kCFStreamErrorCodeKey=50, _NSURLErrorNWPathKey=unsatisfied (Denied over Wi-Fi interface), interface: "
        "en0[802.11], ipv4, dns, uses wifi, LQM: good}}, _kCFStreamErrorDomainKey=1}"
    )
    assert observed(task) == [
        path("unsatisfied", "wifi_denied", [{"name": "en0", "type": "wifi"}], ipv4=True, dns=True)
    ]
    libinfo = "libinfo check path: unsatisfied (Local network prohibited), interface: bridge0"
    assert observed(libinfo) == [path("unsatisfied", "local_network_denied", [{"name": "bridge0", "type": "other"}])]


def test_unrelated_messages_are_other_s01() -> None:
    for message in (
        "CSSM Exception: -2147413736 CSSMERR_DL_DATASTORE_ALREADY_EXISTS",
        "subjectInfo[2.16.840.1] = 4",
        "",
    ):
        assert kind(message) is MessageKind.OTHER


def test_a_message_over_the_cap_is_not_read() -> None:
    assert kind(NECP_LINE + " " * 20_000) is MessageKind.UNREADABLE
    assert kind("x" * 20_000) is MessageKind.OTHER


# --- apps -------------------------------------------------------------------------------------------------------


def test_the_app_is_the_configured_bundle_id_of_the_process() -> None:
    ((_, body),) = observed(
        NECP_LINE.replace("path:unsatisfied", "flow:x"), app_ids={"mynetworkextension": "com.example.vpn"}
    )
    assert body["app"] == "com.example.vpn"


def test_a_record_without_a_process_needs_a_default_process() -> None:
    line_record = record(NECP_LINE, process=None)
    assert read_message(line_record).kind is MessageKind.UNATTRIBUTED
    observations = parse_message(line_record, ParseOptions(default_process="Lolgato"))
    assert {jsonable(observation.body)["app"] for observation in observations} == {"Lolgato"}


# --- errors -----------------------------------------------------------------------------------------------------

ENETDOWN_SPELLINGS = [
    "POSIXErrorCode(rawValue: 50): Network is down",  # s01
    "error 0:50 [50]",  # s29
    "failed to connect 1:50, reason -1",  # s28
    "encountered error(1:50)",  # s28
    "HTTP load failed, 0/0 bytes (error code: -1009 [1:50])",  # s28
    "UserInfo={_kCFStreamErrorCodeKey=50, _kCFStreamErrorDomainKey=1}",  # s28
    "write udp4 0.0.0.0:57616->15.185.65.36:51820: sendto: network is down",  # s45
    "Error: read ENETDOWN",  # s49
    "Error code: ENETDOWN",  # s49
    "waiting(POSIX(.ENETDOWN))",  # s44
    "failed(posix(.ENETDOWN))",  # Swift's NWError case
    "(Network. NWError error 50 - Network is down)",  # s53
    "[50: Network is down]",  # libnetwork's errno layout (s37 shows it for 61)
    'Error Domain=NSPOSIXErrorDomain Code=50 "Network is down"',  # NSError (s23 shows it for 49)
    "Network(The operation couldn\u2019t be completed. Network is down)",  # s29's follow-on text
    "POSIXErrorCode: Network is down",  # newer Swift's description of the code
    ".posix(.ENETDOWN)",
    "posix(ENETDOWN)",
    "NWError.posix(POSIXErrorCode.ENETDOWN)",
    "Network.NWError.posix(__C.POSIXErrorCode(rawValue: 50))",
    "ENETDOWN",
    "Error Domain=NSPOSIXErrorDomain Code=50",
    'Error Domain=NSPOSIXErrorDomain Code=50 "Network is down" UserInfo={NSLocalizedDescription=Network is down}',
    'Error Domain=kNWErrorDomainPOSIX Code=50 "Network is down"',
    "domain: nw_error_domain_posix, code: 50",
    "nw_error_domain_posix(1) code 50",
    "POSIX error 50",
    "The operation couldn\u2019t be completed. (NSPOSIXErrorDomain error 50 - Network is down)",
    "The operation couldn't be completed. (NSPOSIXErrorDomain error 50 - Network is down)",
    "The operation could not be completed. (NSPOSIXErrorDomain error 50.)",
    "errno 50",
    "errno=50",
    "error 50 (Network is down)",
    "Network is down",
    "[Errno 100] Network is down",  # Linux's number: the text decides, 100 is darwin's EPROTO
]


@pytest.mark.parametrize("spelling", ENETDOWN_SPELLINGS)
def test_enetdown_is_recognised_in_every_spelling_of_the_corpus(spelling: str) -> None:
    assert error_of(spelling) == ENETDOWN


@pytest.mark.parametrize(
    ("text", "name", "code"),
    [
        ("Socket SO_ERROR [61: Connection refused]", "ECONNREFUSED", 61),  # s37
        ('Receive failed with error "Operation timed out"', "ETIMEDOUT", 60),  # s39
        ("sendto: no route to host", "EHOSTUNREACH", 65),  # s11
        ("sendto: network is unreachable", "ENETUNREACH", 51),  # s04
        ('Error Domain=NSPOSIXErrorDomain Code=49 "Can\'t assign requested address"', "EADDRNOTAVAIL", 49),  # s23
        ("connectx failed (fd 14, 127.0.0.1:10134 stream, pid: 70526): [1] Operation not permitted", "EPERM", 1),  # s31
        ("NECP_CLIENT_ACTION_ADD_FLOW B4B73350 [22: Invalid argument]", "EINVAL", 22),  # s43
        ('Receive failed with error "Socket is not connected"', "ENOTCONN", 57),  # s38
        ("ping: sendto: Device not configured", "ENXIO", 6),  # C22
        ("errno 51", "ENETUNREACH", 51),
        ('Error Domain=NSPOSIXErrorDomain Code=65 "No route to host"', "EHOSTUNREACH", 65),
        ("kNWErrorDomainPOSIX Code=61", "ECONNREFUSED", 61),
        ("POSIX error 60", "ETIMEDOUT", 60),
        ("POSIXErrorCode(rawValue: 51): Network is unreachable", "ENETUNREACH", 51),
    ],
)
def test_other_posix_errors_by_their_canonical_name(text: str, name: str, code: int) -> None:
    assert error_of(text) == {"domain": "posix", "code": code, "name": name}


def test_dns_service_errors_when_name_and_code_agree_s51_s52() -> None:
    policy = {"domain": "dns", "code": -65570, "name": "PolicyDenied"}
    assert error_of("nw_browser_dns_service_browse_callback failed: PolicyDenied(-65570)") == policy
    assert error_of("waiting(-65570: PolicyDenied)") == policy
    assert error_of("waiting(-65570: NoSuchRecord)") is None


@pytest.mark.parametrize(
    "text",
    [
        "at 01:50 the tunnel came up",
        "UserInfo={_kCFStreamErrorCodeKey=50, _kCFStreamErrorDomainKey=4}",
        "POSIXErrorCode(rawValue: 999)",
        "ERROR: EOF reached",
        "error code: -1009 [4:-4]",
        "",
        "50",
        "code 50",
        "error 50",
        "Code=50",
        "Error Domain=NSURLErrorDomain Code=50",
        'Error Domain=kCFErrorDomainCFNetwork Code=50 "(null)"',
        "Error Domain=NSOSStatusErrorDomain Code=50",
        "HTTP 500",
        "HTTP status code 500 Internal Server Error",
        "posix 500",
        "errno 500",
        "NSPOSIXErrorDomain Code=5000",
    ],
)
def test_text_that_only_looks_like_an_error_is_none(text: str) -> None:
    assert error_of(text) is None


# --- paths, reasons, interfaces --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Path was denied by NECP policy", "policy_denied"),
        ("No network route", "no_route"),
        ("Local network prohibited", "local_network_denied"),
        ("Denied over cellular interface", "cellular_denied"),
        ("Denied over Wi-Fi interface", "wifi_denied"),
        ("Required VPN is not active", "vpn_inactive"),
        ("Interface type wifi is required by parameters", "interface_unavailable"),
        ("Interface type 'other' is prohibited by parameters", "other"),
        ("localNetworkDenied", "local_network_denied"),
        ("Path is satisfied", None),
        ("", None),
        (None, None),
    ],
)
def test_path_reasons_map_to_the_contracts_values(text: str | None, reason: str | None) -> None:
    assert path_reason(text) == reason


@pytest.mark.parametrize(
    ("name", "subtype", "uses", "kind_"),
    [
        ("en0", "802.11", None, "wifi"),
        ("en0", None, "wifi", "wifi"),
        ("en1", None, "wired", "wired"),
        ("en0", None, None, "other"),
        ("utun4", None, "wifi", "tunnel"),
        ("ipsec0", None, None, "tunnel"),
        ("ppp0", None, None, "tunnel"),
        ("lo0", None, None, "loopback"),
        ("pdp_ip0", None, "cell", "cellular"),
        ("bridge0", None, None, "other"),
    ],
)
def test_interface_types_from_what_the_log_says_or_an_unambiguous_name(
    name: str, subtype: str | None, uses: str | None, kind_: str
) -> None:
    assert interface_type(name, subtype, uses) == kind_


def test_path_descriptions_of_every_era() -> None:
    modern = parse_path("satisfied (Path is satisfied), viable, interface: en0[802.11], ipv4, ipv6, dns, uses wifi")
    assert modern is not None
    assert (modern.status, modern.reason, modern.interfaces, modern.ipv4, modern.ipv6, modern.dns) == (
        "satisfied",
        None,
        (("en0", "wifi"),),
        True,
        True,
        True,
    )
    null = parse_path("(null)")
    assert null is not None
    assert null.status is None
    satisfiable = parse_path("satisfiable (Path is satisfiable), interface: utun4, ipv4")
    assert satisfiable is not None
    assert (satisfiable.status, satisfiable.reason) == ("requires_connection", None)
    assert parse_path("bogus (x)") is None


# --- redaction ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "shape"),
    [
        ("vpn.example.com:443", r"Hostname#[0-9a-f]{8}:443"),
        ("VPN.Example.COM.:443", r"Hostname#[0-9a-f]{8}:443"),
        ("localhost", r"Hostname#[0-9a-f]{8}"),
        ("142.250.69.78:443", r"IPv4#[0-9a-f]{8}:443"),
        ("2607:f8b0:4020:802::200e.443", r"IPv6#[0-9a-f]{8}\.443"),
        ("[::1]:8080", r"IPv6#[0-9a-f]{8}:8080"),
        ("wss://gateway.example.net/tunnel?token=abc", r"Hostname#[0-9a-f]{8}:443"),
        ("10.0.0.1:53@en0", r"IPv4#[0-9a-f]{8}:53@en0"),
        ("some thing odd", r"Hostname#[0-9a-f]{8}"),
    ],
)
def test_raw_endpoints_become_keyed_hashes_of_apples_shape(endpoint: str, shape: str) -> None:
    redacted = redact_endpoint(endpoint, KEY)
    assert re.fullmatch(shape, redacted), redacted
    assert redact_endpoint(endpoint, b"other-key") != redacted


def test_the_same_host_hashes_alike_in_every_spelling_and_apples_hashes_pass_unchanged() -> None:
    assert redact_endpoint("VPN.Example.COM.:443", KEY) == redact_endpoint("vpn.example.com:443", KEY)
    assert redact_endpoint("vpn.example.com:443", KEY) == hash_host("vpn.example.com", KEY) + ":443"
    for kept in ("Hostname#8c901c3c:443", "IPv4#c9080d21:9123@en8", "IPv6#5f2e7c8a.443", "<private>:443", "<private>"):
        assert redact_endpoint(kept, KEY) == kept


def test_no_raw_name_reaches_an_observation() -> None:
    line = NECP_LINE.replace("Hostname#8c901c3c:443", "secret-gateway.example.org:8443")
    ((_, body), _) = observed(line)
    assert "example" not in str(body)
    assert body["endpoint"] == hash_host("secret-gateway.example.org", KEY) + ":8443"
