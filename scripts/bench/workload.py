"""What every system is given: the same messages, the bench's own model backends, and the
plan of a run (how long each point lasts, which batch sizes and loads it tries)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from scripts.bench.records import Load, Point
from scripts.bench.stats import headline

SYSTEMS = ("raw", "naive", "platform")
BENCH_BACKENDS = {"noop": "scripts.bench_models:Noop"}
MESSAGES = (
    "I can't sleep before exams, my mind keeps racing.",
    "We adopted a puppy today!",
    "My grandmother passed away last week and I keep expecting her to call.",
    "Nobody at my new job talks to me at lunch.",
    "I finally finished the marathon I trained a year for.",
    "I snapped at my little brother and now I feel terrible about it.",
    "Thank you for listening yesterday, it really helped.",
    "My landlord is ignoring the broken heating again and I'm furious.",
)
SATURATION_CLIENTS_PER_BATCH = 4
MAX_SATURATION_CLIENTS = 256
DEFAULT_BATCH = 32
NOOP_RATES = {"quick": (10.0, 100.0), "full": (10.0, 100.0, 300.0)}


@dataclass(frozen=True)
class Plan:
    """How long and how hard: the same for every system in a run."""

    duration: float
    warmup: float
    drain: float
    raw_seconds: float
    batch_sizes: tuple[int, ...]
    fractions: tuple[float, ...]


def make_plan(args: argparse.Namespace) -> Plan:
    """The full or `--quick` plan, with `--duration` and `--batch-sizes` where given."""
    if args.quick:
        plan = Plan(
            duration=3.0, warmup=1.0, drain=10.0, raw_seconds=1.0, batch_sizes=(1, 8, 32), fractions=(0.02, 0.1)
        )
    else:
        plan = Plan(
            duration=10.0,
            warmup=3.0,
            drain=30.0,
            raw_seconds=3.0,
            batch_sizes=(1, 8, 16, 32, 64),
            fractions=(0.02, 0.1, 0.5, 0.9),
        )
    overrides = {"duration": args.duration, "batch_sizes": args.batch_sizes}
    return Plan(**{**asdict(plan), **{k: v for k, v in overrides.items() if v is not None}})


def load_plan(args: argparse.Namespace, plan: Plan, points: Sequence[Point]) -> list[Load]:
    """The open-loop rates (fractions of the raw ceiling) and the saturation point."""
    summary = headline(points)
    ceiling, batch = summary["raw_ceiling_jobs_per_s"], summary["raw_best_batch_size"]
    if args.rates:
        loads = [Load(f"{rate:g}/s", rate=rate) for rate in args.rates]
    elif args.model == "noop":
        loads = [Load(f"{rate:g}/s", rate=rate) for rate in NOOP_RATES["quick" if args.quick else "full"]]
    else:
        loads = [Load(f"{f:g}x raw", rate=round(f * ceiling, 2)) for f in plan.fractions]
    clients = args.clients or min(MAX_SATURATION_CLIENTS, SATURATION_CLIENTS_PER_BATCH * (batch or DEFAULT_BATCH))
    return [*loads, Load("saturation", clients=clients)]
