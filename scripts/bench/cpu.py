"""Where the CPU goes during a load point: cores busy in each of the system's process
groups, in PostgreSQL and Redis, in this client and in the whole machine (from /proc)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path


def _processes() -> Iterator[tuple[str, int, float]]:
    """(command name, process group, CPU seconds so far) of every process on the machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        yield comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / ticks


def _machine_busy_seconds() -> float:
    """CPU seconds spent on anything but idle and iowait, all cores together (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each of our process groups, of this client, of the database and
    Redis (every such process on the machine: they may be shared), and of the whole machine."""
    totals = dict.fromkeys([*groups, "postgres", "redis"], 0.0)
    names = {pgid: name for name, pgid in groups.items()}
    with contextlib.suppress(OSError):
        for comm, pgrp, seconds in _processes():
            if pgrp in names:
                totals[names[pgrp]] += seconds
            elif comm.startswith(("postgres", "redis-server")):
                totals["postgres" if comm.startswith("postgres") else "redis"] += seconds
        totals["machine"] = _machine_busy_seconds()
    totals["client"] = time.process_time()
    return totals


async def cpu_use(groups: dict[str, int], warmup: float, duration: float) -> dict[str, float]:
    """Average cores each part kept busy during the measured window."""
    await asyncio.sleep(warmup)
    before = await asyncio.to_thread(cpu_snapshot, groups)
    began = time.perf_counter()
    await asyncio.sleep(duration)
    after = await asyncio.to_thread(cpu_snapshot, groups)
    elapsed = time.perf_counter() - began
    return {name: round((after[name] - before.get(name, 0.0)) / elapsed, 2) for name in after}
