"""The console stand-in: mails go to the log in development, and nowhere in production."""

from __future__ import annotations

import logging

import pytest

from app.core.config import Environment, Settings
from app.core.interfaces import DeliveryOutcome, Notifier, OutgoingMessage
from app.core.logging import PLUGINS_LOGGER
from app.core.plugins import PluginRegistry, create_plugin_manager
from app.plugins.console.notifier import ConsoleNotifier
from app.plugins.console.plugin import register_notifiers

CONSOLE_LOGGER = f"{PLUGINS_LOGGER}.console"

WELCOME = OutgoingMessage(
    channel="email",
    to=["jane@example.com", "joe@example.com"],
    subject="Welcome aboard",
    text="Click https://example.com/verify?token=abc to verify.",
    id="notification-7",
)


def settings_for(environment: str) -> Settings:
    # Unvalidated: the plugin reads only the environment, not the secrets production demands.
    return Settings.model_construct(environment=Environment(environment))


def console_notifier(environment: str) -> Notifier:
    [notifier] = register_notifiers(settings=settings_for(environment))
    return notifier


@pytest.fixture(autouse=True)
def console_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The project's `.env` must not decide these tests.
    monkeypatch.setenv("CONSOLE_ENABLED_IN_PRODUCTION", "false")


async def test_send_logs_the_message_and_reports_it_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = console_notifier("development")
    assert notifier.channel == "email"
    assert notifier.is_configured and notifier.is_stand_in

    with caplog.at_level(logging.INFO, logger=CONSOLE_LOGGER):
        result = await notifier.send(WELCOME)

    assert result.outcome is DeliveryOutcome.DELIVERED
    assert result.provider_message_id and result.provider_message_id.startswith("console-")
    assert result.error is None
    [record] = [r for r in caplog.records if r.name == CONSOLE_LOGGER]
    logged = record.getMessage()
    assert "jane@example.com, joe@example.com" in logged
    assert "Welcome aboard" in logged
    assert "https://example.com/verify?token=abc" in logged
    assert getattr(record, "notification_id", None) == "notification-7"
    assert getattr(record, "provider_message_id", None) == result.provider_message_id


async def test_each_message_gets_its_own_id() -> None:
    notifier = ConsoleNotifier()
    first = await notifier.send(WELCOME)
    second = await notifier.send(WELCOME)
    assert first.provider_message_id != second.provider_message_id


async def test_an_html_only_message_logs_its_html(caplog: pytest.LogCaptureFixture) -> None:
    message = OutgoingMessage(channel="email", to=["jane@example.com"], html="<p>Hi Jane</p>")
    with caplog.at_level(logging.INFO, logger=CONSOLE_LOGGER):
        result = await ConsoleNotifier().send(message)
    assert result.outcome is DeliveryOutcome.DELIVERED
    assert "<p>Hi Jane</p>" in caplog.text


async def test_in_production_it_is_not_configured_and_delivers_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = console_notifier("production")
    assert not notifier.is_configured

    with caplog.at_level(logging.INFO, logger=CONSOLE_LOGGER):
        result = await notifier.send(WELCOME)

    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.error and "production" in result.error
    assert result.provider_message_id is None
    # Reset links must not end up in production logs.
    assert "token=abc" not in caplog.text


def test_production_startup_warns_that_it_is_not_configured(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for("production")
    manager = create_plugin_manager(settings, builtin_names=["console"], entry_points=[])
    registry = PluginRegistry.collect(manager, settings)
    with caplog.at_level(logging.WARNING, logger=PLUGINS_LOGGER):
        registry.log_unconfigured()
    assert "plugin 'console' is loaded but not configured" in caplog.text


async def test_production_may_opt_in(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CONSOLE_ENABLED_IN_PRODUCTION", "true")
    notifier = console_notifier("production")
    assert notifier.is_configured

    with caplog.at_level(logging.INFO, logger=CONSOLE_LOGGER):
        result = await notifier.send(WELCOME)
    assert result.outcome is DeliveryOutcome.DELIVERED
    assert "Welcome aboard" in caplog.text
