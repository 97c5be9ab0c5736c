"""Shared test kit: a fake Bot API session for aiogram, Update builders, and an OpenAI-compatible stub server.

Enable the fixtures with ``pytest_plugins = ["tests.kit.fixtures"]`` (or ``-p tests.kit.fixtures``).
"""

import sys

from tools.fakes import bot_api, openai_stub
from tools.fakes.bot_api import (
    BOT_USERNAME,
    DEFAULT,
    FakeSession,
    RecordedRequest,
    ScriptedError,
    api_error,
    bad_request,
    callback_update,
    command_entities,
    document_update,
    edited_message_update,
    forbidden,
    make_bot,
    make_user,
    message_update,
    network_error,
    not_found,
    photo_update,
    reset_ids,
    retry_after,
    server_error,
    sticker_update,
    voice_update,
)
from tools.fakes.openai_stub import OpenAIStub, RecordedCall, deterministic_embedding

# The fakes moved to tools/fakes/ (shared with the tools); the old module paths still import.
sys.modules[f"{__name__}.fake_bot"] = bot_api
sys.modules[f"{__name__}.openai_stub"] = openai_stub

__all__ = [
    "BOT_USERNAME",
    "DEFAULT",
    "FakeSession",
    "OpenAIStub",
    "RecordedCall",
    "RecordedRequest",
    "ScriptedError",
    "api_error",
    "bad_request",
    "callback_update",
    "command_entities",
    "deterministic_embedding",
    "document_update",
    "edited_message_update",
    "forbidden",
    "make_bot",
    "make_user",
    "message_update",
    "network_error",
    "not_found",
    "photo_update",
    "reset_ids",
    "retry_after",
    "server_error",
    "sticker_update",
    "voice_update",
]
