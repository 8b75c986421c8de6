"""Starts a model worker: `python -m workers [extra celery worker options]`.

One process per accelerator (pin it with CUDA_VISIBLE_DEVICES). It consumes the queues
of the models in WORKER_MODELS and the maintenance queue, with a thread pool: the
model lives once in this process and the threads feed it.
"""

from __future__ import annotations

import os
import socket
import sys

from settings import get_settings
from workers.app import app
from workers.queues import maintenance_queue, model_queue


def worker_argv(extra: list[str]) -> list[str]:
    settings = get_settings()
    queues = [model_queue(settings, name) for name in settings.worker_models]
    queues.append(maintenance_queue(settings))
    return [
        "worker",
        "--pool=threads",
        f"--concurrency={settings.WORKER_CONCURRENCY}",
        f"--queues={','.join(queues)}",
        f"--hostname=model-{os.getpid()}@{socket.gethostname()}",
        f"--loglevel={settings.LOG_LEVEL}",
        *extra,
    ]


def main() -> None:
    app.worker_main(worker_argv(sys.argv[1:]))


if __name__ == "__main__":
    main()
