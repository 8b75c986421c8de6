"""`make bench`: the model alone, the usual FastAPI + Celery template, and this platform,
measured side by side in one run on one machine.

    python -m scripts.bench [--model empathy-minilm|noop] [--device auto] [--duration S] [--quick]
                            [--systems raw,naive,platform] [--database-url URL] [--redis-url URL]
                            [--out var/bench]

- raw: `Model.predict` in a tight loop at several batch sizes; the best is the ceiling.
- naive: scripts/bench_naive.py, one Celery task per request, results in Redis, polled.
- platform: the real API and worker; submit with an API key and `Prefer: wait=60`;
  latency runs from sending the submit to receiving the finished job.

naive and platform get the same loads: open-loop Poisson arrivals at fractions of the raw
ceiling (fixed rates with `--model noop`, whose ceiling means nothing), then a closed loop
of many clients (saturation). Each load point runs `--duration` seconds after a warm-up;
a job sent in that window counts towards latency, a job finished in it towards throughput.
Prints a table and writes <out>/report.json and <out>/report.png.

Services: `--database-url` (else BENCH_DATABASE_URL / TEST_DATABASE_URL) names a PostgreSQL
server on which a scratch database is created and dropped (a SQLite URL is used as given);
without one, a throwaway pgserver. `--redis-url` (else TEST_REDIS_URL), or an embedded
Redis. Every process started is stopped, by process group, however the run ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from scripts.bench.chart import write_chart
from scripts.bench.http_pool import WAIT_SECONDS
from scripts.bench.naive import NAIVE_POLL_FIRST, NAIVE_POLL_MAX, naive_call, start_naive
from scripts.bench.platform import platform_call, start_platform
from scripts.bench.processes import ROOT, processes
from scripts.bench.progress import log
from scripts.bench.raw import measure_raw
from scripts.bench.records import Point
from scripts.bench.report import build_report, machine
from scripts.bench.services import database_service, forget_keys, redis_service
from scripts.bench.serving import measure_system, run_async
from scripts.bench.table import format_table
from scripts.bench.workload import SYSTEMS, Plan, load_plan, make_plan


def run(args: argparse.Namespace, plan: Plan, logs: Path) -> list[Point]:
    """raw, then naive, then the platform: one at a time, each stack stopped before the next starts."""
    points = measure_raw(args.model, args.device, plan) if "raw" in args.systems else []
    loads = load_plan(args, plan, points)
    run_id = uuid.uuid4().hex[:8]
    naive_prefix, platform_prefix = f"bench-naive-{run_id}", f"pe-bench-{run_id}"
    with contextlib.ExitStack() as stack:
        services = stack.enter_context(processes(logs))
        redis_url = stack.enter_context(redis_service(args, services, logs.parent))
        stack.callback(forget_keys, redis_url, [naive_prefix, platform_prefix])
        if "naive" in args.systems:
            with processes(logs) as group:
                base = start_naive(args, group, redis_url, naive_prefix)
                points += run_async(measure_system("naive", base, naive_call, loads, plan, group))
        if "platform" in args.systems:
            database_url = stack.enter_context(database_service(args))
            with processes(logs) as group:
                base, password = start_platform(args, group, database_url, redis_url, platform_prefix)
                points += run_async(
                    measure_system("platform", base, lambda pool: platform_call(pool, password), loads, plan, group)
                )
    return points


def _floats(value: str) -> tuple[float, ...]:
    return tuple(float(part) for part in value.split(",") if part.strip())


def _ints(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split(",") if part.strip())


def _systems(value: str) -> tuple[str, ...]:
    """`--systems`: some of raw, naive and platform, run in that order whatever the order given."""
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = set(chosen) - set(SYSTEMS)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"systems are {', '.join(SYSTEMS)}; not {', '.join(sorted(unknown))}")
    return chosen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options; without raw (and a model with a ceiling) the rates must be given."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="empathy-minilm", help="model to serve (noop: the platform's own cost)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--duration", type=float, help="seconds per load point (default 10, --quick 3)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter load points: under 2 minutes")
    parser.add_argument("--systems", type=_systems, default=SYSTEMS, help="comma-separated: raw,naive,platform")
    parser.add_argument("--rates", type=_floats, help="open-loop rates in jobs/s (default: fractions of raw)")
    parser.add_argument("--clients", type=int, help="closed-loop clients at saturation (default 4 x best batch)")
    parser.add_argument("--batch-sizes", type=_ints, help="raw batch sizes (default 1,8,16,32,64)")
    parser.add_argument("--database-url", help="PostgreSQL server to make a scratch database on")
    parser.add_argument("--redis-url", help="Redis to use (keys are prefixed per run)")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="where report.json/png go")
    args = parser.parse_args(argv)
    if "raw" not in args.systems and args.model != "noop" and not args.rates:
        parser.error("without raw there is no ceiling to take fractions of: give --rates")
    return args


def _interrupt(signum: int, _frame: Any) -> None:
    """SIGTERM and SIGHUP stop a run as Ctrl-C does, through every `finally` that stops a child."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """One run: measure, then write report.json and report.png and print the table; 130 if interrupted."""
    args = parse_args(argv)
    plan = make_plan(args)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even where the shell started us ignoring it
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    out = args.out.resolve()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    host = machine()
    started = time.monotonic()
    try:
        points = run(args, plan, logs)
    except KeyboardInterrupt:
        log("interrupted: every process it started has been stopped")
        return 130
    config = {
        "model": args.model,
        "device": args.device,
        "device_used": args.device if args.device != "auto" else ("cuda" if host.get("gpu") else "cpu"),
        "systems": list(args.systems),
        "quick": args.quick,
        "plan": asdict(plan),
        "naive_poll_seconds": [NAIVE_POLL_FIRST, NAIVE_POLL_MAX],
        "platform_wait_seconds": WAIT_SECONDS,
        "logs": str(logs),
    }
    report = build_report(config=config, machine=host, points=points, wall_seconds=time.monotonic() - started)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    write_chart(points, out / "report.png")
    print(format_table(points, report["summary"], args.model))
    print(f"\nwall time {report['wall_seconds']:.0f} s; wrote {out / 'report.json'} and {out / 'report.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
