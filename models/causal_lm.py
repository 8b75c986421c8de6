"""`causal-lm`: any Hugging Face causal language model, by hub id or local path.

Loads with `local_files_only`: nothing is downloaded at run time, so the weights must
already be on disk (`MODEL_PATH`, or a hub id present in the local cache). Prompts go
through the tokenizer's chat template; generation is batched with left padding, and
the confidence is the geometric mean probability of the generated tokens.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from models.base import ConversationInput, ConversationOutput, Model
from models.device import dtype_for, resolve_device
from settings import Settings

SYSTEM_PROMPT = (
    "You are a warm, supportive listener. Reply in one to three sentences: acknowledge how "
    "the person feels, do not diagnose or give medical advice, and invite them to say more."
)


class CausalLM(Model):
    name = "causal-lm"

    def __init__(self, path: str, max_new_tokens: int = 128) -> None:
        self.path = path
        self.max_new_tokens = max_new_tokens

    @classmethod
    def from_settings(cls, settings: Settings) -> CausalLM:
        if not settings.MODEL_PATH:
            raise ValueError("causal-lm needs MODEL_PATH (a local directory or a cached hub id)")
        return cls(settings.MODEL_PATH, max_new_tokens=settings.MAX_NEW_TOKENS)

    def load(self, device: str) -> None:
        self.device = resolve_device(device)
        # B615 (unpinned hub revision) does not apply: local_files_only never downloads.
        path, dtype = self.path, dtype_for(self.device)
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, padding_side="left")  # nosec B615
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)  # nosec B615
        self.model.to(self.device).eval()

    def prompt(self, item: ConversationInput) -> str:
        content = item.message
        if item.context:
            earlier = "\n".join(f"- {turn}" for turn in item.context)
            content = f"Earlier I said:\n{earlier}\n\nNow: {item.message}"
        if self.tokenizer.chat_template:
            messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
            rendered = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return str(rendered)
        return f"{SYSTEM_PROMPT}\n\nUser: {content}\nAssistant:"

    @torch.inference_mode()
    def predict(self, inputs: Sequence[ConversationInput]) -> list[ConversationOutput]:
        if not inputs:
            return []
        batch = self.tokenizer(
            [self.prompt(item) for item in inputs],
            return_tensors="pt",
            padding=True,
            add_special_tokens=not self.tokenizer.chat_template,
        ).to(self.device)
        generated = self.model.generate(
            **batch,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
            output_scores=True,
            return_dict_in_generate=True,
        )
        new_tokens = generated.sequences[:, batch["input_ids"].shape[1] :]
        log_probs = self.model.compute_transition_scores(
            generated.sequences, generated.scores, normalize_logits=True
        ).float()
        outputs = []
        for tokens, token_log_probs in zip(new_tokens, log_probs, strict=True):
            length, finish_reason = self._length(tokens)
            mean_log_prob = token_log_probs[:length].mean().item() if length else float("-inf")
            outputs.append(
                ConversationOutput(
                    response=self.tokenizer.decode(tokens[:length], skip_special_tokens=True).strip(),
                    confidence=math.exp(mean_log_prob) if math.isfinite(mean_log_prob) else 0.0,
                    metadata={"generated_tokens": length, "finish_reason": finish_reason},
                )
            )
        return outputs

    def _length(self, tokens: torch.Tensor) -> tuple[int, str]:
        """Tokens up to and including the first end-of-sequence token."""
        eos_ids = self.model.generation_config.eos_token_id
        eos = set(eos_ids if isinstance(eos_ids, list) else [eos_ids]) - {None}
        for position, token in enumerate(tokens.tolist()):
            if token in eos:
                return position + 1, "stop"
        return len(tokens), "length"
