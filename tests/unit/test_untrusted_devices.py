"""No device's clock or numbering can distort what the worker and replay count for it or for the others.

Each test is one way a device's own fields can be absurd: a clock a year ahead, a clock set back at a
reboot, a ``seq`` that jumps to 2^63 - 1, a heartbeat that claims billions of lost events.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netdown import wire
from netdown.detection import detector
from netdown.detection.detector import (
    MAX_SEQ_JUMP,
    DetectorParams,
    EpisodeChanged,
    EventsLost,
    SeqRestarted,
)
from netdown.stream.admission import FleetClock, check_clock
from netdown.stream.dlq import CLOCK_SKEW, Rejected
from netdown.stream.engine import Context, apply_events
from netdown.stream.labels import Labeler
from netdown.stream.replay_run import ReplayRun
from netdown.stream.spool_reports import SpoolReport, reported_loss
from netdown.testing import APP, T0_MS, Device

PARAMS = DetectorParams(window_ms=30_000, settle_ms=10_000, stuck_ms=60_000, lateness_ms=2_000, stale_ms=900_000)
YEAR_MS = 365 * 86_400_000
INT64_MAX = 2**63 - 1


def _healthy(device: Device, ts_ms: int) -> None:
    device.heartbeat(ts_ms)
    device.system_path(ts_ms + 1_000)
    device.probe(ts_ms + 2_000)


def test_an_event_further_ahead_than_the_bound_is_refused_with_clock_skew_and_one_within_it_is_not() -> None:
    device = Device("mac-clock-0001")
    now = T0_MS
    within = device.heartbeat(now + PARAMS.max_skew_ms)
    beyond = device.heartbeat(now + PARAMS.max_skew_ms + 1)
    assert check_clock(within, now, PARAMS.max_skew_ms) is None
    rejected = check_clock(beyond, now, PARAMS.max_skew_ms)
    assert rejected is not None
    assert (rejected.reason, rejected.field) == (CLOCK_SKEW, "ts_ms")
    assert check_clock(device.heartbeat(INT64_MAX), now, PARAMS.max_skew_ms) is not None
    assert check_clock(beyond, None, PARAMS.max_skew_ms) is None, "nothing to judge by: not refused"


def test_the_fleet_clock_judges_a_device_by_the_others_so_no_device_moves_its_own_reference() -> None:
    clock = FleetClock()
    clock.admit("mac-honest-0001", T0_MS)
    clock.admit("mac-liar-00002", T0_MS + YEAR_MS)  # admitted only if its reference allowed: here, to prove the point
    clock.admit("mac-honest-0003", T0_MS + 5_000)
    assert clock.reference_for("mac-liar-00002") == T0_MS + 5_000
    assert clock.reference_for("mac-honest-0001") == T0_MS + YEAR_MS
    assert clock.now_ms == T0_MS + YEAR_MS
    alone = FleetClock()
    alone.admit("mac-only-00001", T0_MS)
    assert alone.reference_for("mac-only-00001") is None
    assert alone.reference_for("mac-other-0002") == T0_MS


def test_replay_refuses_a_failure_a_year_ahead_so_it_opens_no_phantom_episode_and_loses_no_later_event() -> None:
    honest, jumper = Device("mac-honest-0001"), Device("mac-jumper-0002")
    _healthy(honest, T0_MS)
    _healthy(jumper, T0_MS)
    jumper.conn(T0_MS + 20_000 + YEAR_MS, enetdown=True)  # the clock jumps a year ahead for one event
    jumper.conn(T0_MS + 25_000, enetdown=True)  # back to the right time: a real failure with the system healthy
    jumper.conn(T0_MS + 40_000)  # and its recovery
    jumper.heartbeat(T0_MS + 45_000)
    run = ReplayRun(PARAMS)
    for event in sorted([*honest.events, *jumper.events], key=lambda e: e.seq):  # interleaved, jump mid-stream
        run.feed(event)
    run.finish()
    assert run.rejected == {CLOCK_SKEW: 1}
    incidents = [i for i in run.final_incidents() if i.device_id == "mac-jumper-0002"]
    assert [(i.opened_ms, i.closed_ms, i.close_reason) for i in incidents] == [
        (T0_MS + 25_000, T0_MS + 40_000, "recovered")
    ]
    facts = {f.device_id: f for f in run.final_device_facts()}
    assert facts["mac-jumper-0002"].last_seen_ms == T0_MS + 45_000, "last seen where its honest events put it"
    assert run.dropped["late"] == 0


def test_in_replay_one_device_ahead_of_the_others_does_not_make_their_reordering_count_as_lost() -> None:
    ahead, shuffled = Device("mac-ahead-00001"), Device("mac-shuffle-0002")
    _healthy(shuffled, T0_MS)
    late = shuffled.probe(T0_MS + 5_000)
    following = shuffled.probe(T0_MS + 6_000)
    shuffled.events.remove(late)
    # The other device's clock runs 4 minutes ahead (within the skew bound, so admitted), arriving in between;
    # with one clock for the whole input, the shuffled device's next event would find its gap open for 4 minutes.
    next_one = shuffled.heartbeat(T0_MS + 7_000)
    shuffled.events.remove(next_one)
    arrivals = [*shuffled.events, ahead.heartbeat(T0_MS + 240_000), next_one, late]
    assert following in arrivals
    run = ReplayRun(PARAMS)
    for event in arrivals:
        run.feed(event)
    run.finish()
    assert run.lost == 0, "the shuffled device's gap was filled within L of its own time"
    assert run.dropped["late"] == 0


def test_a_reboot_starts_the_device_time_afresh_even_when_its_clock_went_back() -> None:
    device = Device("mac-reboot-0001")
    _healthy(device, T0_MS + YEAR_MS // 12)  # a clock a month ahead (admitted: no other device to judge by)
    device.conn(T0_MS + YEAR_MS // 12 + 20_000, enetdown=True)  # opens an episode at the wrong time
    device.reboot()  # the clock is set right at boot
    _healthy(device, T0_MS)
    device.conn(T0_MS + 20_000, enetdown=True)
    device.conn(T0_MS + 30_000)
    run = ReplayRun(PARAMS)
    run.feed_all(device.events)
    assert run.dropped["late"] == 0, "the new boot's events are not late against the old boot's clock"
    assert [(i.opened_ms, i.close_reason) for i in run.final_incidents()] == [
        (T0_MS + 20_000, "recovered"),
        (T0_MS + YEAR_MS // 12 + 20_000, "reboot"),
    ]


def test_a_seq_jump_to_int64_max_is_a_new_numbering_not_nine_quintillion_lost_events() -> None:
    device = Device("mac-seq-000001")
    _healthy(device, T0_MS)
    device.seq = INT64_MAX - 2
    device.conn(T0_MS + 20_000, enetdown=True)
    device.conn(T0_MS + 30_000)
    state = detector.new_device(device.device_id)
    out = [t for event in device.events for t in detector.step(state, event, T0_MS + 60_000, PARAMS)]
    out += detector.flush(state, PARAMS)
    assert [t for t in out if isinstance(t, SeqRestarted)] == [SeqRestarted(previous=(1, 3), seq=INT64_MAX - 1)]
    assert sum(t.count for t in out if isinstance(t, EventsLost)) == 0
    changes = [t.change for t in out if isinstance(t, EpisodeChanged)]
    assert changes == ["opened", "closed"], "the new numbering's events are applied at once, in order"


def test_a_gap_up_to_the_bound_is_lost_events_and_one_past_it_is_a_new_numbering() -> None:
    for jump, lost, restarts in ((MAX_SEQ_JUMP, MAX_SEQ_JUMP - 1, 0), (MAX_SEQ_JUMP + 1, 0, 1)):
        device = Device(f"mac-gap-{jump:07d}")
        _healthy(device, T0_MS)
        device.seq += jump - 1
        device.heartbeat(T0_MS + 10_000)
        run = ReplayRun(PARAMS)
        run.feed_all(device.events)
        assert (run.lost, run.seq_restarts) == (lost, restarts)


def _heartbeat(seq: int, *, bound: int = 0, corrupt: int = 0, write_failed: int = 0) -> wire.HeartbeatEvent:
    device = Device("mac-spool-0001", seq=seq - 1)
    event = device.heartbeat(T0_MS, lost=wire.SpoolLoss(bound=bound, corrupt=corrupt, write_failed=write_failed))
    assert isinstance(event, wire.HeartbeatEvent)
    return event


def test_spool_losses_count_what_grew_since_the_last_report_bounded_by_the_events_numbered_since() -> None:
    first, counted = reported_loss(None, _heartbeat(100, bound=50))
    assert (first, counted) == (SpoolReport(seq=100, lost=(50, 0, 0)), {}), "the first report is a baseline"
    second, counted = reported_loss(first, _heartbeat(200, bound=80, write_failed=5))
    assert counted == {"bound": 30, "write_failed": 5}
    _, counted = reported_loss(second, _heartbeat(210, bound=INT64_MAX))
    assert counted == {"bound": 10}, "no more than the 10 events numbered since the last report"
    assert reported_loss(second, _heartbeat(200, bound=999)) == (second, {}), "the same heartbeat again"
    fresh, counted = reported_loss(second, _heartbeat(3, corrupt=1))
    assert (fresh, counted) == (SpoolReport(seq=3, lost=(0, 1, 0)), {}), "a new spool: a new baseline"


def test_the_worker_counts_reported_spool_losses_once_even_when_the_heartbeats_are_delivered_twice() -> None:
    device = Device("mac-spool-0002")
    first = device.heartbeat(T0_MS, lost=wire.SpoolLoss(bound=7))
    device.conn(T0_MS + 1_000)
    device.heartbeat(T0_MS + 2_000, lost=wire.SpoolLoss(bound=8, write_failed=1))
    # The agent died before its acknowledgement and resends from there: the first heartbeat comes again,
    # after the second, and must not set the baseline back (the third would then count its growth twice).
    arrivals = [*device.events, first, device.heartbeat(T0_MS + 3_000, lost=wire.SpoolLoss(bound=9, write_failed=1))]
    context = Context(params=PARAMS, labeler=Labeler.from_apps([APP]))
    events = [(event, offset) for offset, event in enumerate(arrivals)]
    outcome = apply_events(None, events, partition=0, now_ms=T0_MS + 4_000, context=context)
    assert outcome is not None
    assert outcome.delta.agent_lost == {"bound": 2, "write_failed": 1}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2 * 300_000)), max_size=40))
def test_replay_refuses_exactly_the_events_ahead_of_every_other_device_by_more_than_the_bound(
    arrivals: list[tuple[int, int]],
) -> None:
    """The replay's fast path and its fleet clock agree with the rule: judged by the others' latest admitted time."""
    params = DetectorParams(max_skew_ms=300_000)
    run = ReplayRun(params)
    admitted: dict[str, int] = {}
    for seq, (device, offset) in enumerate(arrivals, start=1):
        device_id = f"mac-prop-{device:05d}"
        event = Device(device_id, seq=seq - 1).heartbeat(T0_MS + offset)
        others = [ts for other, ts in admitted.items() if other != device_id]
        refused = bool(others) and event.ts_ms > max(others) + params.max_skew_ms
        assert isinstance(run.offer(event), Rejected) == refused
        if not refused:
            admitted[device_id] = max(admitted.get(device_id, 0), event.ts_ms)
