"""pytest plugin with the kit's fixtures; enable with ``pytest_plugins = ["tests.kit.fixtures"]``.

Database fixtures live in ``tests/conftest.py`` (owned by the lead), not here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiogram import Bot

from tools.fakes.bot_api import FakeSession, make_bot, reset_ids
from tools.fakes.openai_stub import OpenAIStub


@pytest.fixture
def fake_session() -> FakeSession:
    """A fresh recording, scriptable Bot API session; update/message ids restart at 1."""
    reset_ids()
    return FakeSession()


@pytest.fixture
def fake_bot(fake_session: FakeSession) -> Bot:
    """A real ``Bot`` (token "42:TEST", parse_mode HTML) over ``fake_session``."""
    return make_bot(fake_session)


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    """A running OpenAI-compatible stub server: ``.base_url`` ("http://127.0.0.1:PORT/v1"), ``.api_key``."""
    with OpenAIStub() as stub:
        yield stub
