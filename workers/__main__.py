"""Starts a worker: `python -m workers [--role models|webhooks] [celery worker options]`.

- `models` (default): one process per accelerator (pin it with CUDA_VISIBLE_DEVICES).
  It loads the models in WORKER_MODELS, then consumes their queues and the maintenance
  queue, with a thread pool feeding the one copy of each model.
- `webhooks`: no model; sends webhook deliveries, many at a time (I/O bound).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--role", choices=["models", "webhooks"], default=None)
    known, extra = parser.parse_known_args(argv)
    if known.role:
        os.environ["WORKER_ROLE"] = known.role  # before settings are first read

    from settings import get_settings
    from workers.app import app
    from workers.queues import consumed_queues

    settings = get_settings()
    queues = consumed_queues(settings)
    webhooks = settings.WORKER_ROLE == "webhooks"
    concurrency = settings.WEBHOOK_WORKER_CONCURRENCY if webhooks else settings.worker_concurrency
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            f"--concurrency={concurrency}",
            f"--queues={','.join(queues)}",
            f"--hostname={settings.WORKER_ROLE}-{os.getpid()}@{socket.gethostname()}",
            f"--loglevel={settings.LOG_LEVEL}",
            *extra,
        ]
    )


if __name__ == "__main__":
    main(sys.argv[1:])
