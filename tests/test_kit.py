"""The shared test kit works: the fake Bot API session and the OpenAI stub server."""

from __future__ import annotations

import openai
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message

from tests.kit import (
    DEFAULT,
    FakeSession,
    OpenAIStub,
    callback_update,
    document_update,
    edited_message_update,
    make_bot,
    message_update,
    photo_update,
    retry_after,
    sticker_update,
    voice_update,
)

# --------------------------------------------------------------------------------------------------
# fake Bot API
# --------------------------------------------------------------------------------------------------


def echo_dispatcher() -> Dispatcher:
    router = Router()

    @router.message(Command("start"))
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(f"start:{command.args or ''}")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    @router.message(F.document)
    async def doc(message: Message, bot: Bot) -> None:
        assert message.document is not None
        data = await bot.download(message.document.file_id)
        assert data is not None
        await message.answer(f"{message.document.file_name}:{data.read().decode()}")

    @router.callback_query(F.data == "ok")
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("done")
        assert isinstance(query.message, Message)
        await query.message.edit_text("pressed")

    dp = Dispatcher()
    dp.include_router(router)
    return dp


async def test_echo_records_send_message(fake_bot: Bot, fake_session: FakeSession) -> None:
    dp = echo_dispatcher()
    await dp.feed_update(fake_bot, message_update(1001, "你好"))
    sent = fake_session.requests_of("sendMessage")
    assert len(sent) == 1
    assert sent[0].params["chat_id"] == 1001
    assert sent[0].params["text"] == "你好"
    assert sent[0].params["parse_mode"] == "HTML"  # bot defaults resolved as the API would see them
    assert isinstance(sent[0].method, SendMessage)
    assert fake_session.sent_texts(chat_id=1001) == ["你好"]
    assert fake_session.sent_texts(chat_id=999) == []


async def test_command_entities_and_filters(fake_bot: Bot, fake_session: FakeSession) -> None:
    update = message_update(7, "/start ref_42")
    assert update.message is not None and update.message.entities is not None
    entity = update.message.entities[0]
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)
    assert update.message.from_user is not None and update.message.from_user.language_code == "zh"
    await echo_dispatcher().feed_update(fake_bot, update)
    assert fake_session.sent_texts() == ["start:ref_42"]


async def test_ids_increment_and_reply_to() -> None:
    first, second = message_update(1, "a"), message_update(1, "b", reply_to_message_id=5, chat_id=-100)
    assert second.update_id == first.update_id + 1
    assert second.message is not None and first.message is not None
    assert second.message.message_id != first.message.message_id
    assert second.message.reply_to_message is not None
    assert second.message.reply_to_message.message_id == 5
    assert second.message.chat.type == "supergroup"


async def test_send_message_defaults(fake_bot: Bot, fake_session: FakeSession) -> None:
    one = await fake_bot.send_message(5, "<b>hi</b>")
    two = await fake_bot.send_message(5, "again")
    assert (one.chat.id, one.text) == (5, "<b>hi</b>")
    assert two.message_id == one.message_id + 1
    me = await fake_bot.get_me()
    assert me.username == "rm_assistant_bot" and me.id == fake_bot.id
    assert await fake_bot.send_chat_action(5, "typing") is True
    assert await fake_bot.delete_webhook() is True
    edited = await fake_bot.edit_message_text("new", chat_id=5, message_id=one.message_id)
    assert isinstance(edited, Message) and edited.message_id == one.message_id
    file = await fake_bot.get_file("abc")
    assert file.file_path == "documents/abc"
    assert fake_session.method_names() == [
        "sendMessage",
        "sendMessage",
        "getMe",
        "sendChatAction",
        "deleteWebhook",
        "editMessageText",
        "getFile",
    ]


async def test_scripted_retry_after(fake_bot: Bot, fake_session: FakeSession) -> None:
    fake_session.script("sendMessage", retry_after(3), DEFAULT)
    with pytest.raises(TelegramRetryAfter) as info:
        await fake_bot.send_message(5, "x")
    assert info.value.retry_after == 3
    assert "retry after 3" in info.value.message
    assert (await fake_bot.send_message(5, "y")).text == "y"  # DEFAULT: next call succeeds
    assert fake_session.sent_texts() == ["x", "y"]  # failed calls are recorded too


async def test_scripted_exception_classes(fake_bot: Bot, fake_session: FakeSession) -> None:
    fake_session.script("send_message", TelegramForbiddenError, TelegramBadRequest, TelegramServerError, TimeoutError)
    with pytest.raises(TelegramForbiddenError, match="blocked"):
        await fake_bot.send_message(5, "a")
    with pytest.raises(TelegramBadRequest):
        await fake_bot.send_message(5, "b")
    with pytest.raises(TelegramServerError):
        await fake_bot.send_message(5, "c")
    with pytest.raises(TelegramNetworkError, match="timeout"):
        await fake_bot.send_message(5, "d")
    fake_session.add_result(TelegramRetryAfter(method=SendMessage(chat_id=5, text="e"), message="m", retry_after=9))
    with pytest.raises(TelegramRetryAfter):
        await fake_bot.send_message(5, "e")


async def test_scripted_values_and_callables(fake_bot: Bot, fake_session: FakeSession) -> None:
    fake_session.add_result(False, lambda method: method.__api_method__ == "setMyCommands")
    assert await fake_bot.delete_webhook() is False
    assert await fake_bot.set_my_commands([]) is True


async def test_callback_and_document_updates(fake_bot: Bot, fake_session: FakeSession) -> None:
    dp = echo_dispatcher()
    await dp.feed_update(fake_bot, callback_update(8, "ok", message_id=77))
    assert fake_session.method_names() == ["answerCallbackQuery", "editMessageText"]
    assert fake_session.requests_of("editMessageText")[0]["message_id"] == 77

    update = document_update(8, file_name="rates.txt", mime_type="text/plain")
    assert update.message is not None and update.message.document is not None
    fake_session.add_file(update.message.document.file_id, b"3.5%")
    await dp.feed_update(fake_bot, update)
    assert fake_session.sent_texts(8) == ["rates.txt:3.5%"]


async def test_other_update_builders() -> None:
    for update in (sticker_update(3), photo_update(3, caption="pic"), voice_update(3)):
        assert update.message is not None and update.message.chat.id == 3
    edited = edited_message_update(3, "fixed", message_id=10)
    assert edited.edited_message is not None and edited.edited_message.edit_date is not None


async def test_make_bot_without_fixture() -> None:
    session = FakeSession()
    bot = make_bot(session)
    await bot.send_message(1, "x")
    assert session.last_request.method_name == "sendMessage"
    await bot.session.close()
    assert session.closed


# --------------------------------------------------------------------------------------------------
# OpenAI stub
# --------------------------------------------------------------------------------------------------


def client_for(stub: OpenAIStub, **kwargs: object) -> openai.AsyncOpenAI:
    kwargs.setdefault("max_retries", 0)
    return openai.AsyncOpenAI(base_url=stub.base_url, api_key=stub.api_key, **kwargs)  # type: ignore[arg-type]


async def test_chat_scripted_replies(openai_stub: OpenAIStub) -> None:
    assert openai_stub.base_url.startswith("http://127.0.0.1:")
    openai_stub.reply("你好，我是助手", lambda req: f"model={req['model']}")
    async with client_for(openai_stub) as client:
        messages = [{"role": "user", "content": "hi"}]
        first = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        second = await client.chat.completions.create(model="m2", messages=messages)  # type: ignore[arg-type]
        third = await client.chat.completions.create(model="m2", messages=messages)  # type: ignore[arg-type]
        assert first.choices[0].message.content == "你好，我是助手"
        assert first.choices[0].finish_reason == "stop"
        assert first.usage is not None and first.usage.total_tokens > 0
        assert second.choices[0].message.content == "model=m2"
        assert third.choices[0].message.content == "Stub answer: hi"  # default reply
        assert [r.json["model"] for r in openai_stub.chat_requests] == ["gpt-4o-mini", "m2", "m2"]
        assert openai_stub.last_request.headers["Authorization"] == f"Bearer {openai_stub.api_key}"


async def test_chat_streaming(openai_stub: OpenAIStub) -> None:
    openai_stub.reply("streamed answer 流式回答")
    async with client_for(openai_stub) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        parts, finish = [], None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
                finish = chunk.choices[0].finish_reason or finish
        assert "".join(parts) == "streamed answer 流式回答"
        assert finish == "stop"


async def test_embeddings_deterministic(openai_stub: OpenAIStub) -> None:
    openai_stub.embedding_dim = 32
    async with client_for(openai_stub) as client:
        batch = await client.embeddings.create(model="text-embedding-3-small", input=["定期存款", "wealth"])
        again = await client.embeddings.create(model="text-embedding-3-small", input="定期存款")
        as_float = await client.embeddings.create(
            model="text-embedding-3-small", input="定期存款", encoding_format="float"
        )
        assert [len(d.embedding) for d in batch.data] == [32, 32]
        assert batch.data[0].embedding != batch.data[1].embedding
        assert again.data[0].embedding == pytest.approx(batch.data[0].embedding, abs=1e-6)
        assert as_float.data[0].embedding == pytest.approx(batch.data[0].embedding, abs=1e-6)
        assert sum(v * v for v in batch.data[0].embedding) == pytest.approx(1.0, abs=1e-4)
        sized = await client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=8)
        assert len(sized.data[0].embedding) == 8


async def test_models(openai_stub: OpenAIStub) -> None:
    async with client_for(openai_stub) as client:
        models = await client.models.list()
    assert "gpt-4o-mini" in [m.id for m in models.data]


async def test_rate_limit_and_server_errors(openai_stub: OpenAIStub) -> None:
    async with client_for(openai_stub) as client:
        messages = [{"role": "user", "content": "hi"}]
        openai_stub.fail(429, retry_after=2)
        openai_stub.fail(500, endpoint="chat")
        openai_stub.fail(503, endpoint="embeddings")
        with pytest.raises(openai.RateLimitError) as info:
            await client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
        assert info.value.response.headers["retry-after"] == "2"
        with pytest.raises(openai.InternalServerError):
            await client.embeddings.create(model="e", input="x")
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
        ok = await client.chat.completions.create(model="m", messages=messages)  # type: ignore[arg-type]
        assert ok.choices[0].message.content


async def test_retries_consume_scripted_errors(openai_stub: OpenAIStub) -> None:
    openai_stub.fail(429, retry_after=0.01, times=2)
    openai_stub.reply("after retries")
    async with client_for(openai_stub, max_retries=2) as client:
        reply = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "after retries"
        assert len(openai_stub.chat_requests) == 3


async def test_delay_forces_timeout(openai_stub: OpenAIStub) -> None:
    openai_stub.delay(5)
    openai_stub.reply("kept for the retry")
    async with client_for(openai_stub, timeout=0.2) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    async with client_for(openai_stub) as client:
        reply = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "kept for the retry"


def test_stub_from_sync_code() -> None:
    with OpenAIStub(embedding_dim=4, require_api_key=True) as stub:
        with openai.OpenAI(base_url=stub.base_url, api_key=stub.api_key, max_retries=0) as client:
            assert len(client.embeddings.create(model="e", input="x").data[0].embedding) == 4
        bad = openai.OpenAI(base_url=stub.base_url, api_key="wrong", max_retries=0)
        with bad, pytest.raises(openai.AuthenticationError):
            bad.models.list()
        assert stub.env()["OPENAI_BASE_URL"] == stub.base_url


async def test_langchain_clients(openai_stub: OpenAIStub) -> None:
    from langchain_openai import ChatOpenAI, OpenAIEmbeddings

    tool_call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    openai_stub.reply("lc answer", {"content": None, "tool_calls": [tool_call]}, "lc stream")
    llm = ChatOpenAI(model="gpt-4o-mini", base_url=openai_stub.base_url, api_key=openai_stub.api_key)
    assert (await llm.ainvoke("hi")).content == "lc answer"
    tools = (await llm.ainvoke("hi")).tool_calls
    assert [t["name"] for t in tools] == ["lookup"]
    assert "".join([str(chunk.content) async for chunk in llm.astream("hi")]) == "lc stream"
    # check_embedding_ctx_length=False: otherwise LangChain downloads a tiktoken vocabulary.
    embeddings = OpenAIEmbeddings(
        model="text-embedding-3-small",
        base_url=openai_stub.base_url,
        api_key=openai_stub.api_key,
        check_embedding_ctx_length=False,
    )
    vectors = await embeddings.aembed_documents(["a", "b"])
    assert [len(v) for v in vectors] == [openai_stub.embedding_dim] * 2
    # LangChain keeps (and caches per base_url) its httpx clients; close them with the test's loop.
    await llm.root_async_client.close()
    await embeddings.async_client._client.close()
