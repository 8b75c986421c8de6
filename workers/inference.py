"""Runs a model over claimed jobs, isolating failures.

A batch that raises is split in half and each half retried, so one bad input fails
alone and its batch-mates still succeed; CUDA out-of-memory is handled the same way,
after freeing the cache. A single input that still fails ends `failed` with a typed
error. The model's own exception never escapes to the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from db.job_transitions import ClaimedJob, JobResult
from models.base import ConversationInput, ConversationOutput, Model
from workers.metrics import observe_model_call

log = logging.getLogger(__name__)
ERROR_MESSAGE_LIMIT = 1000


def conversation_input(job_input: dict[str, Any]) -> ConversationInput:
    context = job_input.get("context") or ()
    if isinstance(context, str):
        context = (context,)
    return ConversationInput(message=job_input["message"], context=tuple(context))


def is_out_of_memory(exc: BaseException) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - every worker has torch
        return False
    return isinstance(exc, torch.cuda.OutOfMemoryError)


def _free_accelerator_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _error(exc: BaseException) -> dict[str, str]:
    kind = "out_of_memory" if is_out_of_memory(exc) else "model_error"
    return {"type": kind, "message": f"{type(exc).__name__}: {exc}"[:ERROR_MESSAGE_LIMIT]}


def run_model(model: Model, jobs: Sequence[ClaimedJob], *, claimed_at: float) -> list[JobResult]:
    """One result per job, in order. `claimed_at` is the wall-clock time of the claim."""
    if not jobs:
        return []
    started = time.perf_counter()
    try:
        outputs = model.predict([conversation_input(job.input) for job in jobs])
        if len(outputs) != len(jobs):
            raise RuntimeError(f"{model.name} returned {len(outputs)} outputs for {len(jobs)} inputs")
    except Exception as exc:
        if is_out_of_memory(exc):
            _free_accelerator_memory()
        if len(jobs) == 1:
            log.warning("job %s failed in %s: %r", jobs[0].id, model.name, exc)
            return [JobResult(job_id=jobs[0].id, attempt=jobs[0].attempt, error=_error(exc))]
        middle = len(jobs) // 2
        return run_model(model, jobs[:middle], claimed_at=claimed_at) + run_model(
            model, jobs[middle:], claimed_at=claimed_at
        )
    elapsed = time.perf_counter() - started
    observe_model_call(model.name, len(jobs), elapsed)
    return [_success(job, output, elapsed, len(jobs), claimed_at) for job, output in zip(jobs, outputs, strict=True)]


def _success(
    job: ClaimedJob, output: ConversationOutput, elapsed: float, batch_size: int, claimed_at: float
) -> JobResult:
    return JobResult(
        job_id=job.id,
        attempt=job.attempt,
        output={
            "response": output.response,
            "confidence": round(output.confidence, 6),
            "processing_time": round(elapsed, 6),
            "metadata": output.metadata,
        },
        metrics={
            "queue_time": round(max(0.0, claimed_at - job.created_at.timestamp()), 6),
            "inference_time": round(elapsed, 6),
            "batch_size": batch_size,
        },
    )
