"""A model that does nothing, for `make bench --model noop`: with it, what a run measures is
the serving system's own cost per job (HTTP, queue, database, notifications), not a model's."""

from __future__ import annotations

from collections.abc import Sequence

from models.base import ConversationInput, ConversationOutput, Model


class Noop(Model):
    """Answers at once; registered through MODEL_BACKENDS (`{"noop": "scripts.bench_models:Noop"}`)."""

    name = "noop"

    def load(self, device: str) -> None:
        self.device = device

    def predict(self, inputs: Sequence[ConversationInput]) -> list[ConversationOutput]:
        return [ConversationOutput(response="I hear you.", confidence=1.0) for _ in inputs]
