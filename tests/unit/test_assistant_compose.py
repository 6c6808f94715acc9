"""The prompt assistant never loses the user's words, and checks what its model adds (no model needed)."""

from __future__ import annotations

import pytest

from housify_ai.assistant import ModelChoice, compose, user_words
from housify_ai.contract import PromptAssistRequest
from housify_ai.prompt_vocabulary import BASE_NEGATIVE, DETAIL_KINDS, DETAIL_LIMITS, DETAILS, KIND_OF, TIPS


def ask(idea: str, room: str | None = None, style: str | None = None) -> PromptAssistRequest:
    return PromptAssistRequest(idea=idea, room_type=room, style=style)


def test_the_prompt_starts_with_room_type_style_and_the_words_as_written():
    request = ask("a cozy  reading corner.", "living room", "japandi")
    assert user_words(request) == "living room, japandi style, a cozy reading corner"
    answer = compose(request, ModelChoice(details=["soft natural light", "light oak floor"]))
    assert answer.prompt == "living room, japandi style, a cozy reading corner, soft natural light, light oak floor"
    assert answer.added == ["soft natural light", "light oak floor"]


def test_a_room_type_or_style_the_words_already_name_is_not_repeated():
    assert user_words(ask("Japandi living room with a low sofa", "living room", "japandi")) == (
        "Japandi living room with a low sofa"
    )


@pytest.mark.parametrize(
    ("details", "kept"),
    [
        (["Namun nach nach japandi"], []),  # not in the vocabulary: gibberish, another language
        (["soft natural light", "soft natural light"], ["soft natural light"]),  # repetition
        (["indoor plants"], []),  # says nothing new: the user already asked for plants
        (["wide-angle interior photo", "bogus", "high detail"], ["wide-angle interior photo", "high detail"]),
    ],
)
def test_unlisted_repeated_or_empty_details_are_dropped(details, kept):
    answer = compose(ask("bedroom with indoor plants"), ModelChoice(details=details))
    assert answer.added == kept
    assert answer.prompt.startswith("bedroom with indoor plants")
    assert "Namun" not in answer.prompt


def test_one_light_and_one_palette_at_most():
    """Two light sources contradict each other ("soft natural light, warm evening light"): the second is
    dropped, as is a second palette; materials combine, and the kinds' limits count only kept details."""
    picks = ["soft natural light", "warm evening light", "light oak floor", "wool rug", "muted earth tones"]
    answer = compose(ask("a calm bedroom"), ModelChoice(details=[*picks, "navy blue accents"]))
    assert answer.added == ["soft natural light", "light oak floor", "wool rug", "muted earth tones"]
    # A light that says nothing new does not use up the kind: the next one is kept.
    assert compose(ask("soft natural light"), ModelChoice(details=picks[:2])).added == ["warm evening light"]


def test_every_detail_has_a_kind_and_every_limit_a_known_kind():
    assert set(KIND_OF) == set(DETAILS) and set(DETAIL_LIMITS) <= set(DETAIL_KINDS)


def test_the_negative_prompt_never_holds_the_users_words_or_presets():
    request = ask("people at dinner in a warm room", "dining room", "rustic")
    answer = compose(request, ModelChoice(avoid=["clutter", "cartoon", "made up"]))
    negative = answer.negative_prompt.split(", ")
    assert "people" not in negative  # the user asked for people
    assert "rustic" not in answer.negative_prompt and "dining" not in answer.negative_prompt
    assert negative[-2:] == ["clutter", "cartoon"] and "made up" not in negative
    assert set(BASE_NEGATIVE) - {"people"} <= set(negative)


def test_a_model_that_gave_nothing_still_gives_the_words_and_a_tip():
    answer = compose(ask("sunny breakfast nook"), ModelChoice())
    assert (answer.prompt, answer.added, answer.notes) == ("sunny breakfast nook", [], TIPS[0])
    assert compose(ask("x"), ModelChoice(tip="made up tip")).notes == TIPS[0]


def test_the_vocabulary_is_lowercase_unique_and_short():
    assert len(set(DETAILS)) == len(DETAILS)
    assert all(d == d.lower() and len(d.split()) <= 5 for d in DETAILS)
