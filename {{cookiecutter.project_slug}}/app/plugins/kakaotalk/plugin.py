from collections.abc import Awaitable, Sequence

from fastapi import FastAPI

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import Notifier
from app.plugins.kakaotalk.notifier import KakaoTalkNotifier
from app.plugins.kakaotalk.settings import KakaoTalkSettings


def kakaotalk_notifiers(app: FastAPI) -> list[KakaoTalkNotifier]:
    """This app's KakaoTalk notifiers (the ones `register_notifiers` made for it)."""
    registry = app.state.plugins
    return [
        notifier
        for notifiers in registry.notifiers.values()
        for notifier in notifiers
        if isinstance(notifier, KakaoTalkNotifier)
    ]


@hookimpl
def register_notifiers(settings: Settings) -> Sequence[Notifier]:
    # Returned even without a client id: startup then says it is not configured.
    return [KakaoTalkNotifier(KakaoTalkSettings(), default_link_url=settings.public_base_url)]


@hookimpl
def startup(app: FastAPI) -> None:
    # The notifier reads users' tokens from this app's database, with one HTTP client.
    for notifier in kakaotalk_notifiers(app):
        notifier.start(app.state.database.sessionmaker)


async def _close(app: FastAPI) -> None:
    for notifier in kakaotalk_notifiers(app):
        await notifier.close()


@hookimpl
def shutdown(app: FastAPI) -> Awaitable[None]:
    return _close(app)
