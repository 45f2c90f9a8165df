"""Scenario tables for the detector: events in, episodes and signal classes out (tests/unit/detector_cases).

Each YAML case lists events in arrival order with a shorthand (times in seconds) and the exact
episodes it must produce. Every case also runs under shuffled delivery (each event delayed by up to
L/2, so nothing becomes too late) and under duplicated delivery, and must give the same episodes and
signal classes: the detector works in event time, not arrival time. A case that is about arrival
order itself says ``deliveries: [as_written]``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from netdown import wire
from netdown.detection.detector import DetectorParams
from netdown.stream.replay_run import ReplayRun
from netdown.testing import sample_event

CASES_DIR = Path(__file__).parent / "detector_cases"
T0_MS = 1_732_540_800_000
DEVICE = "mac-0001-test"
APP = "com.example.vpn.tunnel"
SHUFFLE_SEEDS = range(5)


def _load_cases() -> list[tuple[str, dict[str, Any]]]:
    return [(path.stem, yaml.safe_load(path.read_text())) for path in sorted(CASES_DIR.glob("*.yaml"))]


CASES = _load_cases()


def _event(index: int, spec: dict[str, Any]) -> wire.Event:
    """Expand one shorthand line of a case into a wire event (through the real decoder)."""
    spec = dict(spec)
    envelope = {
        "event_id": str(spec.pop("id", f"e{index}")),
        "device_id": spec.pop("device", DEVICE),
        "boot_id": spec.pop("boot", "boot-1"),
        "seq": spec.pop("seq", index + 1),
        "ts_ms": T0_MS + round(float(spec.pop("t")) * 1000),
        "os_version": str(spec.pop("os", "14.4.1")),
        "path_seq": spec.pop("path_seq", None),  # the latest system path the agent numbered before (agents >= 0.2)
    }
    app = spec.pop("app", APP)
    if "system" in spec:
        status = spec.pop("system")
        interfaces = spec.pop("interfaces", ["wifi"] if status == "satisfied" else [])
        body = sample_event(
            "path",
            observer="system",
            app=None,
            status=status,
            reason=spec.pop("reason", None if status == "satisfied" else "no_route"),
            interfaces=[{"name": f"if{i}", "type": kind} for i, kind in enumerate(interfaces)],
        )
    elif "app_path" in spec:
        status = spec.pop("app_path")
        body = sample_event("path", observer="app", app=app, status=status, reason=spec.pop("reason", None))
    elif "conn" in spec:
        error = spec.pop("error", None)
        body = sample_event(
            "conn",
            app=app,
            state=spec.pop("conn"),
            conn_id=spec.pop("conn_id", f"C{index}"),
            error=None if error is None else {"domain": "posix", "code": 50, "name": error},
        )
    elif "probe" in spec:
        body = sample_event("probe", ok=spec.pop("probe") == "ok")
    elif "heartbeat" in spec:
        spec.pop("heartbeat")
        body = sample_event("heartbeat")
    else:
        raise ValueError(f"event {index}: no event kind in {spec}")
    assert not spec, f"event {index}: unknown keys {sorted(spec)}"
    decoded = wire.decode(msgspec.json.encode({**body, **envelope}))
    assert not isinstance(decoded, wire.Rejection), decoded
    return decoded


def _params(case: dict[str, Any]) -> DetectorParams:
    overrides = {f"{name}_ms": round(float(value) * 1000) for name, value in case.get("params", {}).items()}
    return DetectorParams(**overrides)


def _run(events: list[wire.Event], params: DetectorParams) -> ReplayRun:
    run = ReplayRun(params)
    run.feed_all(events)
    return run


def _episodes(run: ReplayRun) -> list[dict[str, Any]]:
    """Final episodes in the shorthand of the cases (times in seconds after T0)."""
    return [
        {
            "app": incident.app,
            "opened": (incident.opened_ms - T0_MS) / 1000,
            "closed": None if incident.closed_ms is None else (incident.closed_ms - T0_MS) / 1000,
            "reason": incident.close_reason,
            "stuck": incident.stuck,
            **({"device": incident.device_id} if incident.device_id != DEVICE else {}),
        }
        for incident in run.final_incidents()
    ]


def _expected_episodes(case: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "app": episode.get("app", APP),
            "opened": float(episode["opened"]),
            "closed": None if episode.get("closed") is None else float(episode["closed"]),
            "reason": episode.get("reason"),
            "stuck": episode.get("stuck", False),
            **({"device": episode["device"]} if "device" in episode else {}),
        }
        for episode in case["expect"].get("episodes", [])
    ]


def _shuffled(events: list[wire.Event], lateness_ms: int, seed: int) -> list[wire.Event]:
    """Arrival order with each event delayed by up to L/2 of event time: reordered, never too late."""
    rng = random.Random(seed)
    return sorted(events, key=lambda event: event.ts_ms + rng.uniform(0, lateness_ms / 2))


def _duplicated(events: list[wire.Event], seed: int) -> list[wire.Event]:
    """Every event delivered again a few positions later, as a retrying producer would."""
    rng = random.Random(seed)
    delivered = list(events)
    for event in events:
        delivered.insert(min(len(delivered), delivered.index(event) + rng.randint(1, 3)), event)
    return delivered


@pytest.mark.parametrize(("name", "case"), CASES, ids=[name for name, _ in CASES])
def test_scenario(name: str, case: dict[str, Any]) -> None:
    params = _params(case)
    events = [_event(index, spec) for index, spec in enumerate(case["events"])]
    expected = case["expect"]
    deliveries = case.get("deliveries", ["as_written", "shuffled", "duplicated"])
    runs: dict[str, ReplayRun] = {"as_written": _run(events, params)}
    if "shuffled" in deliveries:
        runs |= {
            f"shuffled-{seed}": _run(_shuffled(events, params.lateness_ms, seed), params) for seed in SHUFFLE_SEEDS
        }
    if "duplicated" in deliveries:
        runs |= {f"duplicated-{seed}": _run(_duplicated(events, seed), params) for seed in SHUFFLE_SEEDS}
    for delivery, run in runs.items():
        assert _episodes(run) == _expected_episodes(case), f"{name} [{delivery}]: {case['description']}"
        assert dict(run.signals) == expected.get("signals", {}), f"{name} [{delivery}] signal classes"
        assert run.lost == expected.get("lost", 0), f"{name} [{delivery}] lost events"
    as_written = runs["as_written"]
    assert dict(as_written.dropped) == expected.get("dropped", {}), f"{name}: dropped events"


def test_every_case_is_described_and_expects_something() -> None:
    assert len(CASES) >= 20
    for name, case in CASES:
        assert case.get("description"), name
        assert "expect" in case, name
