"""Builds models by name. Backends are imported only when built, so listing names is cheap
and torch never reaches a process that does not run a model."""

from __future__ import annotations

from importlib import import_module

from models.base import Model
from settings import Settings

BUILTIN_BACKENDS = {
    "empathy-minilm": "models.empathy_minilm:EmpathyMiniLM",
    "causal-lm": "models.causal_lm:CausalLM",
}


class UnknownModelError(LookupError):
    pass


def backends(settings: Settings) -> dict[str, str]:
    """Model name → `module:Class`; `MODEL_BACKENDS` adds to (or overrides) the built-ins."""
    return {**BUILTIN_BACKENDS, **settings.MODEL_BACKENDS}


def check_served_models(settings: Settings) -> None:
    unknown = sorted(set(settings.served_models) - set(backends(settings)))
    if unknown:
        raise UnknownModelError(f"SERVED_MODELS names unknown models: {', '.join(unknown)}")


def build_model(name: str, settings: Settings) -> Model:
    try:
        path = backends(settings)[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}") from None
    module_name, _, class_name = path.partition(":")
    model_class = getattr(import_module(module_name), class_name)
    if not (isinstance(model_class, type) and issubclass(model_class, Model)):
        raise TypeError(f"{path} is not a models.base.Model")
    return model_class.from_settings(settings)
