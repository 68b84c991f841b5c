"""The service's settings: one `Settings`, read from the environment and `.env`."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app import PROJECT_SLUG

PROJECT_DIR = Path(__file__).resolve().parents[2]
ENV_FILE = PROJECT_DIR / ".env"

# What `.env.example` ships; production must never run with it.
DEFAULT_SECRET_KEY = "change-me"
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


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

    database_url: str = Field(default_factory=default_database_url)
    database_echo: bool = False
    database_pool_size: int = 10
    create_tables_on_startup: bool | None = None

    log_level: str = "INFO"
    log_json: bool | None = None
    slow_query_ms: float = 200.0

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

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < MIN_SECRET_LENGTH:
                raise InsecureSettingsError(
                    "SECRET_KEY is the default or shorter than "
                    f"{MIN_SECRET_LENGTH} characters: set SECRET_KEY to a long random value "
                    "before running with ENVIRONMENT=production."
                )
        return self

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
