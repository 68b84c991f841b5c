from collections.abc import Awaitable, Sequence

from fastapi import FastAPI

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import Notifier
from app.plugins.ses.notifier import SesNotifier
from app.plugins.ses.settings import SesSettings


def ses_notifiers(app: FastAPI) -> list[SesNotifier]:
    """This app's SES notifiers (the ones `register_notifiers` made for it)."""
    registry = app.state.plugins
    return [
        notifier
        for notifiers in registry.notifiers.values()
        for notifier in notifiers
        if isinstance(notifier, SesNotifier)
    ]


@hookimpl
def register_notifiers(settings: Settings) -> Sequence[Notifier]:
    # Returned even without a sender: startup then says it is not configured.
    return [SesNotifier(SesSettings())]


async def _start(app: FastAPI) -> None:
    for notifier in ses_notifiers(app):
        if notifier.is_configured:
            await notifier.start()


async def _close(app: FastAPI) -> None:
    for notifier in ses_notifiers(app):
        await notifier.close()


@hookimpl
def startup(app: FastAPI) -> Awaitable[None]:
    # The client is opened once here and reused by every send of this process.
    return _start(app)


@hookimpl
def shutdown(app: FastAPI) -> Awaitable[None]:
    return _close(app)
