"""The hook implementations: the module the entry point names."""

from __future__ import annotations

from collections.abc import Sequence

from app.core.config import Settings
from app.core.hookspecs import hookimpl  # the service's marker: its slug is not repeated here
from app.core.interfaces import OAuthProvider

from plugkit_naver.provider import NaverProvider
from plugkit_naver.settings import NaverSettings


@hookimpl
def register_oauth_providers(settings: Settings) -> Sequence[OAuthProvider]:
    # Returned even without credentials: the service reports it unconfigured and its
    # routes answer 503 until NAVER_CLIENT_ID and NAVER_CLIENT_SECRET are set.
    return [NaverProvider(NaverSettings())]
