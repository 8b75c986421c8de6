"""Top-1 emotion accuracy of `empathy-minilm` on a held-out labelled set.

The evaluation set (scripts/data/emotion_eval.jsonl) was written apart from the
model's prototypes and is never used to tune them; scripts/data/emotion_dev.jsonl
is the set for tuning.

    python -m scripts.eval_emotions [--data PATH] [--device cpu] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from models.base import ConversationInput
from models.empathy_minilm import LABELS, EmpathyMiniLM

DATA_DIR = Path(__file__).parent / "data"


def load_examples(path: Path) -> list[tuple[ConversationInput, str]]:
    examples = []
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            context = (row["context"],) if row.get("context") else ()
            examples.append((ConversationInput(message=row["text"], context=context), row["label"]))
    return examples


def evaluate(model: EmpathyMiniLM, examples: list[tuple[ConversationInput, str]]) -> dict[str, object]:
    outputs = model.predict([item for item, _ in examples])
    predicted = [output.metadata["emotion"] for output in outputs]
    gold = [label for _, label in examples]
    correct = Counter(g for g, p in zip(gold, predicted, strict=True) if g == p)
    totals = Counter(gold)
    confusions = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    return {
        "examples": len(examples),
        "accuracy": round(sum(correct.values()) / len(examples), 4),
        "per_label": {label: round(correct[label] / totals[label], 3) for label in LABELS if totals[label]},
        "top_confusions": [f"{g} -> {p}: {n}" for (g, p), n in confusions.most_common(8)],
        "mean_confidence": round(sum(o.confidence for o in outputs) / len(outputs), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA_DIR / "emotion_eval.jsonl")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)

    model = EmpathyMiniLM()
    model.load(args.device)
    report = evaluate(model, load_examples(args.data))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{args.data.name}: {report['examples']} messages, top-1 accuracy {report['accuracy']:.3f}")
    for label, accuracy in report["per_label"].items():  # type: ignore[attr-defined]
        print(f"  {label:<11} {accuracy:.2f}")
    print("most frequent confusions:", ", ".join(report["top_confusions"]) or "none")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
