"""The detector: ENETDOWN with a healthy interface, per device, in event time. Pure: no clock, no I/O.

The same functions run in the Faust worker, in ``netdown-stream replay`` and in the tests. Callers own
one :class:`DeviceState` per device, feed it events with :func:`step`, let processing time pass with
:func:`tick` (a live worker, for devices gone quiet) and end an input with :func:`flush`; each
returns the :data:`Transition` s it caused, in the order they happened (events applied, classified
failure signals, episode changes, lost and dropped events). What a device *is* (its release, its
heartbeat facts, its history) is not the detector's business: :mod:`netdown.detection.inventory` follows
the applied events and episode changes to build the device facts and the incident records. ``now_ms`` is the caller's
processing clock (wall time in the worker, the input's own time in replay); the detector's judgements
use only event time (``ts_ms``), so the same events give the same episodes whatever their arrival.

How events are ordered (docs/design.md, "Detection semantics"; docs/detection.md):

* Each device's events pass through a reorder buffer. An event is applied at once when it is the
  next ``seq`` after the last applied one (a well-behaved agent's stream costs no delay); otherwise it
  waits until the device's own event time has moved ``lateness_ms`` (L) past it, or it has waited L of
  processing time, or the input ends. Applied in ``ts_ms`` order, shuffled delivery within L gives the
  in-order result.
* An event older than the applied frontier minus L is too late to change anything and is dropped
  (``EventDropped(late)``); so is a repeated ``event_id`` (``EventDropped(duplicate)``).
* System path and probe history is kept for L + W + G (and the latest path before that), so a failure
  signal is always judged against the system evidence at its own time, not at the time it is applied.

Classification of a failure signal at t (docs/detection.md, "Classification of a signal"). The system
path is a state that holds until it changes: the agent emits it on every change and again with every
heartbeat, so the latest path at or before t is the system's view at t as long as no system path was
lost in between: each event names the latest system path its agent numbered (``path_seq``); from an
agent that does not, a ``seq`` missing in between may have been one (:func:`_no_path_lost`).

1. no system path at or before t: insufficient evidence;
2. a probe in [t - W, t] failed with no later ok probe in that span: outage;
3. the latest path is not *current*: older than W, no ok probe in [t - W, t] with no system path lost
   between it and the signal, and either older than R (``path_max_age_ms``) or a system path may have
   been lost between it and the signal (it may have been the change): insufficient evidence;
4. the latest path is not satisfied on a wifi/wired/cellular interface: outage;
5. the system path became healthy less than G before t: transient, unless at that change + G the
   system is still healthy and the app has not recovered, in which case it is an episode after all
   (opened at t: the failure started then);
6. otherwise: episode; it opens unless one is already open for that app, or a recovery of that app
   later than t has been seen (a stale failure never reopens).
"""

from __future__ import annotations

import bisect
import enum
import hashlib
import heapq
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias, get_args

import msgspec

from netdown import wire
from netdown.detection.incident import CloseReason

__all__ = [
    "DROP_REASONS",
    "MAX_APPS",
    "MAX_BUFFER_BYTES",
    "MAX_LOST_RANGES",
    "MAX_PROBES",
    "MAX_SEEN_IDS",
    "MAX_SEQ_JUMP",
    "MAX_SYSTEM_PATHS",
    "MAX_TRANSIENTS",
    "DetectorParams",
    "DeviceState",
    "DropReason",
    "Episode",
    "EpisodeChanged",
    "EventApplied",
    "EventDropped",
    "EventsLost",
    "SeqRestarted",
    "SignalClass",
    "SignalClassified",
    "Transition",
    "flush",
    "is_affected",
    "is_stuck",
    "new_device",
    "next_due_ms",
    "open_episodes",
    "step",
    "tick",
]

ENETDOWN: Final = "ENETDOWN"
PHYSICAL_INTERFACES: Final = frozenset({"wifi", "wired", "cellular"})
_MAX_PAST_BOOTS: Final = 8
_MAX_SEQ_GAPS: Final = 64
_SEEN_PRUNE_MIN: Final = 64

# --- bounds on what one device's input can make its state hold ---
#
# A device's state is stored whole in the worker's table and its Kafka changelog, one message per
# device, and Kafka refuses messages over 1 MB: a state that input can grow without bound (a buggy
# or hostile agent sending thousands of events within L) would crash the worker on the changelog
# write, and again after every restart. So every collection that grows with the event count has a
# bound, far above what a normal device does (a few events a second at most, a few system-path
# changes a minute) and small enough that the worst case, every collection full of the longest
# strings the wire contract allows, encodes to a quarter of that (netdown.stream.record.STATE_BUDGET_BYTES;
# tests/unit/test_detector_bounds.py builds that state and measures it). What a bound costs is said
# next to it; docs/detection.md ("Bounds") lists them for operators.

MAX_SEEN_IDS: Final = 2048
"""Event ids remembered for the duplicate check (18 bytes each, 36 KiB). Past it the oldest by event time
are forgotten: a repeat of one of those within L is no longer recognised, and is applied again."""

MAX_BUFFER_BYTES: Final = 64 * 1024
"""Encoded size of the reorder buffer. Past it the earliest buffered events are released as if their wait
had expired: a gap before them is counted lost after L, and an event filling it is dropped as late
(or applied out of order) exactly as after the lateness timeout. Measured in bytes, not events: one
event may be 64 KiB (wire.MAX_EVENT_BYTES)."""

MAX_SYSTEM_PATHS: Final = 64
"""System path evaluations kept (up to 290 bytes each). The agent emits one per change; past the bound
the oldest are forgotten, so a late signal older than every path kept is judged without evidence."""

MAX_PROBES: Final = 512
"""Probe results kept (11 bytes each); past the bound the oldest are forgotten."""

MAX_APPS: Final = 32
"""Apps with state (an open episode, failures waiting out G, or a recent recovery; up to 900 bytes each).
When full, apps that only remember a recovery make room (the oldest first); if none does, a new
app's signal is still classified and counted, but opens no episode and waits for nothing."""

MAX_SEQ_JUMP: Final = 100_000
"""The largest ``seq`` jump (up or down) read as lost events; a larger one starts a new numbering (SeqRestarted),
so a single event can add at most this to the lost count (seq 0 then 2^63 - 1 would otherwise count 9.2e18).
100,000 is a month of a default agent's events (~3,200 a day) and most of what its default 64 MiB spool
holds. A longer honest gap (an agent offline for months whose spool dropped its oldest events) is still
counted: the agent reports what its spool dropped in every heartbeat (``spool.lost``)."""

MAX_LOST_RANGES: Final = 64
"""Ranges of ``seq`` numbers counted lost that are remembered (up to 20 bytes each), so a path older than W is
not taken as current across a loss (rule 3). Past the bound two merge into one range: the numbers
between them count as missing too, so the cost is that a path older than W before them needs fresh evidence
(a probe or a path within W), never that a lost change goes unnoticed. The two nearest in ``seq`` merge, so the
fewest numbers that did arrive are taken for missing."""

MAX_TRANSIENTS: Final = 64
"""Failure signals waiting out G, over all apps (up to 290 bytes each). Past it a new one is classified
transient at once: the earlier signals of that run already decide whether an episode opens."""


@dataclass(frozen=True)
class DetectorParams:
    """The detection parameters (docs/detection.md), in milliseconds."""

    window_ms: int = 30_000  # W: how far back fresh system evidence (a path, a probe) counts
    settle_ms: int = 10_000  # G: how long a system path must hold before a failure is not transient
    stuck_ms: int = 300_000  # T: an episode open longer than this is stuck
    lateness_ms: int = 120_000  # L: how long a signal waits for the evidence that covers it
    stale_ms: int = 900_000  # S: a device without events for this long is no longer active
    # R: how long the latest system path stays the system's view with no system path lost since it. The agent re-emits
    # its path with every heartbeat (at most 300 s apart), so three heartbeats: one lost or late refresh never
    # makes a stable healthy path stale, while a path source that died is noticed within a quarter of an hour.
    path_max_age_ms: int = 900_000
    # F: how far ahead of the processing clock an event's time may be (netdown.stream.admission). NTP keeps a
    # Mac within a second; 5 minutes forgives a badly set clock while bounding what a wrong one can do.
    max_skew_ms: int = 300_000
    # How long a device that sent nothing is remembered: then its record is evicted (its counts are kept).
    retention_ms: int = 30 * 86_400_000

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")


class SignalClass(enum.StrEnum):
    """How an app-side failure signal was judged; a bounded metric label."""

    EPISODE = "episode"
    OUTAGE = "outage"
    TRANSIENT = "transient"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"


class SignalClassified(msgspec.Struct, frozen=True, kw_only=True):
    """A failure signal's final class (each signal is classified exactly once)."""

    app: str
    signal_class: SignalClass
    ts_ms: int
    event_id: str


class Episode(msgspec.Struct, frozen=True, kw_only=True):
    """One episode of an app as of now: what detection says of it (the incident record adds the device's facts)."""

    app: str
    opened_ms: int
    evidence: tuple[str, ...]  # the failure signal's event_id, then the system path's that made it an episode
    stuck: bool = False
    closed_ms: int | None = None
    close_reason: CloseReason | None = None


class EpisodeChanged(msgspec.Struct, frozen=True, kw_only=True):
    """An episode opened, became stuck, or closed; ``episode`` is how it stands after the change."""

    change: Literal["opened", "stuck", "closed"]
    episode: Episode


class EventApplied(msgspec.Struct, frozen=True, gc=False):
    """An event took effect on the state (not dropped, no longer buffered), in application order: the
    transitions after it in a list happened with it applied. How the inventory follows a device's release
    and heartbeat facts as of each episode change, whatever order the events arrived in."""

    event: wire.Event


class EventsLost(msgspec.Struct, frozen=True, kw_only=True):
    """``seq`` numbers that never arrived within L: events lost between agent and worker."""

    count: int


DropReason: TypeAlias = Literal["duplicate", "late"]
# Every reason a valid event is dropped for: the metric's and the replay summary's keys.
DROP_REASONS: Final[tuple[DropReason, ...]] = get_args(DropReason)


class EventDropped(msgspec.Struct, frozen=True, kw_only=True):
    """A valid event that changed nothing: a repeated ``event_id``, or too late to matter."""

    reason: DropReason
    event_id: str


class SeqRestarted(msgspec.Struct, frozen=True, kw_only=True):
    """``seq`` jumped by more than MAX_SEQ_JUMP: a new numbering (a reinstalled agent, a hostile one), not a loss."""

    previous: tuple[int, int]  # the lowest and highest seq of the numbering left behind
    seq: int


Transition: TypeAlias = EventApplied | SignalClassified | EpisodeChanged | EventsLost | EventDropped | SeqRestarted

# Classes whose signal needs the app's state: an episode to open, a transient to wait out.
_STATEFUL: Final = frozenset({SignalClass.EPISODE, SignalClass.TRANSIENT})


# --- per-device state (msgspec Structs so the worker can store it in a changelogged table) ---


class _SystemPath(msgspec.Struct, array_like=True, gc=False):
    """One system path evaluation, when the healthy run it belongs to began (if healthy), its ``seq`` and the
    ``path_seq`` it carried (the seq of the system path the agent numbered before it, if the agent says).

    ``seq`` is None in a record stored before paths kept it: such a path is current only within W or with
    a probe (rule 3), as if a gap followed it.
    """

    ts_ms: int
    healthy: bool
    event_id: str
    run_start_ms: int = 0
    seq: int | None = None
    path_seq: int | None = None


class _Probe(msgspec.Struct, array_like=True, gc=False):
    """One probe result, its ``seq`` (None in a record stored before probes kept it: it vouches for nothing) and
    its ``path_seq``."""

    ts_ms: int
    ok: bool
    seq: int | None = None
    path_seq: int | None = None


class _Pending(msgspec.Struct, array_like=True, gc=False):
    """An event in the reorder buffer, with the processing time it arrived at and its encoded size."""

    ts_ms: int
    seq: int
    arrival_ms: int
    event: wire.Event
    size: int = 0  # bytes it adds to the stored state (see MAX_BUFFER_BYTES)


class _Transient(msgspec.Struct, array_like=True, gc=False):
    """A failure signal within G of a system change, waiting to see if the failure holds."""

    ts_ms: int
    event_id: str
    deadline_ms: int
    seq: int = 0  # the signal's numbers: what rule 3 judges the path's currency against at the deadline
    path_seq: int | None = None


class _Episode(msgspec.Struct):
    opened_ms: int
    evidence: tuple[str, ...]
    stuck: bool = False


class _AppState(msgspec.Struct):
    episode: _Episode | None = None
    last_recovery_ms: int | None = None
    transients: list[_Transient] = msgspec.field(default_factory=list)


class _SeqGap(msgspec.Struct, array_like=True, gc=False):
    """Missing ``seq`` numbers lo..hi, first noticed at processing time ``since_ms``."""

    lo: int
    hi: int
    since_ms: int


class _SeqRange(msgspec.Struct, array_like=True, gc=False):
    """``seq`` numbers lo..hi counted lost: a system path before them may have been followed by a lost change."""

    lo: int
    hi: int


class DeviceState(msgspec.Struct, kw_only=True):
    """Everything the detector knows about one device, and nothing more: what detection needs. Mutated in
    place by step, tick and flush. (What the device-facts record reports besides, its release and history,
    is the inventory's: :class:`netdown.detection.inventory.Inventory`.)
    """

    device_id: str
    boot_id: str | None = None
    past_boots: list[str] = msgspec.field(default_factory=list)
    frontier_ms: int | None = None  # latest event time applied
    max_ts_ms: int | None = None  # latest event time seen
    last_seen_arrival_ms: int | None = None
    last_applied_seq: int | None = None
    min_seq: int | None = None
    max_seq: int | None = None
    seq_gaps: list[_SeqGap] = msgspec.field(default_factory=list)
    lost_seqs: list[_SeqRange] = msgspec.field(default_factory=list)  # gaps counted lost, while a path may need them
    buffer: list[_Pending] = msgspec.field(default_factory=list)
    buffer_bytes: int = 0  # the sum of the buffered events' sizes
    seen: dict[int, int] = msgspec.field(default_factory=dict)  # event_id digest (_id_key) -> ts_ms, ids within L
    seen_prune_at: int = 64
    next_prune_ms: int = 0  # pruning is amortised: at most once per L of event time
    system_paths: list[_SystemPath] = msgspec.field(default_factory=list)
    probes: list[_Probe] = msgspec.field(default_factory=list)
    apps: dict[str, _AppState] = msgspec.field(default_factory=dict)


_PENDING_ENCODER: Final = msgspec.msgpack.Encoder()
# Bound once: _id_key runs for every event, and looking these up each time cost about a tenth of it.
_BLAKE2B: Final = hashlib.blake2b
_FROM_BYTES: Final = int.from_bytes
# Where a buffered event is encoded to measure it: reused, so measuring allocates no bytes object per event.
_PENDING_SCRATCH: Final = bytearray()


def new_device(device_id: str) -> DeviceState:
    """A device the detector has not seen before."""
    return DeviceState(device_id=device_id)


def step(state: DeviceState, event: wire.Event, now_ms: int, params: DetectorParams) -> list[Transition]:
    """Take one decoded event of ``state``'s device, arriving at processing time ``now_ms``."""
    out: list[Transition] = []
    # Noted before the duplicate check: an agent that re-reads a source after a crash re-sends an event
    # with its original event_id under a new seq, and that seq must not look lost.
    if state.max_seq is not None and event.seq == state.max_seq + 1:
        state.max_seq = event.seq  # the common case, without a call
    else:
        _note_seq(state, event.seq, now_ms, params, out)
    id_key = _id_key(event.event_id)
    if id_key in state.seen:
        out.append(EventDropped(reason="duplicate", event_id=event.event_id))
        return out
    state.last_seen_arrival_ms = now_ms
    # Late means late for its boot: a new boot starts the device's event time afresh (a clock set right at
    # boot, or wrong before it, never makes the new boot's events look late against the old boot's).
    if event.boot_id in state.past_boots or (
        state.frontier_ms is not None
        and event.ts_ms < state.frontier_ms - params.lateness_ms
        and event.boot_id == state.boot_id
    ):
        out.append(EventDropped(reason="late", event_id=event.event_id))
        return out
    state.seen[id_key] = event.ts_ms
    if len(state.seen) > MAX_SEEN_IDS:
        _forget_oldest_ids(state)
    if state.max_ts_ms is None or event.ts_ms > state.max_ts_ms:
        state.max_ts_ms = event.ts_ms
    if not state.buffer and state.last_applied_seq is not None and event.seq == state.last_applied_seq + 1:
        _apply(state, event, params, out)  # what _release would do at once, without the buffer's cost
    else:
        _buffer(state, _Pending(event.ts_ms, event.seq, now_ms, event))
        _release(state, now_ms, params, out, everything=False)
    if state.seq_gaps:
        _finalise_gaps(state, now_ms, params, out, everything=False)
    return out


def tick(state: DeviceState, now_ms: int, params: DetectorParams) -> list[Transition]:
    """Let processing time pass with no event: release events that waited L, count gaps open for L as lost.

    The worker calls it for devices that went quiet (see :func:`next_due_ms`); without it their last
    events would wait in the buffer until the device's next event.
    """
    out: list[Transition] = []
    _release(state, now_ms, params, out, everything=False)
    if state.seq_gaps:
        _finalise_gaps(state, now_ms, params, out, everything=False)
    return out


def next_due_ms(state: DeviceState, params: DetectorParams) -> int | None:
    """The processing time at which :func:`tick` will next change ``state``, or None if it never will."""
    candidates = [gap.since_ms + params.lateness_ms for gap in state.seq_gaps]
    if state.buffer:
        candidates.append(state.buffer[0].arrival_ms + params.lateness_ms)
    return min(candidates, default=None)


def flush(state: DeviceState, params: DetectorParams) -> list[Transition]:
    """End of input: apply everything buffered, settle pending transients, count open gaps as lost."""
    out: list[Transition] = []
    _release(state, 0, params, out, everything=True)
    if state.frontier_ms is not None:
        _settle_transients(state, state.frontier_ms, params, out, everything=True)
    _finalise_gaps(state, 0, params, out, everything=True)
    return out


def _id_key(event_id: str) -> int:
    """The duplicate check's key for an event_id: a stable 64-bit digest instead of the string.

    Stored in every device record and its changelog, a 36-character UUID costs ~38 bytes and a
    string object per id; the digest costs 9 bytes (the ids were two thirds of a record's bytes).
    Two ids within one device's window of L sharing a digest (a duplicate wrongly dropped) has a
    probability of about n^2 / 2^65 for n ids: nil.
    """
    return _FROM_BYTES(_BLAKE2B(event_id.encode(), digest_size=8).digest(), "big")


def is_affected(state: DeviceState) -> bool:
    """The device has an open episode for some app."""
    return any(app.episode is not None for app in state.apps.values())


def is_stuck(state: DeviceState) -> bool:
    """The device has an open episode that has been open longer than T."""
    return any(app.episode is not None and app.episode.stuck for app in state.apps.values())


def open_episodes(state: DeviceState) -> list[Episode]:
    """The device's open episodes, as of now."""
    return [_episode(name, app.episode) for name, app in state.apps.items() if app.episode is not None]


# --- ordering ---


def _buffer_order(pending: _Pending) -> tuple[int, int]:
    return (pending.ts_ms, pending.seq)


def _buffer(state: DeviceState, pending: _Pending) -> None:
    """Insert in (ts, seq) order; an event later than the tail (the usual case while a gap is open) is appended."""
    _PENDING_ENCODER.encode_into(pending, _PENDING_SCRATCH)
    pending.size = len(_PENDING_SCRATCH)
    state.buffer_bytes += pending.size
    buffer = state.buffer
    if not buffer or (buffer[-1].ts_ms, buffer[-1].seq) < (pending.ts_ms, pending.seq):
        buffer.append(pending)
    else:
        bisect.insort(buffer, pending, key=_buffer_order)


def _release(
    state: DeviceState, now_ms: int, params: DetectorParams, out: list[Transition], *, everything: bool
) -> None:
    """Apply buffered events, oldest first, while the head is due (see the module docstring), or while the
    buffer is over its bound (MAX_BUFFER_BYTES)."""
    buffer = state.buffer
    watermark = (state.max_ts_ms or 0) - params.lateness_ms
    while buffer:
        head = buffer[0]
        due = (
            everything
            or head.ts_ms <= watermark
            or now_ms - head.arrival_ms >= params.lateness_ms
            or (state.last_applied_seq is not None and head.seq == state.last_applied_seq + 1)
            or state.buffer_bytes > MAX_BUFFER_BYTES
        )
        if not due:
            return
        buffer.pop(0)
        state.buffer_bytes -= head.size
        _apply(state, head.event, params, out)


def _forget_oldest_ids(state: DeviceState) -> None:
    """Keep the newest three quarters of MAX_SEEN_IDS ids by event time: a trim every quarter of the bound
    keeps its cost (a partial sort) to a few operations per event, even for a device flooding the worker."""
    keep = heapq.nlargest(MAX_SEEN_IDS * 3 // 4, state.seen.items(), key=lambda item: item[1])
    state.seen = dict(keep)


def _note_seq(state: DeviceState, seq: int, now_ms: int, params: DetectorParams, out: list[Transition]) -> None:
    """Track missing ``seq`` numbers between the lowest and highest seen; a gap left open for L is a loss.

    Both ends grow: with shuffled delivery the first arrival may not be the lowest number. A jump past
    MAX_SEQ_JUMP starts the numbering afresh: the gaps still open in the old one are lost (each is
    bounded), and the event is the first of the new numbering, applied without waiting for a predecessor.
    """
    if state.max_seq is None or state.min_seq is None:
        state.min_seq = state.max_seq = seq
        return
    if seq > state.max_seq + MAX_SEQ_JUMP or seq < state.min_seq - MAX_SEQ_JUMP:
        _finalise_gaps(state, now_ms, params, out, everything=True)
        out.append(SeqRestarted(previous=(state.min_seq, state.max_seq), seq=seq))
        state.min_seq = state.max_seq = seq
        if not state.buffer:
            state.last_applied_seq = seq - 1
        return
    if seq > state.max_seq:
        if seq > state.max_seq + 1:
            state.seq_gaps.append(_SeqGap(state.max_seq + 1, seq - 1, now_ms))
        state.max_seq = seq
    elif seq < state.min_seq:
        if seq < state.min_seq - 1:
            state.seq_gaps.append(_SeqGap(seq + 1, state.min_seq - 1, now_ms))
        state.min_seq = seq
    else:
        _fill_gap(state, seq)


def _fill_gap(state: DeviceState, seq: int) -> None:
    """A late arrival fills one number of a gap, or of a range already counted lost: split it around the number.

    A number counted lost that arrives after all keeps its count (the metric is cumulative), but it is no
    longer missing for rule 3: without this, a device whose gaps were counted early (past the bound on gaps
    tracked) would doubt every path for R.
    """
    for index, gap in enumerate(state.seq_gaps):
        if gap.lo <= seq <= gap.hi:
            pieces = [_SeqGap(lo, hi, gap.since_ms) for lo, hi in ((gap.lo, seq - 1), (seq + 1, gap.hi)) if lo <= hi]
            state.seq_gaps[index : index + 1] = pieces
            break
    for index, lost in enumerate(state.lost_seqs):
        if lost.lo <= seq <= lost.hi:
            state.lost_seqs[index : index + 1] = [
                _SeqRange(lo, hi) for lo, hi in ((lost.lo, seq - 1), (seq + 1, lost.hi)) if lo <= hi
            ]
            _merge_closest_lost(state)
            return


def _finalise_gaps(
    state: DeviceState, now_ms: int, params: DetectorParams, out: list[Transition], *, everything: bool
) -> None:
    """Count as lost the gaps open for L (all of them at the end of input, or past the list's bound)."""
    overflow = len(state.seq_gaps) - _MAX_SEQ_GAPS
    if not everything and overflow <= 0 and all(now_ms - gap.since_ms < params.lateness_ms for gap in state.seq_gaps):
        return  # nothing to finalise yet: the common case while a gap waits out L
    keep: list[_SeqGap] = []
    lost = 0
    for index, gap in enumerate(state.seq_gaps):
        if everything or index < overflow or now_ms - gap.since_ms >= params.lateness_ms:
            lost += gap.hi - gap.lo + 1
            _remember_lost(state, gap.lo, gap.hi)
        else:
            keep.append(gap)
    if lost:
        state.seq_gaps = keep
        out.append(EventsLost(count=lost))


def _remember_lost(state: DeviceState, lo: int, hi: int) -> None:
    """Keep a lost range for rule 3; past MAX_LOST_RANGES two merge (more counts as missing, never less)."""
    state.lost_seqs.append(_SeqRange(lo, hi))
    _merge_closest_lost(state)


def _merge_closest_lost(state: DeviceState) -> None:
    """Past MAX_LOST_RANGES, merge the two ranges nearest in ``seq`` into one covering both and what lies between:
    the fewest numbers that did arrive are taken for missing. Ranges are kept in ``seq`` order for this."""
    ranges = state.lost_seqs
    if len(ranges) <= MAX_LOST_RANGES:
        return
    ranges.sort(key=lambda lost: lost.lo)
    nearest = min(range(len(ranges) - 1), key=lambda index: ranges[index + 1].lo - ranges[index].hi)
    first, second = ranges[nearest], ranges[nearest + 1]
    ranges[nearest : nearest + 2] = [_SeqRange(first.lo, max(first.hi, second.hi))]


def _gap_between(state: DeviceState, first: int, last: int) -> bool:
    """Some ``seq`` strictly between two events' numbers is missing (not yet arrived, or counted lost).

    Numbers further apart than MAX_SEQ_JUMP belong to different numberings: what lies between is unknown.
    """
    lo, hi = min(first, last), max(first, last)
    if hi - lo > MAX_SEQ_JUMP:
        return True
    return any(gap.lo < hi and gap.hi > lo for gap in state.seq_gaps) or any(
        lost.lo < hi and lost.hi > lo for lost in state.lost_seqs
    )


# --- the state machine, in event-time order ---


def _apply(state: DeviceState, event: wire.Event, params: DetectorParams, out: list[Transition]) -> None:
    """Apply one event, in (mostly) event-time order, to the device's state."""
    ts = event.ts_ms
    for app_state in state.apps.values():  # a loop, not any(genexpr): no generator per event
        if app_state.transients:
            _settle_transients(state, ts, params, out, everything=False)
            break
    if state.boot_id is None:
        state.boot_id = event.boot_id
    elif event.boot_id != state.boot_id:
        if event.boot_id in state.past_boots:
            out.append(EventDropped(reason="late", event_id=event.event_id))
            return
        _reboot(state, event, params, out)
    if state.frontier_ms is None or ts > state.frontier_ms:
        state.frontier_ms = ts
    state.last_applied_seq = event.seq
    # After a reboot's closes (they happened in the old boot) and before what the event itself causes.
    out.append(EventApplied(event))  # positional: one per event, the cheapest construction
    _observe(state, event, params, out)
    for app_state in state.apps.values():
        if app_state.episode is not None and not app_state.episode.stuck:
            _mark_stuck(state, params, out)
            break
    if state.frontier_ms >= state.next_prune_ms:
        _prune(state, params)
        state.next_prune_ms = state.frontier_ms + params.lateness_ms


def _observe(state: DeviceState, event: wire.Event, params: DetectorParams, out: list[Transition]) -> None:
    """What the event says: device facts, the system's view, or the app's failure or recovery."""
    ts = event.ts_ms
    match event:  # most frequent first
        case wire.ConnEvent():
            if event.error is not None and event.error.name == ENETDOWN:
                _failure(state, event.app, event, params, out)
            elif event.state == "ready":
                _recovery(state, event.app, ts, params, out)
        case wire.ProbeEvent():
            probes = state.probes
            if not probes or probes[-1].ts_ms <= ts:
                probes.append(_Probe(ts, event.ok, event.seq, event.path_seq))  # in order: no search
            else:
                bisect.insort(probes, _Probe(ts, event.ok, event.seq, event.path_seq), key=lambda probe: probe.ts_ms)
            if len(probes) > MAX_PROBES:
                del probes[0]
        case wire.HeartbeatEvent():
            pass  # its facts are the inventory's (EventApplied); matched here so it skips the path cases
        case wire.PathEvent(observer="system"):
            _add_system_path(state, event)
        case wire.PathEvent(app=str(app)):
            if event.status == "satisfied":
                _recovery(state, app, ts, params, out)
            elif event.status == "unsatisfied" and event.reason == "policy_denied":
                _failure(state, app, event, params, out)


def _reboot(state: DeviceState, event: wire.Event, params: DetectorParams, out: list[Transition]) -> None:
    """A new boot_id: every open episode closes with ``reboot``; the old boot's network state is void."""
    for name, app in state.apps.items():
        if app.episode is not None:
            _close(name, app, event.ts_ms, "reboot", params, out)
        for transient in app.transients:
            out.append(_classified(name, transient, SignalClass.TRANSIENT))
        app.transients.clear()
    assert state.boot_id is not None
    state.past_boots = [*state.past_boots, state.boot_id][-_MAX_PAST_BOOTS:]
    state.boot_id = event.boot_id
    state.system_paths.clear()
    state.probes.clear()
    state.lost_seqs.clear()  # they only ever qualified the old boot's paths
    # The new boot's clock is the device's event time from now on, even if it is behind the old boot's.
    ts = event.ts_ms
    state.frontier_ms = ts
    state.max_ts_ms = max([ts, *(pending.ts_ms for pending in state.buffer)])
    state.next_prune_ms = ts + params.lateness_ms


def _add_system_path(state: DeviceState, event: wire.PathEvent) -> None:
    """Insert a system path evaluation in time order and recompute where each healthy run began.

    Two healthy paths between which a path may have been lost are not one run: the lost one may have been
    the path going down and up again (a Mac waking from sleep), so the run starts afresh at the later one.
    The later path says which path came before it (``path_seq``); from an agent that does not say, a
    ``seq`` missing between the two is the doubt. A failure within G of the restart then waits out G; if
    the system is still healthy and the app has not recovered, it opens at its own time all the same
    (rule 5), so the doubt delays a decision, never an opening. A gap filled later by an event other than
    a path leaves the run restarted: the same cost.
    """
    healthy = event.status == "satisfied" and any(i.type in PHYSICAL_INTERFACES for i in event.interfaces)
    paths = state.system_paths
    index = bisect.bisect_right(paths, event.ts_ms, key=lambda path: path.ts_ms)
    paths.insert(index, _SystemPath(event.ts_ms, healthy, event.event_id, seq=event.seq, path_seq=event.path_seq))
    for position in range(index, len(paths)):
        path, previous = paths[position], paths[position - 1] if position else None
        continuing = (
            path.healthy
            and previous is not None
            and previous.healthy
            and previous.seq is not None
            and path.seq is not None
            and _no_path_lost(state, previous.seq, previous.seq, path.seq, path.path_seq)
        )
        path.run_start_ms = previous.run_start_ms if continuing and previous else path.ts_ms
    if len(paths) > MAX_SYSTEM_PATHS:
        del paths[0]  # after the runs are computed: a run that began before it keeps its start


def _classify(
    state: DeviceState, ts: int, seq: int, path_seq: int | None, params: DetectorParams
) -> tuple[SignalClass, _SystemPath | None]:
    """Judge the system's view at ``ts`` for the event numbered ``seq`` after the agent's system path ``path_seq``
    (rules 1-6 of the module docstring), and the path that says so."""
    paths = state.system_paths
    index = bisect.bisect_right(paths, ts, key=lambda path: path.ts_ms)
    latest = paths[index - 1] if index else None
    if latest is None:
        return SignalClass.INSUFFICIENT_EVIDENCE, None
    probes = state.probes[
        bisect.bisect_left(state.probes, ts - params.window_ms, key=lambda p: p.ts_ms) : bisect.bisect_right(
            state.probes, ts, key=lambda p: p.ts_ms
        )
    ]
    if not _probes_ok(probes):
        return SignalClass.OUTAGE, latest
    if not (_current(state, latest, ts, seq, path_seq, params) or _vouched(state, probes, seq, path_seq)):
        return SignalClass.INSUFFICIENT_EVIDENCE, latest
    if not latest.healthy:
        return SignalClass.OUTAGE, latest
    if latest.run_start_ms > ts - params.settle_ms:
        return SignalClass.TRANSIENT, latest
    return SignalClass.EPISODE, latest


def _current(
    state: DeviceState, path: _SystemPath, ts: int, seq: int, path_seq: int | None, params: DetectorParams
) -> bool:
    """The path is still the system's view at ``ts`` without a probe: younger than W, or younger than R with no
    path lost between it and the event judged (a lost event may have been the path's change)."""
    age = ts - path.ts_ms
    if age <= params.window_ms:
        return True
    if age > params.path_max_age_ms or path.seq is None:
        return False
    return _no_path_lost(state, path.seq, path.seq, seq, path_seq)


def _vouched(state: DeviceState, probes: list[_Probe], seq: int, path_seq: int | None) -> bool:
    """The latest probe in the window (ok, after rule 2) says the path still held, unless a path may have been
    lost between it and the event judged: it proves the network worked when it ran, not that a change lost
    after it never happened (a Mac whose path went down between a probe and the failure, the event saying so
    lost)."""
    if not probes:
        return False
    latest = probes[-1]
    return latest.seq is not None and _no_path_lost(state, latest.seq, latest.path_seq, seq, path_seq)


def _no_path_lost(state: DeviceState, first: int, first_path: int | None, last: int, last_path: int | None) -> bool:
    """No system path the detector lacks came between the event numbered ``first`` and the one numbered ``last``.

    Each event names the latest system path its agent had numbered (``path_seq``; a path names itself once
    applied, so ``first_path`` is its own seq): the same one for both means none came between, whatever else
    was lost. Without those numbers (an agent before 0.2), or when they run backwards (the later event was
    numbered first), what is known is the stream itself: no ``seq`` missing between the two.
    """
    if first_path is not None and last_path is not None and last_path >= first_path:
        return last_path == first_path
    return not _gap_between(state, first, last)


def _probes_ok(probes: list[_Probe]) -> bool:
    """No probe in the window failed, or an ok probe came after the last failure (probes in time order)."""
    failures = [index for index, probe in enumerate(probes) if not probe.ok]
    return not failures or any(probe.ok for probe in probes[failures[-1] + 1 :])


def _failure(state: DeviceState, app: str, event: wire.Event, params: DetectorParams, out: list[Transition]) -> None:
    """An app-side failure signal: classify it; open an episode or wait out a transient (within the bounds)."""
    ts, event_id = event.ts_ms, event.event_id
    signal_class, path = _classify(state, ts, event.seq, event.path_seq, params)
    app_state = _app_state(state, app) if signal_class in _STATEFUL else None
    if signal_class is SignalClass.TRANSIENT and app_state is not None and _transients(state) < MAX_TRANSIENTS:
        assert path is not None
        deadline = path.run_start_ms + params.settle_ms
        app_state.transients.append(_Transient(ts, event_id, deadline, event.seq, event.path_seq))
        return
    out.append(SignalClassified(app=app, signal_class=signal_class, ts_ms=ts, event_id=event_id))
    if signal_class is SignalClass.EPISODE and app_state is not None:
        assert path is not None
        _open(app, app_state, ts, (event_id, path.event_id), out)


def _transients(state: DeviceState) -> int:
    """Failure signals waiting out G, over all apps."""
    return sum(len(app.transients) for app in state.apps.values())


def _open(app: str, app_state: _AppState, ts: int, evidence: tuple[str, ...], out: list[Transition]) -> None:
    """Open an episode unless one is open for the app, or the app has recovered since ``ts``."""
    if app_state.episode is not None:
        return
    if app_state.last_recovery_ms is not None and app_state.last_recovery_ms > ts:
        return
    app_state.episode = _Episode(opened_ms=ts, evidence=evidence)
    out.append(EpisodeChanged(change="opened", episode=_episode(app, app_state.episode)))


def _recovery(state: DeviceState, app: str, ts: int, params: DetectorParams, out: list[Transition]) -> None:
    """The app's path works again: close its episode; failures waiting out G did not hold."""
    app_state = _app_state(state, app)
    if app_state is None:
        return  # no room to remember it (MAX_APPS): nothing of the app's was waiting for it
    if app_state.last_recovery_ms is None or ts > app_state.last_recovery_ms:
        app_state.last_recovery_ms = ts
    if app_state.episode is not None and ts >= app_state.episode.opened_ms:
        _close(app, app_state, ts, "recovered", params, out)
    if not app_state.transients:
        return
    held = [t for t in app_state.transients if t.ts_ms > ts]
    for transient in app_state.transients:
        if transient.ts_ms <= ts:
            out.append(_classified(app, transient, SignalClass.TRANSIENT))
    app_state.transients = held


def _app_state(state: DeviceState, app: str) -> _AppState | None:
    """The app's state, created on first use (``setdefault`` would build a throwaway one every call);
    None if MAX_APPS apps have state and none of them only remembers a recovery (which would make room)."""
    app_state = state.apps.get(app)
    if app_state is not None:
        return app_state
    if len(state.apps) >= MAX_APPS:
        idle = [(other.last_recovery_ms or 0, name) for name, other in state.apps.items() if _idle(other)]
        if not idle:
            return None
        del state.apps[min(idle)[1]]
    app_state = state.apps[app] = _AppState()
    return app_state


def _idle(app: _AppState) -> bool:
    """The app has no open episode and no failure waiting: all it holds is its latest recovery."""
    return app.episode is None and not app.transients


def _settle_transients(
    state: DeviceState, now_ts: int, params: DetectorParams, out: list[Transition], *, everything: bool
) -> None:
    """Decide transients whose G has passed before ``now_ts`` (all of them at the end of input)."""
    for app, app_state in state.apps.items():
        waiting: list[_Transient] = []
        for transient in app_state.transients:
            if transient.deadline_ms >= now_ts and not everything:
                waiting.append(transient)
                continue
            # At the end of input a deadline not yet reached in event time is unknown: not an episode.
            signal_class, path = (
                _classify(state, transient.deadline_ms, transient.seq, transient.path_seq, params)
                if transient.deadline_ms <= now_ts
                else (SignalClass.TRANSIENT, None)
            )
            held = signal_class is SignalClass.EPISODE and path is not None
            out.append(_classified(app, transient, SignalClass.EPISODE if held else SignalClass.TRANSIENT))
            if held and path is not None:
                _open(app, app_state, transient.ts_ms, (transient.event_id, path.event_id), out)
        app_state.transients = waiting


def _classified(app: str, transient: _Transient, signal_class: SignalClass) -> SignalClassified:
    return SignalClassified(app=app, signal_class=signal_class, ts_ms=transient.ts_ms, event_id=transient.event_id)


def _close(
    app: str,
    app_state: _AppState,
    ts: int,
    reason: CloseReason,
    params: DetectorParams,
    out: list[Transition],
) -> None:
    """Close the app's episode at ``ts``; one that lasted longer than T is reported stuck."""
    episode = app_state.episode
    assert episode is not None
    app_state.episode = None
    episode.stuck = episode.stuck or ts - episode.opened_ms > params.stuck_ms
    closed = Episode(
        app=app,
        opened_ms=episode.opened_ms,
        evidence=episode.evidence,
        stuck=episode.stuck,
        closed_ms=ts,
        close_reason=reason,
    )
    out.append(EpisodeChanged(change="closed", episode=closed))


def _mark_stuck(state: DeviceState, params: DetectorParams, out: list[Transition]) -> None:
    """Episodes open longer than T, by the device's own event time, become stuck (reported once)."""
    frontier = state.frontier_ms or 0
    for app, app_state in state.apps.items():
        episode = app_state.episode
        if episode is not None and not episode.stuck and frontier - episode.opened_ms > params.stuck_ms:
            episode.stuck = True
            out.append(EpisodeChanged(change="stuck", episode=_episode(app, episode)))


def _prune(state: DeviceState, params: DetectorParams) -> None:
    """Forget what can no longer matter: anything older than the frontier minus L + W + G."""
    frontier = state.frontier_ms or 0
    horizon = frontier - params.lateness_ms - params.window_ms - params.settle_ms
    paths = state.system_paths
    keep_from = max(bisect.bisect_left(paths, horizon, key=lambda path: path.ts_ms) - 1, 0)
    if keep_from:
        del paths[:keep_from]
    probe_from = bisect.bisect_left(state.probes, horizon, key=lambda probe: probe.ts_ms)
    if probe_from:
        del state.probes[:probe_from]
    if state.lost_seqs:
        # A lost range below every kept path's seq lies between no kept path and a later signal.
        lowest = min((path.seq for path in paths if path.seq is not None), default=None)
        state.lost_seqs = [] if lowest is None else [lost for lost in state.lost_seqs if lost.hi > lowest]
    late = frontier - params.lateness_ms
    if len(state.seen) > state.seen_prune_at:
        # Amortised: prune when the set has doubled since the last prune, not on every event.
        state.seen = {id_key: ts for id_key, ts in state.seen.items() if ts >= late}
        state.seen_prune_at = max(_SEEN_PRUNE_MIN, 2 * len(state.seen))
    idle = [name for name, app in state.apps.items() if _idle(app) and (app.last_recovery_ms or 0) < late]
    for name in idle:
        del state.apps[name]


def _episode(app: str, episode: _Episode) -> Episode:
    """A snapshot of the app's stored episode: the stored one changes later (it becomes stuck, it closes)."""
    return Episode(app=app, opened_ms=episode.opened_ms, evidence=episode.evidence, stuck=episode.stuck)
