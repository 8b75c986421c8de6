"""Small models for tests, registered through MODEL_BACKENDS (never in production)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from models.base import ConversationInput, ConversationOutput, Model


class Echo(Model):
    """Answers at once: exercises the platform, not a model."""

    name = "test-echo"

    def load(self, device: str) -> None:
        self.device = device

    def predict(self, inputs: Sequence[ConversationInput]) -> list[ConversationOutput]:
        return [
            ConversationOutput(
                response=f"echo: {item.message}",
                confidence=0.5,
                metadata={"batch_size": len(inputs), "context_turns": len(item.context)},
            )
            for item in inputs
        ]


class Flaky(Echo):
    """Raises on any batch holding a message with "boom" in it."""

    name = "test-flaky"

    def predict(self, inputs: Sequence[ConversationInput]) -> list[ConversationOutput]:
        for item in inputs:
            if "boom" in item.message:
                raise ValueError(f"cannot handle {item.message!r}")
        return super().predict(inputs)


class Slow(Echo):
    """`sleep:N` takes N seconds; anything else answers at once."""

    name = "test-slow"

    def predict(self, inputs: Sequence[ConversationInput]) -> list[ConversationOutput]:
        delay = max((float(i.message.split(":", 1)[1]) for i in inputs if i.message.startswith("sleep:")), default=0)
        time.sleep(delay)
        return super().predict(inputs)
