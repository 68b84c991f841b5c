"""The service's settings: one `Settings`, read from the environment and `.env`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app import PROJECT_SLUG
from app.i18n import Language

PROJECT_DIR = Path(__file__).resolve().parents[2]
ENV_FILE = PROJECT_DIR / ".env"

# What `.env.example` ships; production must never run with it.
DEFAULT_SECRET_KEY = "change-me"  # noqa: S105 - the placeholder production refuses
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class TaskBroker(StrEnum):
    """Where notification delivery runs."""

    INPROCESS = "inprocess"  # taskiq's in-memory broker inside the API process
    # taskiq-redis; `taskiq worker app.notifications.worker:broker` processes deliver
    REDIS = "redis"
    RABBITMQ = "rabbitmq"  # taskiq-aio-pika; the same workers


BROKER_URL_SCHEMES = {
    TaskBroker.REDIS: ("redis://", "rediss://", "unix://"),
    TaskBroker.RABBITMQ: ("amqp://", "amqps://"),
}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` requests per `window_seconds`."""

    count: int
    window_seconds: float


RATE_LIMIT_OFF = "off"
_RATE_LIMIT_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RATE_LIMIT_WORDS = {"second": "s", "minute": "m", "hour": "h", "day": "d"}
_RATE_LIMIT = re.compile(r"^(\d+)/(\d+(?:\.\d+)?)?(ms|s|m|h|d)$")


def parse_rate_limit(text: str) -> RateLimit | None:
    """Read `10/minute`, `5/15m`, `100/10s` or `3/500ms` as a `RateLimit`; `off` is None."""
    compact = "".join(text.split()).lower()
    if compact == RATE_LIMIT_OFF:
        return None
    count_text, _, period = compact.partition("/")
    period = _RATE_LIMIT_WORDS.get(period.removesuffix("s"), period)
    match = _RATE_LIMIT.match(f"{count_text}/{period}")
    if match is None:
        raise ValueError(
            f"{text!r} is not a rate limit: write N/period such as 10/minute, 5/15m, "
            "100/10s or 3/500ms (units ms, s, m, h, d), or off."
        )
    count, amount, unit = match.groups()
    window = float(amount or 1) * _RATE_LIMIT_UNITS[unit]
    if int(count) < 1 or window <= 0:
        raise ValueError(f"{text!r}: a rate limit needs at least 1 request and a window > 0.")
    return RateLimit(int(count), window)


# What a browser sends as Origin: scheme://host[:port], nothing after it.
_CORS_ORIGIN = re.compile(r"^(\*|https?://[^/\s?#]+)$")


class InsecureSettingsError(RuntimeError):
    """Production was asked to start with a setting that is unsafe there."""


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{PROJECT_DIR / (PROJECT_SLUG + '.db')}"


class Settings(BaseSettings):
    """Core settings. Plugins read their own, with their own prefix (see `PluginSettings`)."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE, env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    environment: Environment = Environment.DEVELOPMENT
    project_name: str = "{{ cookiecutter.project_name }}"
    secret_key: str = DEFAULT_SECRET_KEY
    public_base_url: str = "http://127.0.0.1:8000"
    # The pages' and account mails' language when neither ?lang= nor Accept-Language picks one.
    default_language: Language = Language.ENGLISH

    database_url: str = Field(default_factory=default_database_url)
    database_echo: bool = False
    # Connections each process keeps open to the database, and the most it uses at once
    # (requests beyond wait for one). Mind the server's limit: processes x this.
    database_pool_size: int = Field(default=20, gt=0)
    create_tables_on_startup: bool | None = None

    log_level: str = "INFO"
    log_json: bool | None = None
    slow_query_ms: float = 200.0

    # Accounts: sign-in tokens, the sign-in cookie, mailed links, passwords.
    auth_token_lifetime_seconds: int = Field(default=3600, gt=0)
    # None = secure exactly when PUBLIC_BASE_URL is https.
    auth_cookie_secure: bool | None = None
    verify_token_lifetime_seconds: int = Field(default=86400, gt=0)
    reset_password_token_lifetime_seconds: int = Field(default=3600, gt=0)
    # Forgot-password and request-verify-token answer this long after the request, whether
    # or not they wrote a mail: longer than writing one takes, so that the time never tells
    # whether an address has an account.
    account_mail_answer_seconds: float = Field(default=0.1, ge=0)
    # How long a provider sign-in may take between authorize and callback (state, CSRF cookie).
    oauth_state_lifetime_seconds: int = Field(default=600, gt=0)
    password_min_length: int = Field(default=8, ge=1)
    # Argon2 cost of stored passwords (the library's recommended defaults). Lower them only
    # where hashing speed matters more than resistance to cracking, such as test suites.
    password_hash_time_cost: int = Field(default=3, ge=1)
    password_hash_memory_kib: int = Field(default=65536, ge=64)

    # API keys and signed requests.
    # Encrypts API secret keys at rest; comma-separated to rotate (the first one encrypts).
    # Unset in development: derived from SECRET_KEY. Required in production.
    api_key_encryption_key: str | None = None
    max_active_api_keys: int = Field(default=3, ge=1)
    max_whitelist_entries: int = Field(default=10, ge=1)
    signature_tolerance_seconds: int = Field(default=300, gt=0)
    # Each process reads a key at most this often: a key stopped, deleted or whitelisted
    # elsewhere (another process, the command line) is honoured within this time; 0 reads
    # it on every request. Changes made through the process itself apply at once.
    api_key_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    # A signed-in user's account (flags, session generation, profile) is read at most once
    # per this many seconds in each process: a logout, a deactivation or a profile change
    # made elsewhere applies within this time; 0 reads it on every request. Changes made
    # through the process itself apply at once.
    user_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    # Peers whose X-Forwarded-For is believed (addresses or CIDR ranges, comma-separated).
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list
    )
    # Set: signature nonces are kept in Redis instead of the database.
    redis_url: str | None = None

    # Rate limits (app/core/rate_limits.py): "N/period" strings, "off" for none.
    # False switches every limit off (tests do; so may a deployment limiting at its proxy).
    rate_limits_enabled: bool = True
    # Per client address; the bearer and cookie logins share one count.
    rate_limit_login: str = "10/minute"
    rate_limit_register: str = "10/hour"
    rate_limit_forgot_password: str = "5/hour"  # noqa: S105 - a rate, not a password
    rate_limit_request_verify: str = "5/hour"
    # Per email address (letter case, spaces and a +tag aside), whoever asks and whether or
    # not an account has it: register, request-verify-token, forgot-password and the new
    # address of an email change share one count.
    rate_limit_mail_per_address: str = "5/hour"
    # Per recipient where the account mails are made: holds back what a route let through.
    rate_limit_mail_per_recipient: str = "10/hour"
    # Per account: changes of its email through PATCH /users/me.
    rate_limit_email_change: str = "3/day"
    # Per API key, on the signed API.
    rate_limit_signed_api: str = "600/minute"
    # Where the counts live in Redis (with REDIS_URL), so services can share one Redis.
    rate_limit_key_prefix: str = f"{PROJECT_SLUG}:rate-limit:"

    # Notifications: the outbox and its delivery.
    # Unset: redis or rabbitmq when BROKER_URL names one, else inprocess.
    task_broker: TaskBroker | None = None
    broker_url: str | None = None
    task_queue: str = f"{PROJECT_SLUG}.notifications"
    # Subject, bodies and metadata of one notification together, in UTF-8 bytes.
    notification_max_body_bytes: int = Field(default=262_144, ge=1)
    max_delivery_attempts: int = Field(default=8, ge=1)
    delivery_retry_base_seconds: float = Field(default=5.0, gt=0)
    delivery_retry_max_seconds: float = Field(default=3600.0, gt=0)
    # Sends in flight at once, per delivering process.
    delivery_concurrency: int = Field(default=20, ge=1)
    delivery_send_timeout_seconds: float = Field(default=60.0, gt=0)
    # A send not finished after this long is taken as crashed and tried again; a queued
    # row not picked up after this long has its broker message sent again.
    delivery_lease_seconds: float = Field(default=300.0, gt=0)
    # How often a delivering process looks for due retries and stuck rows.
    delivery_poll_seconds: float = Field(default=1.0, gt=0)

    # Requests: the most bytes of body one request may send (larger: 413 REQUEST_TOO_LARGE).
    # Keep it above NOTIFICATION_MAX_BODY_BYTES, with room for JSON quoting and recipients.
    max_request_body_bytes: int = Field(default=1_048_576, ge=1)

    # Browser front ends served from other origins (CORS): exact origins such as
    # https://app.example.com, comma-separated. Empty = no CORS headers (same origin only).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Let those origins send the sign-in cookie (credentialed requests).
    cors_allow_credentials: bool = False

    # Operations: /health's checks of the database, the broker and Redis run at once, each
    # given this long; /metrics (Prometheus) exists only when enabled.
    health_check_timeout_seconds: float = Field(default=2.0, gt=0)
    metrics_enabled: bool = False
    # Set: /metrics asks for `Authorization: Bearer <token>` (Prometheus's `authorization`).
    metrics_token: str | None = None

    # Plugin names to leave unloaded even though they are installed.
    disabled_plugins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _split_plugin_list(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in ("disabled_plugins", "DISABLED_PLUGINS"):
                raw = data.get(key)
                if isinstance(raw, str):
                    data[key] = [name.strip() for name in raw.split(",") if name.strip()]
        return data

    @model_validator(mode="before")
    @classmethod
    def _split_trusted_proxies(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in ("trusted_proxies", "TRUSTED_PROXIES"):
                raw = data.get(key)
                if isinstance(raw, str):
                    data[key] = [entry.strip() for entry in raw.split(",") if entry.strip()]
        return data

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_cors_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [entry.strip() for entry in value.split(",") if entry.strip()]
        if isinstance(value, list):
            for origin in value:
                if not isinstance(origin, str) or not _CORS_ORIGIN.fullmatch(origin):
                    # Browsers send the origin without a path: one with a path or a trailing
                    # slash would never match, and the front end would fail for no clear reason.
                    raise ValueError(
                        f"CORS_ORIGINS: {origin!r} is not an origin: write scheme://host[:port] "
                        "without a path or trailing slash (https://app.example.com), or *."
                    )
        return value

    @field_validator(
        "rate_limit_login",
        "rate_limit_register",
        "rate_limit_forgot_password",
        "rate_limit_request_verify",
        "rate_limit_mail_per_address",
        "rate_limit_mail_per_recipient",
        "rate_limit_email_change",
        "rate_limit_signed_api",
    )
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        parse_rate_limit(value)
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        weak_secret = (
            self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < MIN_SECRET_LENGTH
        )
        if self.environment is Environment.PRODUCTION and weak_secret:
            raise InsecureSettingsError(
                "SECRET_KEY is the default or shorter than "
                f"{MIN_SECRET_LENGTH} characters: set SECRET_KEY to a long random value "
                "before running with ENVIRONMENT=production."
            )
        return self

    @model_validator(mode="after")
    def _refuse_production_without_api_key_encryption_key(self) -> Self:
        configured = self.configured_api_key_encryption_keys
        weak = not configured or any(len(key) < MIN_SECRET_LENGTH for key in configured)
        if self.environment is Environment.PRODUCTION and weak:
            raise InsecureSettingsError(
                "API_KEY_ENCRYPTION_KEY is unset, the default or shorter than "
                f"{MIN_SECRET_LENGTH} characters: set API_KEY_ENCRYPTION_KEY to a long random "
                "value before running with ENVIRONMENT=production (it encrypts API secret keys)."
            )
        return self

    @model_validator(mode="after")
    def _refuse_production_shortcuts(self) -> Self:
        """Values that are fine on a laptop and unsafe in production, each with its fix."""
        if self.environment is not Environment.PRODUCTION:
            return self
        if self.secret_key in self.configured_api_key_encryption_keys:
            raise InsecureSettingsError(
                "API_KEY_ENCRYPTION_KEY equals SECRET_KEY: give it a value of its own, so that "
                "a leaked token-signing secret does not also decrypt the API secret keys."
            )
        if self.database_echo:
            raise InsecureSettingsError(
                "DATABASE_ECHO=true logs every statement with its parameters (password "
                "hashes, tokens): unset it before running with ENVIRONMENT=production."
            )
        if not self.public_base_url.startswith("https://") and not self.is_served_on_loopback:
            raise InsecureSettingsError(
                f"PUBLIC_BASE_URL={self.public_base_url!r} is not https: mailed links and "
                "sign-in cookies would travel in clear text. Set the https address people use."
            )
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise InsecureSettingsError(
                "CORS_ORIGINS=* with CORS_ALLOW_CREDENTIALS=true lets any web site act as its "
                "signed-in visitors: list the front ends' origins in CORS_ORIGINS instead."
            )
        if "database_url" not in self.model_fields_set:
            raise InsecureSettingsError(
                "DATABASE_URL is not set: production would silently run on a local SQLite "
                "file. Set DATABASE_URL (an explicit sqlite+aiosqlite:/// URL if you mean it)."
            )
        return self

    @property
    def configured_api_key_encryption_keys(self) -> list[str]:
        raw = self.api_key_encryption_key or ""
        keys = [key.strip() for key in raw.split(",") if key.strip()]
        return [] if keys == [DEFAULT_SECRET_KEY] else keys

    @property
    def api_key_encryption_keys(self) -> list[str]:
        """The keys that encrypt API secret keys, newest first; SECRET_KEY when none is set."""
        return self.configured_api_key_encryption_keys or [self.secret_key]

    @model_validator(mode="after")
    def _check_delivery(self) -> Self:
        broker = self.delivery_broker
        if broker is not TaskBroker.INPROCESS:
            schemes = BROKER_URL_SCHEMES[broker]
            if not self.broker_url or not self.broker_url.startswith(schemes):
                raise ValueError(
                    f"TASK_BROKER={broker.value} needs BROKER_URL starting with "
                    f"{' or '.join(schemes)}, got {self.broker_url!r}."
                )
        if self.delivery_send_timeout_seconds >= self.delivery_lease_seconds:
            raise ValueError(
                "DELIVERY_SEND_TIMEOUT_SECONDS must be shorter than DELIVERY_LEASE_SECONDS: "
                "a send still running when its lease ends would be made a second time."
            )
        return self

    @property
    def delivery_broker(self) -> TaskBroker:
        if self.task_broker is not None:
            return self.task_broker
        for broker, schemes in BROKER_URL_SCHEMES.items():
            if self.broker_url and self.broker_url.startswith(schemes):
                return broker
        return TaskBroker.INPROCESS

    @property
    def is_served_on_loopback(self) -> bool:
        """PUBLIC_BASE_URL names this machine only (`docker compose up` on a laptop): plain
        http never leaves it, so production mode may use it."""
        host = urlsplit(self.public_base_url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def should_create_tables(self) -> bool:
        """Development and tests create tables at startup; production runs migrations."""
        if self.create_tables_on_startup is not None:
            return self.create_tables_on_startup
        return not self.is_production

    @property
    def auth_cookie_is_secure(self) -> bool:
        """Browsers send a secure cookie over https only, so follow the public URL by default."""
        if self.auth_cookie_secure is not None:
            return self.auth_cookie_secure
        return self.public_base_url.startswith("https://")

    @property
    def logs_as_json(self) -> bool:
        return self.is_production if self.log_json is None else self.log_json


class PluginSettings(BaseSettings):
    """Base for a plugin's own settings; each sets its `env_prefix` (e.g. `GOOGLE_`)."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE, env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
