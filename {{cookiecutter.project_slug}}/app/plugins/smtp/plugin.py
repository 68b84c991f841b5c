from collections.abc import Awaitable, Sequence

from fastapi import FastAPI

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import Notifier
from app.plugins.smtp.notifier import SmtpNotifier, logger
from app.plugins.smtp.settings import SmtpSettings


def smtp_notifiers(app: FastAPI) -> list[SmtpNotifier]:
    """This app's SMTP notifiers (the ones `register_notifiers` made for it)."""
    registry = app.state.plugins
    return [
        notifier
        for notifiers in registry.notifiers.values()
        for notifier in notifiers
        if isinstance(notifier, SmtpNotifier)
    ]


@hookimpl
def register_notifiers(settings: Settings) -> Sequence[Notifier]:
    # Returned even without a host: startup then says it is not configured.
    return [SmtpNotifier(SmtpSettings())]


@hookimpl
def startup(app: FastAPI) -> None:
    # No connection yet: the service must start while the mail server is away. The first
    # message opens it; later ones reuse it.
    for notifier in smtp_notifiers(app):
        if notifier.is_configured:
            settings = notifier.settings
            logger.info(
                "SMTP mail goes to %s:%s (%s)",
                settings.host,
                settings.server_port,
                settings.security.value,
            )


async def _close(app: FastAPI) -> None:
    for notifier in smtp_notifiers(app):
        await notifier.close()


@hookimpl
def shutdown(app: FastAPI) -> Awaitable[None]:
    return _close(app)
