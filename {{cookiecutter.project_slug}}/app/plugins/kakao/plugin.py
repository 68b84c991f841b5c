from collections.abc import Sequence

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import OAuthProvider
from app.plugins.kakao.provider import KakaoProvider
from app.plugins.kakao.settings import KakaoSettings


@hookimpl
def register_oauth_providers(settings: Settings) -> Sequence[OAuthProvider]:
    # Returned even without credentials: core reports it unconfigured and its routes answer 503.
    return [KakaoProvider(KakaoSettings())]
