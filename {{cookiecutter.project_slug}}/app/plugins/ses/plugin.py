from collections.abc import Sequence

import click
from fastapi import APIRouter

from app.core.config import Settings
from app.core.hookspecs import hookimpl
from app.core.interfaces import Notifier
from app.plugins.ses.domain_setup import ses_domain
from app.plugins.ses.notifier import SesNotifier
from app.plugins.ses.routes import feedback_router
from app.plugins.ses.settings import SesSettings


@hookimpl
def register_notifiers(settings: Settings) -> Sequence[Notifier]:
    # Returned even without a sender: startup then says it is not configured.
    return [SesNotifier(SesSettings())]


@hookimpl
def register_routers(settings: Settings) -> Sequence[APIRouter]:
    # Bounces and complaints from SNS; it answers 503 until SES_FEEDBACK_TOPIC_ARNS is set.
    return [feedback_router(SesSettings())]


@hookimpl
def register_commands() -> Sequence[click.Command]:
    return [ses_domain]
