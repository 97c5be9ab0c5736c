"""A local HTTP server speaking OpenAI's API, for tests that use the real ``openai`` / LangChain clients.

It runs aiohttp on 127.0.0.1 (random port) in a background thread with its own event loop, so it
works from sync and async tests alike::

    with OpenAIStub() as stub:                      # or the ``openai_stub`` fixture
        stub.reply("你好", lambda req: "second")   # queued chat replies, then ``default_reply``
        stub.fail(429, retry_after=2)              # next call answers 429 with Retry-After
        stub.fail(500, endpoint="embeddings")      # next embeddings call answers 500
        stub.delay(5)                              # next call sleeps 5 s first (client timeouts)
        stub.latency = 0.01                        # every call
        client = openai.AsyncOpenAI(base_url=stub.base_url, api_key=stub.api_key)

Endpoints: ``POST /v1/chat/completions`` (also ``stream: true`` as SSE), ``POST /v1/embeddings``
(deterministic unit vectors from a hash of each input; ``embedding_dim`` or the request's
``dimensions``; ``encoding_format`` float or base64), ``GET /v1/models`` and ``/v1/models/{id}``.
Every request is recorded in ``stub.requests``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["OpenAIStub", "RecordedCall", "deterministic_embedding", "echo_draft"]

Reply = str | dict[str, Any] | Callable[[dict[str, Any]], "str | dict[str, Any]"]

_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
    500: ("server_error", None),
    502: ("server_error", None),
    503: ("server_error", "overloaded"),
}


@dataclass
class RecordedCall:
    method: str
    path: str
    endpoint: str  # "chat", "embeddings", "models"
    headers: dict[str, str]
    json: dict[str, Any] | None

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = (self.json or {}).get("messages", [])
        return messages

    @property
    def last_user_text(self) -> str:
        return _last_user_text(self.json or {})


@dataclass
class _Fault:
    endpoint: str | None
    status: int | None = None
    message: str = ""
    retry_after: float | None = None
    delay: float = 0.0
    body: Any = None


@dataclass
class _State:
    replies: deque[Reply] = field(default_factory=deque)
    faults: deque[_Fault] = field(default_factory=deque)


def deterministic_embedding(text: str, dim: int) -> list[float]:
    """A unit vector derived from sha256(text): same text -> same vector, across runs and processes."""
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        for (n,) in struct.iter_unpack(">I", digest):
            values.append(n / 0xFFFFFFFF * 2.0 - 1.0)
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def echo_draft(body: dict[str, Any]) -> str:
    """A reply that returns the draft the personaliser sent (between <<< and >>>) unchanged, so it passes the
    checks: for benchmarks and concurrency tests of the drafting path."""
    user = _last_user_text(body)
    found = re.search(r"<<<\n(.*)\n>>>", user, re.S)
    return found.group(1) if found else user


def _count_tokens(text: str) -> int:
    return max(1, len(text.split()) + sum(1 for ch in text if ord(ch) > 0x2E80))


class OpenAIStub:
    """See module docstring. ``start()``/``stop()`` or use as a context manager."""

    def __init__(
        self,
        *,
        api_key: str = "sk-stub",
        require_api_key: bool = False,
        embedding_dim: int = 64,
        models: tuple[str, ...] = ("gpt-4o-mini", "text-embedding-3-small"),
        default_reply: Reply | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
    ) -> None:
        self.api_key = api_key
        self.require_api_key = require_api_key
        self.embedding_dim = embedding_dim
        self.models = list(models)
        self.default_reply: Reply = default_reply or (lambda body: f"Stub answer: {_last_user_text(body)}")
        self.latency: float = latency
        self.in_flight = 0  # chat calls being answered now, and the most at once (concurrency checks)
        self.max_in_flight = 0
        self.requests: list[RecordedCall] = []
        self.host = host
        self.port: int = 0
        self._state = _State()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._closing: asyncio.Event | None = None
        self._ids = 0

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def env(self) -> dict[str, str]:
        """Environment for code that reads OPENAI_* settings (use with ``monkeypatch.setenv``)."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": self.api_key}

    def start(self) -> OpenAIStub:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._loop = loop

        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="openai-stub", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            self._thread = None
            raise RuntimeError("OpenAI stub did not start") from (failure[0] if failure else None)
        return self

    async def _serve(self) -> None:
        self._closing = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model}", self._model)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            if self._closing is not None:
                self._closing.set()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------------------------

    def reply(self, *replies: Reply) -> None:
        """Queue chat replies, used in order. A reply is text, a message dict (e.g. with ``tool_calls``),
        or a callable ``(request_json) -> text | dict``. When the queue is empty ``default_reply`` answers.
        """
        with self._lock:
            self._state.replies.extend(replies)

    def fail(
        self,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: float | None = None,
        message: str | None = None,
        endpoint: str | None = None,
        body: Any = None,
    ) -> None:
        """The next ``times`` calls (to ``endpoint``: "chat"/"embeddings"/"models", or any) answer ``status``
        with an OpenAI error body (and a ``Retry-After`` header when ``retry_after`` is given)."""
        fault = _Fault(endpoint, status, message or f"Stub error {status}", retry_after, 0.0, body)
        with self._lock:
            self._state.faults.extend([fault] * times)

    def delay(self, seconds: float, *, times: int = 1, endpoint: str | None = None) -> None:
        """The next ``times`` calls sleep ``seconds`` before answering (to force client timeouts).
        A delayed call answers ``default_reply`` and does not consume a queued reply, so a reply
        queued for the client's retry is still there."""
        with self._lock:
            self._state.faults.extend([_Fault(endpoint, delay=seconds)] * times)

    def reset(self) -> None:
        with self._lock:
            self._state = _State()
            self.requests.clear()
            self.latency = 0.0

    # -- inspection ------------------------------------------------------------------------------

    def calls(self, endpoint: str | None = None) -> list[RecordedCall]:
        return [r for r in self.requests if endpoint is None or r.endpoint == endpoint]

    @property
    def chat_requests(self) -> list[RecordedCall]:
        return self.calls("chat")

    @property
    def embedding_requests(self) -> list[RecordedCall]:
        return self.calls("embeddings")

    @property
    def last_request(self) -> RecordedCall:
        return self.requests[-1]

    @property
    def pending_replies(self) -> int:
        return len(self._state.replies)

    # -- handlers --------------------------------------------------------------------------------

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        assert self._closing is not None
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except TimeoutError:
            pass

    async def _prelude(self, request: web.Request, endpoint: str) -> tuple[dict[str, Any], web.Response | None, bool]:
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                return body, _error(400, "Invalid JSON body"), False
        self.requests.append(RecordedCall(request.method, request.path, endpoint, dict(request.headers), body))
        await self._sleep(self.latency)
        if self.require_api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return body, _error(401, "Incorrect API key provided"), False
        with self._lock:
            fault = next((f for f in self._state.faults if f.endpoint in (None, endpoint)), None)
            if fault is not None:
                self._state.faults.remove(fault)
        if fault is None:
            return body, None, False
        if fault.status is None:
            await self._sleep(fault.delay)
            return body, None, True
        headers = {"Retry-After": _fmt_seconds(fault.retry_after)} if fault.retry_after is not None else None
        if fault.body is not None:
            return body, web.json_response(fault.body, status=fault.status, headers=headers), False
        return body, _error(fault.status, fault.message, headers), False

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}-stub{self._ids:06d}"

    def _take_reply(self, body: dict[str, Any], delayed: bool) -> dict[str, Any]:
        reply: Reply
        with self._lock:
            reply = self._state.replies.popleft() if self._state.replies and not delayed else self.default_reply
        if callable(reply):
            reply = reply(body)
        if isinstance(reply, dict):
            return {"role": "assistant", "content": None, **reply}
        return {"role": "assistant", "content": str(reply)}

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._answer_chat(request)
        finally:
            self.in_flight -= 1

    async def _answer_chat(self, request: web.Request) -> web.StreamResponse:
        body, error, delayed = await self._prelude(request, "chat")
        if error is not None:
            return error
        if not body.get("messages"):
            return _error(400, "'messages' is a required property")
        message = self._take_reply(body, delayed)
        model = body.get("model") or self.models[0]
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        prompt_tokens = sum(_count_tokens(json.dumps(m.get("content"), ensure_ascii=False)) for m in body["messages"])
        completion_tokens = _count_tokens(message.get("content") or "")
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id = self._next_id("chatcmpl")
        created = int(time.time())
        if body.get("stream"):
            return await self._stream(request, body, message, model, finish, usage, completion_id, created)
        return web.json_response(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_stub",
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": usage,
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        message: dict[str, Any],
        model: str,
        finish: str,
        usage: dict[str, int],
        completion_id: str,
        created: int,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
            return {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_stub",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }

        async def send(payload: dict[str, Any]) -> None:
            await response.write(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())

        await send(chunk({"role": "assistant", "content": ""}, None))
        for piece in _pieces(message.get("content") or ""):
            await send(chunk({"content": piece}, None))
        if message.get("tool_calls"):
            calls = [{"index": i, **call} for i, call in enumerate(message["tool_calls"])]
            await send(chunk({"tool_calls": calls}, None))
        await send(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            await send({**chunk({}, None), "choices": [], "usage": usage})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.Response:
        body, error, _delayed = await self._prelude(request, "embeddings")
        if error is not None:
            return error
        raw = body.get("input")
        if raw is None or raw == [] or raw == "":
            return _error(400, "'input' is a required property")
        if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)):
            inputs: list[Any] = [raw]
        else:
            inputs = list(raw)
        dim = int(body.get("dimensions") or self.embedding_dim)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for index, item in enumerate(inputs):
            text = item if isinstance(item, str) else json.dumps(item)
            tokens += _count_tokens(text)
            vector = deterministic_embedding(text, dim)
            embedding: Any = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode() if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or self.models[-1],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def _model_obj(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 1700000000, "owned_by": "stub"}

    async def _models(self, request: web.Request) -> web.Response:
        _body, error, _delayed = await self._prelude(request, "models")
        if error is not None:
            return error
        return web.json_response({"object": "list", "data": [self._model_obj(m) for m in self.models]})

    async def _model(self, request: web.Request) -> web.Response:
        _body, error, _delayed = await self._prelude(request, "models")
        if error is not None:
            return error
        name = request.match_info["model"]
        if name not in self.models:
            return _error(404, f"The model '{name}' does not exist")
        return web.json_response(self._model_obj(name))


def _pieces(text: str) -> Iterator[str]:
    """Split text into small chunks for streaming (words, or a few CJK characters)."""
    buf = ""
    for ch in text:
        buf += ch
        if ch.isspace() or len(buf) >= 4:
            yield buf
            buf = ""
    if buf:
        yield buf


def _fmt_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    err_type, code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return web.json_response(
        {"error": {"message": message, "type": err_type, "param": None, "code": code}},
        status=status,
        headers=headers,
    )
