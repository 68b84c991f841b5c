from collections.abc import Sequence

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import OAuthProvider
from app.plugins.google.provider import GoogleProvider
from app.plugins.google.settings import GoogleSettings


@hookimpl
def register_oauth_providers(settings: Settings) -> Sequence[OAuthProvider]:
    # Returned even without credentials: core reports it unconfigured and its routes answer 503.
    return [GoogleProvider(GoogleSettings())]
