"""The layout layer: every layout's record read exactly, time from each line's own stamp, the rest counted.

Lines are the field corpus's (``public_captures.md`` section numbers in the test names) or built
from log(1)'s documented layouts where the corpus has none (compact, json, ndjson).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from netdown.agent.sources.unified_log import LineTally, LogRecord, SplitOptions, read_lines, split_records

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(iso: str) -> int:
    """Unix epoch milliseconds of an ISO timestamp, in exact integer arithmetic."""
    return (datetime.fromisoformat(iso) - EPOCH) // timedelta(milliseconds=1)


def split(lines: Iterable[str | None], **options: object) -> tuple[list[LogRecord], LineTally]:
    tally = LineTally()
    return list(split_records(lines, options=SplitOptions(**options), tally=tally)), tally  # type: ignore[arg-type]


def one(line: str, **options: object) -> LogRecord:
    records, tally = split([line], **options)
    assert tally.unknown == 0, f"unknown: {line!r}"
    (record,) = records
    return record


# --- log show / log stream, default style ----------------------------------------------------------------------


def test_default_style_with_ttl_subsystem_and_category_s09() -> None:
    line = (
        "2022-10-30 15:48:16.741447-0400 0x10a8     Default     0x0                  505    0    nesessionmanager: "
        "[com.apple.networkextension:] NESMVPNSession[Primary Tunnel:Tailscale Tunnel:351BF664-A9D9-48BB-A31F-"
        "86F55B632BDD:(null)]: status changed to disconnecting"
    )
    assert one(line) == LogRecord(
        line=1,
        layout="default",
        ts_ms=ms("2022-10-30T19:48:16.741+00:00"),
        process="nesessionmanager",
        pid=505,
        subsystem="com.apple.networkextension",
        category=None,
        message="NESMVPNSession[Primary Tunnel:Tailscale Tunnel:351BF664-A9D9-48BB-A31F-86F55B632BDD:(null)]: "
        "status changed to disconnecting",
        level="Default",
    )


def test_default_style_of_2017_has_no_ttl_and_a_trailing_dot_subsystem_s02() -> None:
    line = (
        "2017-05-10 17:18:42.263970+0300 0x1c533    Info        0x0                  9568   neagent: "
        "(NetworkExtension) [com.apple.networkextension.] Setting HOME to /Users/artyomboyko"
    )
    record = one(line)
    assert (record.process, record.pid, record.subsystem, record.category, record.level) == (
        "neagent",
        9568,
        "com.apple.networkextension",
        None,
        "Info",
    )
    assert record.message == "Setting HOME to /Users/artyomboyko"
    assert record.ts_ms == ms("2017-05-10T14:18:42.263+00:00")


def test_default_style_with_library_and_category_and_without_any_s11() -> None:
    path = one(
        "2023-05-27 01:02:02.948791-0400 0xba2ec    Default     0x3bf6d7             19332  0    IPNExtension: "
        "(Network) [com.apple.network:path] nw_path_evaluator_start [79A630F7-72BC-445C-B682-323993B8C7C5 <NULL> "
        "generic, attribution: developer]"
    )
    assert (path.subsystem, path.category) == ("com.apple.network", "path")
    assert path.message.startswith("nw_path_evaluator_start [79A630F7")
    bare = one(
        "2023-05-27 01:02:04.793978-0400 0xba325    Default     0x0                  19332  0    IPNExtension: "
        "magicsock: derp-1 connected; connGen=1"
    )
    assert (bare.process, bare.subsystem, bare.message) == (
        "IPNExtension",
        None,
        "magicsock: derp-1 connected; connGen=1",
    )


def test_a_message_opening_with_a_connection_id_or_a_source_location_keeps_it() -> None:
    head = "2022-10-05 14:38:55.853790+0530 0x1a2b     Default     0x0                  123    0    vpn: "
    assert one(head + "[C221] reporting state waiting").message == "[C221] reporting state waiting"
    assert one(head + '[WebSocketClient.swift:332]  ["x"]').subsystem is None


def test_header_footer_and_banner_lines_are_furniture_s24() -> None:
    records, tally = split(
        [
            'Filtering the log data using "subsystem == "com.objective-see.lulu""',
            "Skipping info and debug messages, pass --info and/or --debug to include.",
            "Timestamp                       Thread     Type        Activity             PID    TTL  ",
            "2021-01-18 18:53:37.342822+0000 0x3884b    Debug       0x0                  6521   0    LuLu: "
            "[com.objective-see.lulu:application] started",
            "-" * 80,
            "Log      - Default:          9, Info:                0, Debug:             0, Error:          0, "
            "Fault:          0",
            "Activity - Create:           0, Transition:          0, Actions:           0",
        ]
    )
    assert [record.message for record in records] == ["started"]
    assert (tally.furniture, tally.unknown, tally.records["default"]) == (6, 0, 1)


def test_indented_lines_continue_the_message_above_s24() -> None:
    records, tally = split(
        [
            "2021-01-18 18:53:37.343247+0000 0x3884b    Debug       0x0                  6521   0    LuLu: "
            "[com.objective-see.lulu:application] arguments: (",
            '    "/Applications/LuLu.app/Contents/MacOS/LuLu"',
            ")",
            "2021-01-18 18:53:37.471406+0000 0x3884b    Debug       0x0                  6521   0    LuLu: "
            "[com.objective-see.lulu:application] -[AppDelegate applicationDidFinishLaunching:]",
        ]
    )
    assert [record.message for record in records] == [
        'arguments: (\n    "/Applications/LuLu.app/Contents/MacOS/LuLu"\n)',
        "-[AppDelegate applicationDidFinishLaunching:]",
    ]
    assert (tally.continuation, tally.unknown) == (2, 0)


def test_an_indented_line_with_no_record_above_is_unknown() -> None:
    records, tally = split([" nw_endpoint_flow_failed_with_error [C4.1.1 x.443 in_progress channel-flow (null)] x"])
    assert (records, tally.unknown, tally.first_unknown) == ([], 1, 1)


# --- other text layouts ---------------------------------------------------------------------------------------


def test_syslog_style_with_and_without_library_s40_s33() -> None:
    docker = one(
        "2022-11-22 18:21:41.509873+1300  localhost Docker[56823]: (libnetwork.dylib) [com.apple.network:connection] "
        "nw_flow_disconnected [C1.1.1 IPv4#cdd5f451:443 ready channel-flow (satisfied (Path is satisfied), viable, "
        "interface: en0, ipv4, dns)] Output protocol disconnected"
    )
    assert (docker.layout, docker.process, docker.pid, docker.subsystem, docker.category) == (
        "syslog",
        "Docker",
        56823,
        "com.apple.network",
        "connection",
    )
    assert docker.message.startswith("nw_flow_disconnected [C1.1.1")
    assert docker.ts_ms == ms("2022-11-22T05:21:41.509+00:00")
    configd = one(
        "2026-01-06 16:03:53.956399+0100 localhost configd[594]: [com.apple.SystemConfiguration:IPMonitor] "
        "configd[594] SetInterfaceAdvisory(en0) = UplinkIssue (2) reason='unable to reach probe server'"
    )
    assert (configd.process, configd.pid, configd.category) == ("configd", 594, "IPMonitor")


def test_compact_style_has_no_zone_and_is_read_in_the_given_zone() -> None:
    line = "2024-03-01 10:00:00.123 Df tccd[75697:5a8b53a] [com.apple.TCC:access] AUTHREQ_PROMPTING: msgID=75841.27656"
    assert one(line) == LogRecord(
        line=1,
        layout="compact",
        ts_ms=ms("2024-03-01T10:00:00.123+00:00"),
        process="tccd",
        pid=75697,
        subsystem="com.apple.TCC",
        category="access",
        message="AUTHREQ_PROMPTING: msgID=75841.27656",
        level="Df",
    )
    assert one(line, tz=ZoneInfo("Europe/Paris")).ts_ms == ms("2024-03-01T09:00:00.123+00:00")
    summer = one(line.replace("2024-03-01", "2024-07-01"), tz=ZoneInfo("Europe/Paris"))
    assert summer.ts_ms == ms("2024-07-01T08:00:00.123+00:00")  # DST: the zone's offset on that date
    error = one("2026-01-01 07:17:32.677 E  syspolicyd[527:85cf08] [com.apple.syspolicy.exec:default] Yara scan failed")
    assert (error.level, error.process, error.message) == ("E", "syspolicyd", "Yara scan failed")


def test_xcode_console_with_process_names_with_spaces_and_category_slots_s28_s31_s37() -> None:
    flightbox = one(
        "2020-02-13 17:54:49.634635-0800 FlightBox PFD[234:4214] Connection 95: failed to connect 1:50, reason -1"
    )
    assert (flightbox.layout, flightbox.process, flightbox.pid, flightbox.category) == (
        "xcode",
        "FlightBox PFD",
        234,
        None,
    )
    assert flightbox.message == "Connection 95: failed to connect 1:50, reason -1"
    assert flightbox.ts_ms == ms("2020-02-14T01:54:49.634+00:00")
    empty_slot = one(
        "2017-10-06 17:38:14.739934-0700 crafttest[70526:6739792] [] nw_connection_get_connected_socket 1 Connection "
        "has no connected handler"
    )
    assert (empty_slot.category, empty_slot.message[:34]) == (None, "nw_connection_get_connected_socket")
    category = one(
        "2023-06-23 02:27:32.386053+0400 ListsApp[98466:13695741] [connection] nw_socket_handle_socket_event "
        "[C1.1.2:2] Socket SO_ERROR [61: Connection refused]"
    )
    assert (category.subsystem, category.category) == (None, "connection")


def test_xcode_console_of_2016_has_no_zone_s32() -> None:
    record = one(
        "2016-10-17 09:11:08.526091 SolveApp[15547:200638] [] nw_endpoint_handler_path_change [3.1 ::1.8097 waiting "
        "path (satisfied)]"
    )
    assert (record.layout, record.ts_ms) == ("xcode", ms("2016-10-17T09:11:08.526+00:00"))


def test_short_layout_needs_a_zone_s08() -> None:
    record = one(
        "2026-07-17 08:46:23.400614-0400  LuLu: [com.objective-see.lulu:application] ERROR: for process 2994, "
        "'proc_pidpath' failed with 0 (errno: 2)"
    )
    assert (record.layout, record.process, record.pid, record.subsystem, record.category) == (
        "short",
        "LuLu",
        None,
        "com.objective-see.lulu",
        "application",
    )
    records, tally = split(["2019-10-31 17:28:15.589 [APP] startDeactivation: Tunnel: laptop-full"])  # WireGuard, s05
    assert (records, tally.unknown) == ([], 1)


def test_legacy_syslog_with_host_and_without_year_s30() -> None:
    line = (
        "Jun  3 12:02:43 Carter-Clevelands-iPhone-6 Artsy[3299] <Error>: tcp_connection_handle_connect_conditions_bad "
        "20 failed: 2 - Path was denied by NECP policy"
    )
    assert one(line, year=2016) == LogRecord(
        line=1,
        layout="legacy_syslog",
        ts_ms=ms("2016-06-03T12:02:43+00:00"),
        process="Artsy",
        pid=3299,
        subsystem=None,
        category=None,
        message="tcp_connection_handle_connect_conditions_bad 20 failed: 2 - Path was denied by NECP policy",
        level="Error",
    )
    assert one(line, today=date(2031, 1, 1)).ts_ms == ms("2031-06-03T12:02:43+00:00")  # no year given: this year's


def test_legacy_syslog_takes_the_year_of_the_files_dated_lines_and_device_relay_has_no_host_s38() -> None:
    records, _ = split(
        [
            "2019-02-01 00:00:00.000000+0000 0x1 Default 0x0 1 0 p: a dated line",
            "Oct 11 09:21:10 App(Network)[2146] <Notice>: nw_read_request_report [C9] Receive failed with error "
            '"Socket is not connected"',
        ]
    )
    relay = records[1]
    assert (relay.process, relay.pid, relay.level, relay.ts_ms) == (
        "App",
        2146,
        "Notice",
        ms("2019-10-11T09:21:10+00:00"),
    )


def test_keyvalue_export_s36() -> None:
    record = one(
        "[2024-12-09 20:41:55.920] subsystem=com.apple.network category=connection "
        "nw_resolver_get_scoped_interface_index [C1.1.1.1] Scoping resolution to en8 [23]"
    )
    assert (record.layout, record.process, record.subsystem, record.category, record.ts_ms) == (
        "keyvalue",
        None,
        "com.apple.network",
        "connection",
        ms("2024-12-09T20:41:55.920+00:00"),
    )
    assert record.message == "nw_resolver_get_scoped_interface_index [C1.1.1.1] Scoping resolution to en8 [23]"


# --- Console.app copies ------------------------------------------------------------------------------------------

FIELD_LINE = (
    "default\t14:38:55.854198+0530\tmynetworkextension\t[WebSocketClient.swift:332]  "
    '["Connection state changed to waiting(POSIXErrorCode(rawValue: 50): Network is down)"]'
)


def test_console_copy_type_time_process_message_s01() -> None:
    assert one(FIELD_LINE, date=date(2022, 10, 5)) == LogRecord(
        line=1,
        layout="console",
        ts_ms=ms("2022-10-05T09:08:55.854+00:00"),
        process="mynetworkextension",
        pid=None,
        subsystem=None,
        category=None,
        message='[WebSocketClient.swift:332]  ["Connection state changed to waiting(POSIXErrorCode(rawValue: 50): '
        'Network is down)"]',
        level="default",
    )


@pytest.mark.parametrize(
    ("line", "process", "subsystem", "message"),
    [
        pytest.param(
            "68373\tdefault\t15:33:47.825232-0800\tIPNExtension\topen-conn-track: timeout opening",
            "IPNExtension",
            None,
            "open-conn-track: timeout opening",
            id="s13-leading-number",
        ),
        pytest.param(
            "tunnel\t09:49:06.178653-0700\tFirezoneNetworkExtensionmacOS\tdev.firezone.firezone\tstopTunnel: Reason: x",
            "FirezoneNetworkExtensionmacOS",
            "dev.firezone.firezone",
            "stopTunnel: Reason: x",
            id="s46-category-and-subsystem",
        ),
        pytest.param(
            "dev.firezone.firezone.network-extension\t08:23:31.576873-0800\twire::api::recv: {}",
            "dev.firezone.firezone.network-extension",
            None,
            "wire::api::recv: {}",
            id="s47-process-time-message",
        ),
        pytest.param(
            "\u9ed8\u8ba4\t15:56:02.915163+0800\tPacketTunnel\tL [D] 0x11f611210 socks5 session run",
            "PacketTunnel",
            None,
            "L [D] 0x11f611210 socks5 session run",
            id="s34-localized-type",
        ),
        pytest.param(
            "com.apple.sx default 14:13:25.811827+0400 sysextd notifying client of activation conflict",
            "sysextd",
            "com.apple.sx",
            "notifying client of activation conflict",
            id="s06-spaces-for-tabs",
        ),
    ],
)
def test_console_copy_variants(line: str, process: str, subsystem: str | None, message: str) -> None:
    record = one(line, date=date(2024, 1, 1))
    assert (record.layout, record.process, record.subsystem, record.message) == ("console", process, subsystem, message)


def test_a_console_copy_without_a_time_column_is_unknown_s17_s35() -> None:
    records, tally = split(
        [
            "default\tnesessionmanager\tcom.apple.networkextension\tNESMVPNSession[x]: status changed to connected",
            "ne\tlog from OpenVPN Library: Frame=512/2048/512 mssfix-ctrl=1250",
        ]
    )
    assert (records, tally.unknown) == ([], 2)


def test_date_less_lines_take_the_date_of_dated_lines_before_or_after_them() -> None:
    dated = "2022-10-05 14:38:55.853753+0530 0x2f1a2 Default 0x0 1234 0 vpn: a dated line"
    before, _ = split([FIELD_LINE, dated])
    after, _ = split([dated, FIELD_LINE])
    assert before[0].ts_ms == after[1].ts_ms == ms("2022-10-05T09:08:55.854+00:00")
    assert [record.line for record in before] == [1, 2]  # the waiting line keeps its place


def test_date_less_lines_pass_midnight_when_their_time_runs_back() -> None:
    records, _ = split(
        ["default\t23:59:59.000000+0000\tp\tbefore midnight", "default\t00:00:01.000000+0000\tp\tafter"],
        date=date(2024, 2, 28),
    )
    assert [record.ts_ms for record in records] == [ms("2024-02-28T23:59:59+00:00"), ms("2024-02-29T00:00:01+00:00")]


def test_date_less_lines_with_no_date_anywhere_are_dated_today_and_counted() -> None:
    records, tally = split([FIELD_LINE], today=date(2030, 1, 2))
    assert records[0].ts_ms == ms("2030-01-02T09:08:55.854+00:00")
    assert tally.assumed_date == 1


# --- log --style ndjson and --style json ----------------------------------------------------------------------

NDJSON_RECORD = {
    "timestamp": "2022-10-05 14:38:55.853753+0530",
    "eventMessage": "nw_connection_report_state_with_handler_on_nw_queue [C221] reporting state waiting",
    "processImagePath": "/Library/SystemExtensions/X/mynetworkextension",
    "processID": 1234,
    "threadID": 192931,
    "subsystem": "com.apple.network",
    "category": "connection",
    "messageType": "Default",
    "eventType": "logEvent",
}
EXPECTED_NDJSON = LogRecord(
    line=2,
    layout="ndjson",
    ts_ms=ms("2022-10-05T09:08:55.853+00:00"),
    process="mynetworkextension",
    pid=1234,
    subsystem="com.apple.network",
    category="connection",
    message="nw_connection_report_state_with_handler_on_nw_queue [C221] reporting state waiting",
    level="Default",
)


def test_ndjson_with_its_banner_and_closing_count() -> None:
    records, tally = split(
        [
            'Filtering the log data using "process == "mynetworkextension""',
            json.dumps(NDJSON_RECORD).replace("/", "\\/"),
            '{"count":1,"finished":1}',
        ]
    )
    assert records == [EXPECTED_NDJSON]
    assert (tally.furniture, tally.unknown) == (2, 0)


def test_json_style_is_read_as_a_stream_one_record_per_object() -> None:
    pretty = json.dumps(
        [NDJSON_RECORD, {**NDJSON_RECORD, "eventMessage": "second", "backtrace": {"frames": [{}]}}], indent=2
    )
    lines = pretty.replace("[\n  {", "[{", 1).replace("\n  },\n  {", "\n},{").replace("\n  }\n]", "\n}]").split("\n")
    records, tally = split(["a line in no layout", *lines])
    assert [record.message for record in records] == [NDJSON_RECORD["eventMessage"], "second"]
    assert {record.layout for record in records} == {"json"}
    assert records[0].line == 2
    assert tally.unknown == 1  # the first line only


def test_a_json_array_on_one_line_gives_every_object() -> None:
    records, _ = split([json.dumps([NDJSON_RECORD, NDJSON_RECORD])])
    assert len(records) == 2


def test_a_json_object_cut_off_is_counted_and_the_next_record_is_still_read() -> None:
    records, tally = split(
        [
            "[{",
            '  "timestamp" : "2022-10-05 14:38:57.000000+0530",',
            "2022-10-05 14:38:58.000000+0530 0x2f1a3 Default 0x0 1234 0 vpn: the next record",
            '{"timestamp":"2022-10-05 14:38:59.000000+0530","eventMessage":"cut',
            json.dumps(NDJSON_RECORD),
        ]
    )
    assert [record.message for record in records] == ["the next record", NDJSON_RECORD["eventMessage"]]
    assert (tally.truncated, tally.unknown) == (2, 3)


def test_json_objects_that_are_not_log_records_are_unknown() -> None:
    records, tally = split(
        ['{"category":"tunnel","message":"Adapter.stop","severity":"DEBUG","time":"2024-04-22T16:08:05.241Z"}']
    )
    assert (records, tally.unknown) == ([], 1)


# --- cost caps and damaged input ------------------------------------------------------------------------------


def test_read_lines_skips_a_long_line_unread_and_counts_bad_bytes() -> None:
    data = b"first\n" + b"x" * (200 * 1024) + b"\nthird caf\xc3\n\xff\xfe\n"
    tally = LineTally()
    assert list(read_lines(io.BytesIO(data), tally, limit=1024)) == [
        "first\n",
        None,
        "third caf\ufffd\n",
        "\ufffd\ufffd\n",
    ]
    assert tally.undecodable_bytes == 3


def test_split_records_caps_lines_it_is_given_directly() -> None:
    records, tally = split([FIELD_LINE + "x" * 100, None], date=date(2022, 10, 5), line_limit=100)
    assert (records, tally.too_long, tally.lines) == ([], 2, 2)


def test_crlf_endings_a_bom_and_impossible_times() -> None:
    records, tally = split(
        [
            "\ufeff" + FIELD_LINE + "\r\n",
            "2022-02-30 10:00:00.000000+0000 0x1 Default 0x0 1 0 p: no such day",
            "2022-01-01 25:00:00.000000+0000 0x1 Default 0x0 1 0 p: no such hour",
            "2022-01-01 10:00:00.000000+2500 0x1 Default 0x0 1 0 p: no such zone",
            "1969-12-31 23:59:59.000000+0000 0x1 Default 0x0 1 0 p: before 1970",
        ],
        date=date(2022, 10, 5),
    )
    assert [record.message[-4:] for record in records] == ['n)"]']
    assert tally.unknown == 4
