"""The one interface every model implements, and the small types it speaks.

A model has a name, loads once onto a device, and maps a batch of inputs to a batch
of outputs, in order. Nothing here imports torch: the API reads this module too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from settings import Settings


@dataclass(frozen=True, slots=True)
class ConversationInput:
    message: str
    context: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConversationOutput:
    response: str
    confidence: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is outside [0, 1]")


class Model(ABC):
    """A conversation model served by workers.

    `load` runs once per worker process, after fork; `predict` may then be called
    many times, from one thread at a time.
    """

    name: ClassVar[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Model:
        return cls()

    @abstractmethod
    def load(self, device: str) -> None: ...

    @abstractmethod
    def predict(self, inputs: Sequence[ConversationInput]) -> list[ConversationOutput]:
        """One output per input, in the same order."""
