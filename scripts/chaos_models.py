"""A stand-in model for `make chaos`: steady and cheap, so a run is about the platform."""

from __future__ import annotations

import time
from collections.abc import Sequence

from models.base import ConversationInput, ConversationOutput, Model

SECONDS_PER_JOB = 0.005


class Steady(Model):
    name = "chaos"

    def load(self, device: str) -> None:
        self.device = device

    def predict(self, inputs: Sequence[ConversationInput]) -> list[ConversationOutput]:
        time.sleep(SECONDS_PER_JOB * len(inputs))
        return [ConversationOutput(response=f"heard: {item.message}", confidence=1.0) for item in inputs]
