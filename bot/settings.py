"""Settings from the environment and a `.env` file.

One class, read once in `main()` (or a CLI command) and passed down; nothing reads the
environment at import time. A wrong value becomes one clear line naming the setting.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_WEBHOOK_SECRET = 32
WEBHOOK_SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it."""


def parse_hhmm(value: str) -> time:
    """A time of day written HH:MM (the one parser: settings, quiet hours, job times). ValueError otherwise."""
    try:
        hours, minutes = (int(part) for part in value.split(":"))
        return time(hours, minutes)
    except ValueError as exc:
        raise ValueError(f"must be a time of day HH:MM, got {value!r}") from exc


def _hhmm(value: str, name: str) -> str:
    try:
        return parse_hhmm(value).strftime("%H:%M")
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Telegram
    bot_token: SecretStr | None = Field(None, description="Bot token from @BotFather; empty runs without a bot")
    bot_username: str = Field("", description="The bot's @username for invite links; empty asks the Bot API")
    telegram_api_base: str = Field("", description="Bot API server base URL; empty means Telegram")
    webhook_url: str = Field("", description="Public URL for the webhook; empty means long polling")
    webhook_secret: SecretStr | None = Field(
        None, description="Secret token Telegram sends with webhook calls; required with WEBHOOK_URL "
        "(32-256 of A-Z a-z 0-9 _ -, e.g. `openssl rand -hex 32`)")
    admin_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="Telegram user ids of admins, comma separated"
    )

    # Storage
    data_dir: Path = Field(Path("var"), description="Workspace directory for the embedded defaults")
    database_url: str = Field("", description="SQLAlchemy async URL; default SQLite in DATA_DIR")
    chroma_path: Path | None = Field(None, description="Embedded Chroma directory; default DATA_DIR/chroma")
    chroma_url: str = Field("", description="Chroma server URL (http://host:8000); overrides CHROMA_PATH")
    redis_url: str = Field("", description="Redis URL for shared FSM state and the shared rate limit")
    sqlite_busy_timeout_s: float = Field(
        30.0, gt=0, le=600, description="How long a SQLite write waits for another writer's lock, seconds")

    backup_key: SecretStr | None = Field(
        None, description="Fernet key that encrypts `rmbot backup` archives (make one with `rmbot backup-key`); "
        "required outside the demo")

    # LLM (all optional)
    openai_api_key: SecretStr | None = Field(None, description="API key of an OpenAI-compatible endpoint")
    openai_base_url: str = Field("", description="Base URL of an OpenAI-compatible endpoint")
    openai_chat_model: str = Field("gpt-4o-mini", description="Chat model name")
    openai_embedding_model: str = Field("", description="Embedding model; empty uses the offline default")
    llm_timeout_s: float = Field(20.0, gt=0, description="Timeout of one LLM call, seconds")

    # Bank rules and time
    timezone: str = Field("Asia/Shanghai", description="Bank's time zone (IANA name)")
    quiet_hours_start: str = Field("21:00", description="Start of clients' night, local time")
    quiet_hours_end: str = Field("08:00", description="End of clients' night, local time")
    plan_at: str = Field("07:00", description="Daily planning time, bank time zone")
    marketing_daily_cap: int = Field(1, ge=0, description="Marketing messages per client per day")
    marketing_weekly_cap: int = Field(3, ge=0, description="Marketing messages per client per 7 days")
    qingming_greeting: bool = Field(True, description="Send a quiet 安康 wish on Qingming (never 快乐)")

    # Delivery
    send_rate_per_s: float = Field(29.0, gt=0, description="Deployment-wide sending rate (Telegram ~30/s)")
    chat_interval_s: float = Field(1.05, ge=0, description="Minimum spacing between sends to one chat")

    # Knowledge
    kb_max_file_mb: float = Field(20.0, gt=0, description="Largest knowledge file accepted, MB")
    kb_embedding: str = Field("e5", description="Offline dense channel: e5 (default), use, lexical (BM25 only)")

    # Web console
    web_host: str = Field("127.0.0.1", description="Console/webhook listen address")
    web_port: int = Field(8080, ge=1, le=65535, description="Console/webhook port")
    public_url: str = Field("", description="Public base URL of the console for login links; "
                            "https makes the session cookie Secure")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Proxies trusted for X-Forwarded-For/-Proto (comma separated addresses or "
        "networks; the TLS-terminating proxy's)")

    # Logs
    log_format: str = Field("console", description="console or json")
    log_level: str = Field("INFO", description="Log level")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            try:
                return [int(p) for p in parts]
            except ValueError as exc:
                raise ValueError(f"ADMIN_IDS must be numeric Telegram ids, got {value!r}") from exc
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("quiet_hours_start", "quiet_hours_end", "plan_at")
    @classmethod
    def _times(cls, value: str, info) -> str:  # type: ignore[no-untyped-def]
        return _hhmm(value, info.field_name.upper())

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in ("console", "json"):
            raise ValueError("must be 'console' or 'json'")
        return value

    @field_validator("bot_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        token = value.get_secret_value()
        head, _, tail = token.partition(":")
        if not head.isdigit() or not tail:
            raise ValueError("BOT_TOKEN must look like 123456:ABC... (from @BotFather)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        secret = value.get_secret_value()
        if not (MIN_WEBHOOK_SECRET <= len(secret) <= 256) or not set(secret) <= WEBHOOK_SECRET_CHARS:
            raise ValueError(f"must be {MIN_WEBHOOK_SECRET}-256 characters of A-Z a-z 0-9 _ - "
                             "(Telegram's rule), e.g. the output of `openssl rand -hex 32`")
        return value

    @field_validator("backup_key")
    @classmethod
    def _backup_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        from cryptography.fernet import Fernet

        try:
            Fernet(value.get_secret_value().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError("must be a Fernet key (44 characters of url-safe base64); "
                             "make one with `rmbot backup-key`") from None
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        # Without the secret anyone reaching the port could post updates "from" any manager.
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError("WEBHOOK_SECRET is required when WEBHOOK_URL is set (webhook mode); "
                             "generate one with `openssl rand -hex 32`")
        return self

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'rmbot.sqlite3').as_posix()}"
        elif self.database_url.startswith("postgresql://") or self.database_url.startswith("postgres://"):
            self.database_url = "postgresql+asyncpg://" + self.database_url.split("://", 1)[1]
        elif self.database_url.startswith("sqlite:///"):
            self.database_url = "sqlite+aiosqlite:///" + self.database_url.split(":///", 1)[1]
        if self.chroma_path is None:
            self.chroma_path = self.data_dir / "chroma"
        return self

    # Derived values used in several places
    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_base_url or self.openai_api_key)

    @property
    def token(self) -> str | None:
        return self.bot_token.get_secret_value() if self.bot_token else None


def load_settings(**overrides: object) -> Settings:
    """Read settings; raise SettingsError with one line per bad setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            message = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"setting {str(err['loc'][0]).upper()}: {message}" if err["loc"] else message)
        raise SettingsError("; ".join(lines)) from None


def documented_settings() -> dict[str, str]:
    """Environment variable name -> description, for the README table and compose checks."""
    return {name.upper(): (field.description or "") for name, field in Settings.model_fields.items()}
