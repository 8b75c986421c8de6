"""Failure isolation in `run_model`, with fake models (no services needed)."""

import uuid
from datetime import UTC, datetime

import pytest
import torch

from db.job_transitions import ClaimedJob
from models.base import ConversationInput, ConversationOutput, Model
from workers.inference import conversation_input, run_model


def _jobs(*messages):
    created = datetime.now(UTC)
    return [
        ClaimedJob(id=uuid.uuid4(), model="fake", input={"message": m}, created_at=created, attempt=1) for m in messages
    ]


class Recording(Model):
    name = "fake"

    def __init__(self, fail_on=(), oom_above=None):
        self.fail_on = set(fail_on)
        self.oom_above = oom_above
        self.batches = []

    def load(self, device):
        pass

    def predict(self, inputs):
        self.batches.append([item.message for item in inputs])
        if self.oom_above is not None and len(inputs) > self.oom_above:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (fake)")
        if any(item.message in self.fail_on for item in inputs):
            raise ValueError("bad input in batch")
        return [ConversationOutput(response=item.message.upper(), confidence=0.5) for item in inputs]


def test_results_keep_order_and_job_ids():
    jobs = _jobs("a", "b", "c")
    results = run_model(Recording(), jobs, claimed_at=0)
    assert [r.job_id for r in results] == [j.id for j in jobs]
    assert [r.output["response"] for r in results] == ["A", "B", "C"]
    assert all(r.metrics["batch_size"] == 3 for r in results)


def test_one_failing_input_fails_alone():
    model = Recording(fail_on={"bad"})
    jobs = _jobs("a", "b", "bad", "c", "d")
    results = run_model(model, jobs, claimed_at=0)
    by_message = {job.input["message"]: result for job, result in zip(jobs, results, strict=True)}
    assert by_message["bad"].error["type"] == "model_error"
    assert "bad input" in by_message["bad"].error["message"]
    assert all(by_message[m].output["response"] == m.upper() for m in "abcd")
    assert ["bad"] in model.batches


def test_out_of_memory_splits_the_batch_until_it_fits():
    model = Recording(oom_above=2)
    results = run_model(model, _jobs(*"abcdefgh"), claimed_at=0)
    assert all(r.error is None for r in results)
    assert max(len(batch) for batch in model.batches if len(batch) <= 2) == 2
    assert model.batches[0] == list("abcdefgh")


def test_out_of_memory_on_a_single_input_is_a_typed_error():
    results = run_model(Recording(oom_above=0), _jobs("a"), claimed_at=0)
    assert results[0].error["type"] == "out_of_memory"


def test_a_model_returning_the_wrong_number_of_outputs_fails_its_jobs():
    class Short(Recording):
        def predict(self, inputs):
            return super().predict(inputs)[:-1]

    results = run_model(Short(), _jobs("a", "b"), claimed_at=0)
    assert all(r.error is not None for r in results)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({"message": "hi"}, ConversationInput("hi", ())),
        ({"message": "hi", "context": "before"}, ConversationInput("hi", ("before",))),
        ({"message": "hi", "context": ["a", "b"]}, ConversationInput("hi", ("a", "b"))),
    ],
)
def test_conversation_input_from_the_stored_job(stored, expected):
    assert conversation_input(stored) == expected
