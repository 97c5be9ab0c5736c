"""A fake Bot API for aiogram tests: a recording, scriptable ``BaseSession`` and real ``Update`` builders.

Typical use::

    session = FakeSession()
    bot = make_bot(session)
    await dp.feed_update(bot, message_update(1001, "/start"))
    assert session.sent_texts(chat_id=1001) == ["Hello"]

    session.script("sendMessage", retry_after(3))          # next sendMessage raises TelegramRetryAfter
    session.script("sendMessage", TelegramForbiddenError)  # built exactly like aiogram builds it
    session.add_result(True)                               # next request of any method answers True

Every answer, default or scripted, goes through aiogram's own ``BaseSession.check_response`` so results
are validated against the method's return type and bound to the bot, and errors are the exceptions
aiogram itself raises for that HTTP status and description.
"""

from __future__ import annotations

import inspect
import itertools
import json
import re
from collections import deque
from collections.abc import AsyncGenerator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import (
    RestartingTelegram,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    CallbackQuery,
    Chat,
    ChatFullInfo,
    Document,
    InputFile,
    Message,
    MessageEntity,
    PhotoSize,
    Sticker,
    TelegramObject,
    Update,
    User,
    Voice,
)

__all__ = [
    "BOT_USERNAME",
    "DEFAULT",
    "FakeSession",
    "RecordedRequest",
    "ScriptedError",
    "api_error",
    "bad_request",
    "callback_update",
    "command_entities",
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

BOT_USERNAME = "rm_assistant_bot"
DEFAULT_TOKEN = "42:TEST"


# --------------------------------------------------------------------------------------------------
# scripted outcomes
# --------------------------------------------------------------------------------------------------


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT"


#: Script this to let one call get the session's default answer (e.g. ok, then fail).
DEFAULT: Any = _Default()


@dataclass(frozen=True)
class ScriptedError:
    """An error answer from the Bot API; aiogram's ``check_response`` turns it into its exception."""

    status: int
    description: str
    retry_after: int | None = None
    migrate_to_chat_id: int | None = None

    def content(self) -> str:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        params = {
            k: v
            for k, v in (("retry_after", self.retry_after), ("migrate_to_chat_id", self.migrate_to_chat_id))
            if v is not None
        }
        if params:
            body["parameters"] = params
        return json.dumps(body)


def api_error(status: int, description: str, **parameters: int) -> ScriptedError:
    return ScriptedError(status, description, **parameters)


def retry_after(seconds: int = 1, description: str | None = None) -> ScriptedError:
    """HTTP 429 flood control -> ``TelegramRetryAfter`` with ``.retry_after == seconds``."""
    return ScriptedError(429, description or f"Too Many Requests: retry after {seconds}", retry_after=seconds)


def bad_request(description: str = "Bad Request: message is not modified") -> ScriptedError:
    return ScriptedError(400, description)


def forbidden(description: str = "Forbidden: bot was blocked by the user") -> ScriptedError:
    return ScriptedError(403, description)


def not_found(description: str = "Not Found") -> ScriptedError:
    return ScriptedError(404, description)


def server_error(description: str = "Internal Server Error", status: int = 500) -> ScriptedError:
    return ScriptedError(status, description)


@dataclass(frozen=True)
class _NetworkError:
    message: str


def network_error(message: str = "Request timeout error") -> _NetworkError:
    """What aiogram's aiohttp session raises on a timeout: ``TelegramNetworkError``."""
    return _NetworkError(message)


# exception class -> how aiogram's check_response would be fed to produce it
_ERROR_FOR_CLASS: dict[type[BaseException], Callable[[], Any]] = {
    TelegramRetryAfter: retry_after,
    TelegramBadRequest: bad_request,
    TelegramForbiddenError: forbidden,
    TelegramNotFound: not_found,
    TelegramConflictError: lambda: api_error(409, "Conflict: terminated by other getUpdates request"),
    TelegramUnauthorizedError: lambda: api_error(401, "Unauthorized"),
    TelegramEntityTooLarge: lambda: api_error(413, "Request Entity Too Large"),
    TelegramMigrateToChat: lambda: api_error(
        400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1001
    ),
    RestartingTelegram: lambda: server_error("Internal Server Error: restart"),
    TelegramServerError: server_error,
    TelegramAPIError: lambda: api_error(420, "Unknown error"),
    TelegramNetworkError: network_error,
    TimeoutError: network_error,
}


# --------------------------------------------------------------------------------------------------
# the session
# --------------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One call to the Bot API as the server would receive it."""

    method_name: str  # e.g. "sendMessage"
    method: TelegramMethod[Any]  # the aiogram method object
    params: dict[str, Any]  # defaults resolved (parse_mode="HTML"), None dropped, objects as dicts
    files: dict[str, InputFile] = field(default_factory=dict)  # "attach://<key>" -> InputFile

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


class FakeSession(BaseSession):
    """Records every request and answers plausible defaults unless told otherwise."""

    def __init__(self, *, bot_username: str = BOT_USERNAME) -> None:
        super().__init__()
        self.bot_username = bot_username
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Any] = deque()
        self._scripts: dict[str, deque[Any]] = {}
        self._message_ids = itertools.count(1)
        self.files: dict[str, bytes] = {}  # file_path or file_id -> content served by download
        self.closed = False

    # -- scripting -------------------------------------------------------------------------------

    def add_result(self, *outcomes: Any) -> None:
        """Queue answers for the next requests of *any* method (after method scripts), FIFO.

        An outcome is: a value (Message, True, ...), a ``Response``, a ``ScriptedError`` (see
        ``retry_after``/``bad_request``/...), an aiogram exception class (built as aiogram would), an
        exception instance (raised as is), ``DEFAULT``, or a callable ``(method) -> outcome`` (may be async).
        """
        self._queue.extend(outcomes)

    def script(self, method_name: str, *outcomes: Any) -> None:
        """Queue answers for the next calls of ``method_name`` ("sendMessage" or "send_message")."""
        self._scripts.setdefault(_api_name(method_name), deque()).extend(outcomes)

    def add_file(self, file_path_or_id: str, content: bytes) -> None:
        """Content served by ``bot.download(...)`` / ``bot.download_file(path)``."""
        self.files[file_path_or_id] = content

    def clear(self) -> None:
        self.requests.clear()
        self._queue.clear()
        self._scripts.clear()

    # -- inspection ------------------------------------------------------------------------------

    def requests_of(self, method_name: str) -> list[RecordedRequest]:
        name = _api_name(method_name)
        return [r for r in self.requests if r.method_name == name]

    def sent_messages(self, chat_id: int | str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests_of("sendMessage")
            if chat_id is None or str(r.params.get("chat_id")) == str(chat_id)
        ]

    def sent_texts(self, chat_id: int | str | None = None) -> list[str]:
        """Texts of sendMessage calls, optionally only those to ``chat_id``, in order."""
        return [r.params.get("text", "") for r in self.sent_messages(chat_id)]

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    def method_names(self) -> list[str]:
        return [r.method_name for r in self.requests]

    # -- BaseSession -----------------------------------------------------------------------------

    async def close(self) -> None:
        self.closed = True

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's BaseSession signature
    ) -> TelegramType:
        name = method.__api_method__
        files: dict[str, InputFile] = {}
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None:
                params[key] = prepared
        self.requests.append(RecordedRequest(name, method, params, files))

        script = self._scripts.get(name)
        if script:
            outcome = script.popleft()
        elif self._queue:
            outcome = self._queue.popleft()
        else:
            outcome = DEFAULT
        return await self._resolve(bot, method, params, outcome)

    async def _resolve(
        self, bot: Bot, method: TelegramMethod[TelegramType], params: dict[str, Any], outcome: Any
    ) -> TelegramType:
        if callable(outcome) and not isinstance(outcome, type):
            outcome = outcome(method)
            if inspect.isawaitable(outcome):
                outcome = await outcome
        if isinstance(outcome, type) and issubclass(outcome, BaseException):
            builder = next((b for cls, b in _ERROR_FOR_CLASS.items() if issubclass(outcome, cls)), None)
            if builder is None:
                raise outcome()
            outcome = builder()
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, _NetworkError):
            raise TelegramNetworkError(method=method, message=outcome.message)
        if isinstance(outcome, ScriptedError):
            self.check_response(bot, method, outcome.status, outcome.content())
            raise AssertionError(f"scripted error {outcome} did not raise")  # pragma: no cover
        if isinstance(outcome, Response):
            content = outcome.model_dump_json(exclude_none=True, by_alias=True)
            status = outcome.error_code or (200 if outcome.ok else 400)
            response = self.check_response(bot, method, status, content)
            return response.result  # type: ignore[return-value]
        if outcome is DEFAULT:
            outcome = self._default_result(bot, method, params)
        content = json.dumps({"ok": True, "result": _jsonable(outcome)})
        response = self.check_response(bot, method, 200, content)
        return response.result  # type: ignore[return-value]

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's BaseSession signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        for key, content in self.files.items():
            if url.endswith("/" + key):
                for start in range(0, len(content), chunk_size):
                    yield content[start : start + chunk_size]
                return
        if raise_for_status:
            raise FileNotFoundError(f"FakeSession has no file for {url!r}; use session.add_file(path, bytes)")

    # -- defaults --------------------------------------------------------------------------------

    def bot_user(self, bot: Bot) -> dict[str, Any]:
        return {
            "id": bot.id,
            "is_bot": True,
            "first_name": "RM Assistant",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _message(self, bot: Bot, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id", 0)
        chat: dict[str, Any]
        if isinstance(chat_id, str) and not chat_id.lstrip("-").isdigit():
            chat = {"id": -1000000000001, "type": "channel", "username": chat_id.lstrip("@")}
        else:
            cid = int(chat_id)
            chat = {"id": cid, "type": "private" if cid > 0 else "supergroup"}
        message_id = params.get("message_id") or next(self._message_ids)
        msg: dict[str, Any] = {
            "message_id": message_id,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": chat,
            "from": self.bot_user(bot),
        }
        for key in ("text", "caption", "reply_markup", "entities", "caption_entities"):
            if key in params:
                msg[key] = params[key]
        msg.update(extra)
        return msg

    def _default_result(self, bot: Bot, method: TelegramMethod[Any], params: dict[str, Any]) -> Any:
        name = method.__api_method__
        uid = f"f{len(self.requests)}"
        if name == "getMe":
            return self.bot_user(bot)
        if name in {"sendMessage", "editMessageText", "editMessageCaption", "editMessageReplyMarkup"}:
            if "inline_message_id" in params:
                return True
            extra = {"edit_date": int(datetime.now(UTC).timestamp())} if name.startswith("edit") else {}
            return self._message(bot, params, **extra)
        if name == "sendDocument":
            doc = params.get("document")
            document = getattr(method, "document", None)
            file_name = document.filename if isinstance(document, InputFile) else None
            return self._message(
                bot,
                params,
                document={
                    "file_id": doc if isinstance(doc, str) and not doc.startswith("attach://") else uid,
                    "file_unique_id": uid,
                    "file_name": file_name or "document",
                },
            )
        if name == "sendPhoto":
            return self._message(
                bot, params, photo=[{"file_id": uid, "file_unique_id": uid, "width": 640, "height": 480}]
            )
        if name == "sendVoice":
            return self._message(bot, params, voice={"file_id": uid, "file_unique_id": uid, "duration": 1})
        if name == "sendSticker":
            return self._message(bot, params, sticker=_sticker_dict(uid))
        if name in {"forwardMessage"}:
            return self._message(bot, params, text="(forwarded)")
        if name in {"copyMessage"}:
            return {"message_id": next(self._message_ids)}
        if name == "copyMessages" or name == "forwardMessages":
            return [{"message_id": next(self._message_ids)} for _ in params.get("message_ids", [])]
        if name == "sendMediaGroup":
            return [self._message(bot, params, caption=m.get("caption")) for m in params.get("media", [])]
        if name == "getFile":
            file_id = params["file_id"]
            return {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(self.files.get(file_id, b"")) or 1024,
                "file_path": f"documents/{file_id}",
            }
        if name == "getWebhookInfo":
            return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        if name == "getChatMember":
            return {"status": "member", "user": {"id": params["user_id"], "is_bot": False, "first_name": "U"}}
        if name == "getChat":
            cid = int(params["chat_id"]) if str(params["chat_id"]).lstrip("-").isdigit() else -1001
            return _fill_required(
                ChatFullInfo, {"id": cid, "type": "private" if cid > 0 else "supergroup", "max_reaction_count": 11}
            )
        return _default_for_type(method.__returning__, name)


def _fill_required(model: type[TelegramObject], data: dict[str, Any]) -> dict[str, Any]:
    """Give every required field still missing a neutral value (0, False, "", or a nested object),
    so defaults keep validating as the Bot API adds required fields."""
    for name, info in model.model_fields.items():
        key = info.alias or name
        if not info.is_required() or key in data or name in data:
            continue
        tp = info.annotation
        if isinstance(tp, type) and issubclass(tp, TelegramObject):
            data[key] = _fill_required(tp, {})
        elif tp is bool:
            data[key] = False
        elif tp is str:
            data[key] = ""
        else:
            data[key] = 0
    return data


def _default_for_type(tp: Any, name: str) -> Any:
    origin = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if tp is bool or (args and bool in args):
        return True
    if tp is list or origin is list:
        return []
    if tp is int:
        return 0
    if tp is str:
        return ""
    raise NotImplementedError(
        f"FakeSession has no default answer for {name!r} (returns {tp!r}); "
        f"script one: session.script({name!r}, <value>)"
    )


def _api_name(name: str) -> str:
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _jsonable(value: Any) -> Any:
    if isinstance(value, TelegramObject):
        return value.model_dump(mode="json", exclude_none=True, by_alias=True, warnings=False)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return int(value.timestamp())
    return value


def make_bot(session: FakeSession | None = None, token: str = DEFAULT_TOKEN, **defaults: Any) -> Bot:
    """A real ``Bot`` over a ``FakeSession`` (parse_mode="HTML" unless overridden)."""
    defaults.setdefault("parse_mode", "HTML")
    return Bot(token, session=session or FakeSession(), default=DefaultBotProperties(**defaults))


# --------------------------------------------------------------------------------------------------
# Update builders
# --------------------------------------------------------------------------------------------------

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)
_callback_ids = itertools.count(1)
_file_ids = itertools.count(1)


def reset_ids() -> None:
    """Restart the update/message/callback/file id counters (the ``fake_bot`` fixture does this)."""
    global _update_ids, _message_ids, _callback_ids, _file_ids
    _update_ids = itertools.count(1)
    _message_ids = itertools.count(1)
    _callback_ids = itertools.count(1)
    _file_ids = itertools.count(1)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def make_user(
    user_id: int,
    *,
    language_code: str | None = "zh",
    first_name: str = "Test",
    last_name: str | None = None,
    username: str | None = None,
) -> User:
    return User(
        id=user_id,
        is_bot=False,
        first_name=first_name,
        last_name=last_name,
        username=username,
        language_code=language_code,
    )


def _chat(chat_id: int, user: User) -> Chat:
    if chat_id > 0:
        return Chat(id=chat_id, type="private", first_name=user.first_name, username=user.username)
    return Chat(id=chat_id, type="supergroup", title="Test group")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def command_entities(text: str | None) -> list[MessageEntity] | None:
    """``bot_command`` entities as Telegram would send them (UTF-16 offsets)."""
    if not text:
        return None
    entities = [
        MessageEntity(type="bot_command", offset=_utf16_len(text[: m.start()]), length=_utf16_len(m.group()))
        for m in _COMMAND_RE.finditer(text)
    ]
    return entities or None


def _next_file_id(prefix: str) -> tuple[str, str]:
    n = next(_file_ids)
    return f"{prefix}-file-{n}", f"{prefix}-uniq-{n}"


def _build_message(
    user_id: int,
    *,
    language_code: str | None,
    chat_id: int | None,
    message_id: int | None,
    reply_to_message_id: int | None,
    date: datetime | None,
    user: User | None = None,
    **content: Any,
) -> Message:
    user = user or make_user(user_id, language_code=language_code)
    chat = _chat(chat_id if chat_id is not None else user_id, user)
    reply_to = None
    if reply_to_message_id is not None:
        reply_to = Message(
            message_id=reply_to_message_id,
            date=date or _now(),
            chat=chat,
            from_user=User(id=42, is_bot=True, first_name="RM Assistant", username=BOT_USERNAME),
            text=content.pop("reply_to_text", None) or "…",
        )
    content.pop("reply_to_text", None)
    return Message(
        message_id=message_id if message_id is not None else next(_message_ids),
        date=date or _now(),
        chat=chat,
        from_user=user,
        reply_to_message=reply_to,
        **content,
    )


def _update(update_id: int | None, **event: Any) -> Update:
    return Update(update_id=update_id if update_id is not None else next(_update_ids), **event)


def message_update(
    user_id: int,
    text: str,
    *,
    language_code: str | None = "zh",
    chat_id: int | None = None,
    reply_to_message_id: int | None = None,
    reply_to_text: str | None = None,
    update_id: int | None = None,
    message_id: int | None = None,
    date: datetime | None = None,
    user: User | None = None,
) -> Update:
    """A text message from ``user_id`` (private chat unless ``chat_id`` < 0); /commands get entities."""
    return _update(
        update_id,
        message=_build_message(
            user_id,
            language_code=language_code,
            chat_id=chat_id,
            message_id=message_id,
            reply_to_message_id=reply_to_message_id,
            reply_to_text=reply_to_text,
            date=date,
            user=user,
            text=text,
            entities=command_entities(text),
        ),
    )


def edited_message_update(
    user_id: int,
    text: str,
    *,
    message_id: int,
    language_code: str | None = "zh",
    chat_id: int | None = None,
    update_id: int | None = None,
    date: datetime | None = None,
) -> Update:
    now = _now()
    return _update(
        update_id,
        edited_message=_build_message(
            user_id,
            language_code=language_code,
            chat_id=chat_id,
            message_id=message_id,
            reply_to_message_id=None,
            date=date or now,
            text=text,
            entities=command_entities(text),
            edit_date=int(now.timestamp()),
        ),
    )


def callback_update(
    user_id: int,
    data: str,
    *,
    message_id: int | None = None,
    message_text: str = "…",
    chat_id: int | None = None,
    language_code: str | None = "zh",
    update_id: int | None = None,
    callback_id: str | None = None,
) -> Update:
    """A button press on a bot message (``message_id`` defaults to a fresh id)."""
    user = make_user(user_id, language_code=language_code)
    chat = _chat(chat_id if chat_id is not None else user_id, user)
    message = Message(
        message_id=message_id if message_id is not None else next(_message_ids),
        date=_now(),
        chat=chat,
        from_user=User(id=42, is_bot=True, first_name="RM Assistant", username=BOT_USERNAME),
        text=message_text,
    )
    return _update(
        update_id,
        callback_query=CallbackQuery(
            id=callback_id or str(next(_callback_ids)),
            from_user=user,
            chat_instance=f"ci-{chat.id}",
            data=data,
            message=message,
        ),
    )


def _media_update(
    user_id: int,
    *,
    language_code: str | None,
    chat_id: int | None,
    update_id: int | None,
    caption: str | None,
    reply_to_message_id: int | None = None,
    **media: Any,
) -> Update:
    return _update(
        update_id,
        message=_build_message(
            user_id,
            language_code=language_code,
            chat_id=chat_id,
            message_id=None,
            reply_to_message_id=reply_to_message_id,
            date=None,
            caption=caption,
            caption_entities=command_entities(caption),
            **media,
        ),
    )


def document_update(
    user_id: int,
    *,
    file_name: str = "document.pdf",
    mime_type: str | None = "application/pdf",
    file_size: int | None = 1024,
    file_id: str | None = None,
    caption: str | None = None,
    language_code: str | None = "zh",
    chat_id: int | None = None,
    update_id: int | None = None,
) -> Update:
    """A file upload; pair with ``session.add_file(file_id, bytes)`` so the handler can download it."""
    fid, uid = _next_file_id("doc")
    doc = Document(
        file_id=file_id or fid,
        file_unique_id=uid,
        file_name=file_name,
        mime_type=mime_type,
        file_size=file_size,
    )
    return _media_update(
        user_id,
        language_code=language_code,
        chat_id=chat_id,
        update_id=update_id,
        caption=caption,
        document=doc,
    )


def photo_update(
    user_id: int,
    *,
    caption: str | None = None,
    sizes: Iterable[tuple[int, int]] = ((90, 60), (320, 240), (1280, 960)),
    language_code: str | None = "zh",
    chat_id: int | None = None,
    update_id: int | None = None,
) -> Update:
    photo = []
    for width, height in sizes:
        fid, uid = _next_file_id("photo")
        photo.append(
            PhotoSize(file_id=fid, file_unique_id=uid, width=width, height=height, file_size=width * height // 10)
        )
    return _media_update(
        user_id,
        language_code=language_code,
        chat_id=chat_id,
        update_id=update_id,
        caption=caption,
        photo=photo,
    )


def voice_update(
    user_id: int,
    *,
    duration: int = 3,
    mime_type: str = "audio/ogg",
    language_code: str | None = "zh",
    chat_id: int | None = None,
    update_id: int | None = None,
) -> Update:
    fid, uid = _next_file_id("voice")
    voice = Voice(file_id=fid, file_unique_id=uid, duration=duration, mime_type=mime_type, file_size=duration * 2000)
    return _media_update(
        user_id, language_code=language_code, chat_id=chat_id, update_id=update_id, caption=None, voice=voice
    )


def _sticker_dict(uid: str, emoji: str = "👍") -> dict[str, Any]:
    return {
        "file_id": uid,
        "file_unique_id": uid,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
    }


def sticker_update(
    user_id: int,
    *,
    emoji: str = "👍",
    language_code: str | None = "zh",
    chat_id: int | None = None,
    update_id: int | None = None,
) -> Update:
    fid, _uid = _next_file_id("sticker")
    sticker = Sticker.model_validate(_sticker_dict(fid, emoji))
    return _media_update(
        user_id,
        language_code=language_code,
        chat_id=chat_id,
        update_id=update_id,
        caption=None,
        sticker=sticker,
    )
