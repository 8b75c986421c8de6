"""The offline default model, loaded once for the module (real weights, CPU)."""

import json

import pytest

from models.base import ConversationInput
from models.empathy_minilm import DATA_DIR, LABELS, EmpathyMiniLM


@pytest.fixture(scope="module")
def model():
    loaded = EmpathyMiniLM()
    loaded.load("cpu")
    return loaded


def test_data_files_cover_every_label():
    prototypes = json.loads((DATA_DIR / "prototypes.json").read_text())
    replies = json.loads((DATA_DIR / "replies.json").read_text())
    assert set(prototypes) == set(LABELS)
    assert set(replies) == set(LABELS)
    assert sum(len(bank) for bank in replies.values()) >= 150
    assert all(len(bank) >= 10 for bank in replies.values())


def test_outputs_carry_emotion_scores_and_a_reply_from_the_bank(model):
    replies = json.loads((DATA_DIR / "replies.json").read_text())
    (output,) = model.predict([ConversationInput("I can't sleep, my exam is tomorrow and I'm terrified")])
    assert output.metadata["emotion"] == "anxiety"
    assert set(output.metadata["emotion_scores"]) == set(LABELS)
    assert sum(output.metadata["emotion_scores"].values()) == pytest.approx(1, abs=1e-4)
    assert output.confidence == pytest.approx(max(output.metadata["emotion_scores"].values()), abs=1e-5)
    assert 0 <= output.confidence <= 1
    assert output.response in replies["anxiety"]
    assert output.metadata["crisis"] is False


@pytest.mark.parametrize(
    ("message", "emotion"),
    [
        ("Thank you so much for helping me move house, I couldn't have done it without you", "gratitude"),
        ("Our dog died this morning and the house is so quiet", "grief"),
        ("My manager took credit for my work again in front of everyone, I'm furious", "anger"),
        ("What are your opening hours?", "neutral"),
    ],
)
def test_clear_messages_get_their_emotion(model, message, emotion):
    assert model.predict([ConversationInput(message)])[0].metadata["emotion"] == emotion


def test_batching_does_not_change_answers(model):
    messages = ["I passed!", "I feel so alone lately", "ok", "I yelled at my sister and I regret it so much"]
    batched = model.predict([ConversationInput(m) for m in messages])
    single = [model.predict([ConversationInput(m)])[0] for m in messages]
    assert [o.response for o in batched] == [o.response for o in single]
    for b, s in zip(batched, single, strict=True):
        assert b.confidence == pytest.approx(s.confidence, abs=1e-4)


def test_context_informs_the_emotion(model):
    plain = model.predict([ConversationInput("It happened again today.")])[0]
    with_context = model.predict(
        [ConversationInput("It happened again today.", ("My boss screams at me in meetings",))]
    )[0]
    assert with_context.metadata["emotion_scores"] != plain.metadata["emotion_scores"]


def test_crisis_messages_get_the_safety_reply(model):
    crisis = json.loads((DATA_DIR / "crisis.json").read_text())
    (output,) = model.predict([ConversationInput("I just want to end my life")])
    assert output.metadata["crisis"] is True
    assert output.response == crisis["reply"]


def test_empty_batch(model):
    assert model.predict([]) == []
