"""CPU accounting for bench runs on a machine that others may share."""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path


def facts() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, "
        f"load average {load}"
    )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Usage:
    """CPU seconds so far: the service, this bench (wrk included), the machine."""

    wall: float
    server: float
    bench: float
    machine: float

    @classmethod
    def now(cls, pid: int) -> Usage:
        own = resource.getrusage(resource.RUSAGE_SELF)
        # Children count once waited for: wrk runs, not the running service.
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        bench = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        ticks = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, ticks)
        busy = user + nice + system + irq + softirq + steal
        return cls(
            time.perf_counter(),
            cpu_seconds(pid),
            bench,
            busy / os.sysconf("SC_CLK_TCK"),
        )


@dataclass(frozen=True, slots=True)
class Spent:
    """What a run cost: service CPU, and the cores other processes kept busy."""

    wall: float
    server: float
    others: float

    @classmethod
    def between(cls, before: Usage, after: Usage) -> Spent:
        wall = after.wall - before.wall
        server = after.server - before.server
        machine = after.machine - before.machine
        others = machine - server - (after.bench - before.bench)
        return cls(wall, server, max(0.0, others) / wall if wall > 0 else 0.0)

    @property
    def server_share(self) -> float:
        """Cores the service used on average (1.0: one core all the time)."""
        return self.server / self.wall if self.wall > 0 else 0.0
