"""What processes cost while a benchmark runs, from Linux's /proc: CPU time, and time spent waiting for a CPU.

A throughput figure alone does not say what held it back. A process that used 35 % of a core may have
been waiting on another process (the broker, a lock, the network) or may have been ready to run but
given no core, because the machine was busy with something else. The scheduler counts both: per thread,
``/proc/<pid>/task/<tid>/schedstat`` holds the time on a CPU and the time spent runnable in a run queue.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["CpuMeter", "CpuShare", "cpu_seconds", "memory_kib"]

_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuShare:
    """A process over a span, in % of one core: on a CPU, and ready to run but waiting for one."""

    on_cpu_percent: float
    waiting_percent: float

    def __str__(self) -> str:
        return f"{self.on_cpu_percent:.0f}% of a core (+{self.waiting_percent:.0f}% waiting for one)"


class CpuMeter:
    """Scheduler statistics of some processes between :meth:`start` and :meth:`stop` (threads summed)."""

    def __init__(self, *pids: int) -> None:
        self.pids = pids
        self._before: list[tuple[int, int]] = []
        self._started = 0.0

    def start(self) -> None:
        """Take the first reading."""
        self._before = [_schedstat(pid) for pid in self.pids]
        self._started = time.monotonic()

    def stop(self) -> list[CpuShare]:
        """Each process's share of the span since :meth:`start`, in the order the pids were given."""
        elapsed_ns = (time.monotonic() - self._started) * 1e9
        return [
            CpuShare(round(100 * (cpu - cpu0) / elapsed_ns, 1), round(100 * (wait - wait0) / elapsed_ns, 1))
            for (cpu0, wait0), (cpu, wait) in zip(self._before, (_schedstat(pid) for pid in self.pids), strict=True)
        ]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, its finished threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime


def memory_kib(pid: int) -> dict[str, int]:
    """Resident memory now (VmRSS) and at its peak (VmHWM), in KiB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(status[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def _schedstat(pid: int) -> tuple[int, int]:
    """Nanoseconds on a CPU and waiting in a run queue, summed over the process's live threads."""
    on_cpu = waiting = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu, wait, _slices = (task / "schedstat").read_text().split()
        except (OSError, ValueError):  # the thread ended meanwhile
            continue
        on_cpu += int(cpu)
        waiting += int(wait)
    return on_cpu, waiting
