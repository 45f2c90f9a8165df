"""Properties of the detector over generated device histories, and its behaviour at the edges of time.

The scenario tables pin exact outcomes; these check what must hold for *any* history: delivery order
within L, duplicates and splitting the input never change the episodes.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdown import wire
from netdown.detection.detector import (
    DetectorParams,
    EpisodeChanged,
    EventApplied,
    EventDropped,
    SignalClass,
    SignalClassified,
    flush,
    is_affected,
    is_stuck,
    new_device,
    open_episodes,
    step,
)
from netdown.stream.replay_run import ReplayRun
from netdown.testing import sample_event

T0_MS = 1_732_540_800_000
PARAMS = DetectorParams()

# The vocabulary of a device's history: what the system sees, what the app sees, reboots.
_KINDS: dict[str, tuple[str, dict[str, Any]]] = {
    "system_wifi": ("path", {"observer": "system", "app": None, "status": "satisfied", "reason": None}),
    "system_down": ("path", {"observer": "system", "app": None, "status": "unsatisfied", "reason": "no_route"}),
    "system_tunnel_only": (
        "path",
        {
            "observer": "system",
            "app": None,
            "status": "satisfied",
            "reason": None,
            "interfaces": [{"name": "utun3", "type": "tunnel"}],
        },
    ),
    "probe_ok": ("probe", {"ok": True}),
    "probe_fail": ("probe", {"ok": False}),
    "enetdown": ("conn", {"state": "waiting"}),
    "ready": ("conn", {"state": "ready", "error": None}),
    "necp_denied": ("path", {"observer": "app", "status": "unsatisfied", "reason": "policy_denied"}),
    "app_satisfied": ("path", {"observer": "app", "status": "satisfied", "reason": None}),
    "heartbeat": ("heartbeat", {}),
    "reboot": ("heartbeat", {}),
}

histories = st.lists(
    st.tuples(st.integers(min_value=0, max_value=90_000), st.sampled_from(sorted(_KINDS))), min_size=1, max_size=40
)


def _history(steps: list[tuple[int, str]], device: str = "mac-prop-0001") -> list[wire.Event]:
    """Wire events of one device from (gap before it in ms, kind) pairs; seq contiguous, in time order."""
    events: list[wire.Event] = []
    ts, boot = T0_MS, 1
    for index, (gap_ms, kind) in enumerate(steps):
        ts += gap_ms
        boot += kind == "reboot"
        event_type, body = _KINDS[kind]
        raw = sample_event(
            event_type,  # type: ignore[arg-type]
            **body,
            event_id=f"{device}-{index}",
            device_id=device,
            boot_id=f"boot-{boot}",
            seq=index,
            ts_ms=ts,
        )
        decoded = wire.decode(msgspec.json.encode(raw))
        assert not isinstance(decoded, wire.Rejection), decoded
        events.append(decoded)
    return events


def _outcome(events: list[wire.Event]) -> tuple[list[Any], dict[str, int], int]:
    run = ReplayRun(PARAMS)
    run.feed_all(events)
    return run.final_incidents(), dict(run.signals), run.lost


@settings(max_examples=300, deadline=None)
@given(steps=histories, seed=st.integers(0, 2**32 - 1))
def test_delivery_order_within_lateness_never_changes_the_outcome(steps: list[tuple[int, str]], seed: int) -> None:
    events = _history(steps)
    rng = random.Random(seed)
    shuffled = sorted(events, key=lambda event: event.ts_ms + rng.uniform(0, PARAMS.lateness_ms / 2))
    assert _outcome(shuffled) == _outcome(events)


@settings(max_examples=200, deadline=None)
@given(steps=histories, seed=st.integers(0, 2**32 - 1))
def test_redelivered_events_never_change_the_outcome(steps: list[tuple[int, str]], seed: int) -> None:
    events = _history(steps)
    rng = random.Random(seed)
    redelivered = list(events)
    for event in rng.sample(events, k=rng.randint(1, len(events))):
        redelivered.insert(min(len(redelivered), redelivered.index(event) + rng.randint(1, 4)), event)
    assert _outcome(redelivered) == _outcome(events)


@settings(max_examples=200, deadline=None)
@given(steps=histories)
def test_every_failure_signal_is_classified_exactly_once(steps: list[tuple[int, str]]) -> None:
    events = _history(steps)
    signals = {e.event_id for e in events if isinstance(e, wire.ConnEvent) and e.error is not None} | {
        e.event_id
        for e in events
        if isinstance(e, wire.PathEvent) and e.observer == "app" and e.reason == "policy_denied"
    }
    run = ReplayRun(PARAMS)
    classified = [t.event_id for e in events for t in run.feed(e) if isinstance(t, SignalClassified)]
    classified += [t.event_id for t in run.finish() if isinstance(t, SignalClassified)]
    assert sorted(classified) == sorted(signals)


@settings(max_examples=200, deadline=None)
@given(steps=histories)
def test_episodes_never_overlap_for_one_app_and_close_after_they_open(steps: list[tuple[int, str]]) -> None:
    incidents = _outcome(_history(steps))[0]
    for earlier, later in itertools.pairwise(incidents):
        assert earlier.closed_ms is not None, "a second episode opened while the first was open"
        assert earlier.closed_ms <= later.opened_ms
    for incident in incidents:
        assert incident.closed_ms is None or incident.closed_ms >= incident.opened_ms


def test_in_order_events_are_applied_at_once_after_the_devices_first_event() -> None:
    events = _history([(0, "system_wifi"), (20_000, "enetdown"), (30_000, "ready")])
    state = new_device("mac-prop-0001")
    first = step(state, events[0], now_ms=events[0].ts_ms, params=PARAMS)
    assert first == []
    assert state.frontier_ms is None, "the device's first event waits: an earlier one may still come"
    opened = step(state, events[1], now_ms=events[0].ts_ms + PARAMS.lateness_ms, params=PARAMS)
    assert [type(t) for t in opened] == [EventApplied, EventApplied, SignalClassified, EpisodeChanged]
    assert [t.event for t in opened if isinstance(t, EventApplied)] == events[:2]
    assert is_affected(state)
    assert [episode.opened_ms for episode in open_episodes(state)] == [events[1].ts_ms]
    closed = step(state, events[2], now_ms=events[0].ts_ms + PARAMS.lateness_ms + 1, params=PARAMS)
    assert [t.change for t in closed if isinstance(t, EpisodeChanged)] == ["closed"]
    assert not is_affected(state)


def test_a_gap_in_seq_holds_later_events_until_lateness_passes_in_processing_time() -> None:
    events = _history([(0, "system_wifi"), (20_000, "probe_ok"), (1_000, "enetdown")])
    state = new_device("mac-prop-0001")
    step(state, events[0], now_ms=0, params=PARAMS)
    held = step(state, events[2], now_ms=1, params=PARAMS)  # seq 2 before seq 1
    assert held == []
    released = step(state, events[1], now_ms=PARAMS.lateness_ms, params=PARAMS)
    assert [t.signal_class for t in released if isinstance(t, SignalClassified)] == [SignalClass.EPISODE]


def test_stuck_device_is_reported_once_its_episode_passes_t() -> None:
    events = _history([(0, "system_wifi"), (20_000, "enetdown"), (PARAMS.stuck_ms + 1, "probe_ok")])
    state = new_device("mac-prop-0001")
    transitions = [t for e in events for t in step(state, e, now_ms=10**15, params=PARAMS)]
    assert [t.change for t in transitions if isinstance(t, EpisodeChanged)] == ["opened", "stuck"]
    assert is_stuck(state)
    assert flush(state, PARAMS) == []


def test_events_of_a_past_boot_are_dropped_as_late() -> None:
    events = _history([(0, "system_wifi"), (1_000, "reboot"), (1_000, "probe_ok")])
    state = new_device("mac-prop-0001")
    for event in events:
        step(state, event, now_ms=10**15, params=PARAMS)
    flush(state, PARAMS)
    assert state.boot_id == "boot-2"
    stale = msgspec.structs.replace(events[0], event_id="from-the-old-boot", ts_ms=events[2].ts_ms + 1, seq=99)
    assert step(state, stale, now_ms=10**15, params=PARAMS) == [
        EventDropped(reason="late", event_id="from-the-old-boot")
    ]


@pytest.mark.parametrize("field", ["window_ms", "settle_ms", "stuck_ms", "lateness_ms", "stale_ms"])
def test_parameters_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DetectorParams(**{field: 0})
