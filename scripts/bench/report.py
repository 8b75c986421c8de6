"""report.json: the run's configuration, the machine it ran on, every point, and the
headline numbers with their targets, so that a run can be read (and compared) later."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts.bench.records import Point
from scripts.bench.stats import headline, verdicts


def build_report(
    *, config: dict[str, Any], machine: dict[str, Any], points: Sequence[Point], wall_seconds: float
) -> dict[str, Any]:
    """The whole of report.json; the targets are judged for the model the run served."""
    summary = headline(points)
    return {
        "config": config,
        "machine": machine,
        "points": [asdict(p) for p in points],
        "summary": summary,
        "targets": verdicts(summary, str(config.get("model"))),
        "wall_seconds": round(wall_seconds, 1),
    }


def machine() -> dict[str, Any]:
    """What the numbers were measured on, including how busy the machine already was."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), None)
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), None)
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 2**20, 1) if mem_kb else None,
        "python": sys.version.split()[0],
        "os": " ".join(os.uname()[i] for i in (0, 2, 4)),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["torch"] = info["gpu"] = None
    return info
