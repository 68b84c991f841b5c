from pydantic_settings import SettingsConfigDict

from app.core.config import PluginSettings


class ConsoleSettings(PluginSettings):
    """`CONSOLE_ENABLED_IN_PRODUCTION=true` lets the stand-in log messages in production too."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_")

    enabled_in_production: bool = False
