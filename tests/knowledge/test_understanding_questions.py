"""A question about what one may do ('Can I change my limit?') is a question for the documents; asking
the bot to do it ('Raise my limit') is an action it cannot perform. Messages not in the examples."""

from __future__ import annotations

import pytest

from knowledge.understanding import shared


@pytest.mark.parametrize(("text", "lang"), [
    ("Can I change my daily transfer limit?", "en"),
    ("我可以改每日转账限额吗", "zh"),
])
def test_asking_whether_one_may_is_not_an_action(text: str, lang: str) -> None:
    assert shared().classify(text, default_lang=lang).intent != "action"


@pytest.mark.parametrize(("text", "lang"), [
    ("Please raise my transfer limit to 100,000", "en"),
    ("帮我把转账限额调到10万", "zh"),
])
def test_asking_the_bot_to_do_it_is_an_action(text: str, lang: str) -> None:
    assert shared().classify(text, default_lang=lang).intent == "action"
