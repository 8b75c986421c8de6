"""What the two serving systems (naive and platform) share: the environment of their
processes, and how one, once started, is driven through every load point."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence

from scripts.bench.http_pool import HttpPool
from scripts.bench.load import Call, run_load
from scripts.bench.processes import ROOT, Processes
from scripts.bench.records import Load, Point
from scripts.bench.workload import BENCH_BACKENDS, MESSAGES, Plan


def base_env(args: argparse.Namespace) -> dict[str, str]:
    """What both serving systems' processes share: where the code is, which model, offline."""
    env = {key: value for key, value in os.environ.items() if key not in ("BROKER_URL", "WORKER_MODELS")}
    return {
        **env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "ENVIRONMENT": "development",
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "MODEL_BACKENDS": json.dumps(BENCH_BACKENDS),
        "MODEL_DEVICE": args.device,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


async def measure_system(
    system: str,
    base_url: str,
    make_call: Callable[[HttpPool], Awaitable[Call]],
    loads: Sequence[Load],
    plan: Plan,
    group: Processes,
) -> list[Point]:
    """Every load point in turn against a started system, after one job to warm it up;
    its children's process groups are metered by the name they were started with."""
    groups = {child.name.removeprefix(f"{system}-"): child.popen.pid for child in group.children}
    pool = HttpPool(base_url)
    try:
        call = await make_call(pool)
        await call(MESSAGES[0])  # first job: connections, pools and caches warm
        return [await run_load(system, call, load, plan, n, groups) for n, load in enumerate(loads)]
    finally:
        await pool.aclose()


def run_async(coroutine: Awaitable[list[Point]]) -> list[Point]:
    """uvloop where it is installed (uvicorn[standard] brings it): less of the client's own CPU."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None

    async def main() -> list[Point]:
        return await coroutine

    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())
