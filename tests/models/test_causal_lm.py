"""`causal-lm` with a tiny random model saved by `save_pretrained` and loaded through the real code."""

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from models.base import ConversationInput
from models.registry import build_model
from settings import Settings

CHAT_TEMPLATE = (
    "{% for m in messages %}<s> {{ m['role'] }} : {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s> assistant :{% endif %}"
)
CORPUS = [
    "you are a warm supportive listener reply in one to three sentences",
    "i feel sad today and i cannot sleep before my exams",
    "that sounds hard tell me more about how you feel",
    "earlier i said now system user assistant",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<s>", "</s>"]))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    fast.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
    )  # fmt: skip
    import torch

    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model(model_dir):
    built = build_model("causal-lm", Settings(ENVIRONMENT="development", MODEL_PATH=str(model_dir), MAX_NEW_TOKENS=8))
    built.load("cpu")
    return built


def test_registry_requires_a_model_path():
    with pytest.raises(ValueError, match="MODEL_PATH"):
        build_model("causal-lm", Settings(ENVIRONMENT="development"))


def test_batched_generation_with_left_padding_matches_one_by_one(model):
    inputs = [
        ConversationInput("i feel sad"),
        ConversationInput("i cannot sleep before my exams and i feel sad today", ("earlier i said",)),
        ConversationInput("tell me more"),
    ]
    batched = model.predict(inputs)
    single = [model.predict([item])[0] for item in inputs]
    assert [o.response for o in batched] == [o.response for o in single]
    for b, s in zip(batched, single, strict=True):
        assert b.confidence == pytest.approx(s.confidence, abs=1e-3)


def test_outputs_are_bounded_and_described(model):
    for output in model.predict([ConversationInput("hello"), ConversationInput("i feel sad")]):
        assert 0 <= output.confidence <= 1
        assert 1 <= output.metadata["generated_tokens"] <= 8
        assert output.metadata["finish_reason"] in {"stop", "length"}


def test_prompt_uses_the_chat_template(model):
    prompt = model.prompt(ConversationInput("hello", ("before",)))
    assert prompt.startswith("<s> system :") and prompt.endswith("<s> assistant :")
    assert "before" in prompt and "hello" in prompt
