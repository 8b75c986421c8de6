"""Dynamic batching inside a worker process.

Celery's thread pool runs one task per message; each task hands its job id to the
batcher and waits. One executor thread takes whatever has accumulated (up to
`max_batch_size`) and runs it as one batch: claim, model, results, each one database
round trip. There is no timer: when the queue is empty a lone job runs at once, and
while a batch runs the next one fills up. This is Triton's dynamic batcher with a
zero queue delay, or Ray Serve's `@serve.batch` fed by Celery threads.

Why not `celery-batches`: it acknowledges a whole buffer at once and flushes on a
timer (a fixed wait at low load). Here every message keeps its own late
acknowledgement: a task returns, and its message is acked, only after its job's
result is committed, so a worker killed mid-batch loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

RunBatch = Callable[[Sequence[uuid.UUID]], object]


@dataclass
class _Pending:
    job_id: uuid.UUID
    future: Future[object] = field(default_factory=Future)


_STOP = object()


class DynamicBatcher:
    def __init__(self, run_batch: RunBatch, max_batch_size: int) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="dynamic-batcher", daemon=True)
        self._thread.start()

    def submit(self, job_id: uuid.UUID) -> Future[object]:
        """Queues a job; the future resolves when its batch is done (or raises what the batch raised)."""
        pending = _Pending(job_id)
        self._queue.put(pending)
        return pending.future

    def run(self, job_id: uuid.UUID) -> object:
        """Submits and waits: what a Celery task thread calls."""
        return self.submit(job_id).result()

    def stop(self, timeout: float = 30.0) -> None:
        """Finishes the batch in hand and what is already queued, then stops."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _take_batch(self) -> tuple[list[_Pending], bool]:
        first = self._queue.get()
        if not isinstance(first, _Pending):
            return [], True
        batch = [first]
        while len(batch) < self.max_batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, _Pending):
                self._queue.put(_STOP)  # stop after this batch
                break
            batch.append(item)
        return batch, False

    def _loop(self) -> None:
        while True:
            batch, stopping = self._take_batch()
            if stopping:
                return
            try:
                result = self._run_batch([pending.job_id for pending in batch])
            except BaseException as exc:  # every waiting task must hear of it, whatever it is
                log.exception("batch of %d failed", len(batch))
                for pending in batch:
                    pending.future.set_exception(exc)
                continue
            for pending in batch:
                pending.future.set_result(result)
