from collections.abc import Sequence

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import Notifier
from app.plugins.kakao.client import KakaoUserOAuth2
from app.plugins.kakao.settings import KakaoSettings
from app.plugins.kakaotalk.notifier import KakaoTalkNotifier
from app.plugins.kakaotalk.settings import KakaoTalkSettings


@hookimpl
def register_notifiers(settings: Settings) -> Sequence[Notifier]:
    # Returned even without Kakao sign-in's keys: startup then says it is not configured.
    return [
        KakaoTalkNotifier(
            KakaoTalkSettings(),
            KakaoUserOAuth2(KakaoSettings()),
            default_link_url=settings.public_base_url,
        )
    ]
