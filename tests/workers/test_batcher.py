"""The dynamic batcher, with a fake batch runner (no services)."""

import threading
import time
import uuid

import pytest

from workers.batcher import DynamicBatcher


class Recorder:
    def __init__(self, hold=None):
        self.batches = []
        self.hold = hold  # an Event the first batch waits for

    def __call__(self, ids):
        self.batches.append(list(ids))
        if self.hold is not None and len(self.batches) == 1:
            self.hold.wait(5)
        return f"batch-{len(self.batches)}"


def test_a_lone_job_runs_at_once():
    recorder = Recorder()
    batcher = DynamicBatcher(recorder, max_batch_size=32)
    job = uuid.uuid4()
    started = time.monotonic()
    assert batcher.run(job) == "batch-1"
    assert recorder.batches == [[job]]
    assert time.monotonic() - started < 1  # no timer: nothing waits for company
    batcher.stop()


def test_batches_fill_while_one_runs_and_respect_the_maximum():
    release = threading.Event()
    recorder = Recorder(hold=release)
    batcher = DynamicBatcher(recorder, max_batch_size=4)
    first = batcher.submit(uuid.uuid4())
    while not recorder.batches:
        time.sleep(0.01)
    waiting = [uuid.uuid4() for _ in range(6)]
    futures = [batcher.submit(job) for job in waiting]
    release.set()
    assert [f.result(5) for f in futures] == ["batch-2"] * 4 + ["batch-3"] * 2
    assert first.result(5) == "batch-1"
    assert recorder.batches[1:] == [waiting[:4], waiting[4:]]
    batcher.stop()


def test_many_threads_share_few_batches():
    recorder = Recorder()
    batcher = DynamicBatcher(recorder, max_batch_size=64)
    jobs = [uuid.uuid4() for _ in range(200)]
    threads = [threading.Thread(target=batcher.run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(j for batch in recorder.batches for j in batch) == sorted(jobs)
    assert max(len(batch) for batch in recorder.batches) <= 64
    batcher.stop()


def test_a_failing_batch_fails_its_waiters_and_the_batcher_goes_on():
    calls = []

    def run(ids):
        calls.append(ids)
        if len(calls) == 1:
            raise ConnectionError("database went away")
        return "ok"

    batcher = DynamicBatcher(run, max_batch_size=8)
    with pytest.raises(ConnectionError):
        batcher.run(uuid.uuid4())
    assert batcher.run(uuid.uuid4()) == "ok"
    batcher.stop()


def test_stop_finishes_what_is_queued():
    recorder = Recorder()
    batcher = DynamicBatcher(recorder, max_batch_size=2)
    futures = [batcher.submit(uuid.uuid4()) for _ in range(5)]
    batcher.stop()
    assert all(f.done() for f in futures)
