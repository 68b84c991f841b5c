from collections.abc import Sequence

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import Notifier
from app.plugins.console.notifier import ConsoleNotifier
from app.plugins.console.settings import ConsoleSettings


@hookimpl
def register_notifiers(settings: Settings) -> Sequence[Notifier]:
    # Mails carry password-reset links: in production the log is no place for them.
    allowed = not settings.is_production or ConsoleSettings().enabled_in_production
    return [ConsoleNotifier(is_configured=allowed)]
