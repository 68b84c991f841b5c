from collections.abc import Sequence

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import Notifier
from app.plugins.smtp.notifier import SmtpNotifier
from app.plugins.smtp.settings import SmtpSettings


@hookimpl
def register_notifiers(settings: Settings) -> Sequence[Notifier]:
    # Returned even without a host: startup then says it is not configured.
    return [SmtpNotifier(SmtpSettings())]
