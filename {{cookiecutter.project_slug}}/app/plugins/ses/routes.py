"""POST /api/v1/ses/feedback: the HTTPS endpoint an SNS topic of SES's bounces and
complaints is subscribed to.

Every message's SNS signature is checked (app/plugins/ses/sns.py) before anything in it
is acted on. A subscription confirmation is confirmed (the service visits SNS's link); a
hard bounce or a complaint puts its addresses on the suppression list, which delivery
honours.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from app.core.dependencies import SuppressionsDep
from app.core.errors import AppError, ServiceUnavailableError
from app.core.interfaces import Suppression
from app.core.logging import PLUGINS_LOGGER
from app.plugins.ses.feedback import read_feedback
from app.plugins.ses.notifier import SesNotifier
from app.plugins.ses.settings import SesSettings
from app.plugins.ses.sns import (
    SUBSCRIPTION_CONFIRMATION,
    UNSUBSCRIBE_CONFIRMATION,
    CertificateStore,
    SnsPolicy,
    SnsRejected,
    SnsVerifier,
    SubscriptionNotConfirmed,
)

logger = logging.getLogger(f"{PLUGINS_LOGGER}.ses")

FEEDBACK_PATH = "/api/v1/ses/feedback"
# SNS says so when a subscription delivers raw messages: those carry no signature.
RAW_DELIVERY_HEADER = "x-amz-sns-rawdelivery"

RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Not a message SNS signed for a topic in SES_FEEDBACK_TOPIC_ARNS, or "
        "older than SES_SNS_MAX_MESSAGE_AGE_SECONDS (SNS_MESSAGE_REJECTED)"
    },
    502: {"description": "SNS did not take the subscription's confirmation (SNS_UNREACHABLE)"},
    503: {"description": "SES_FEEDBACK_TOPIC_ARNS is not set (SES_FEEDBACK_NOT_CONFIGURED)"},
}


class FeedbackAnswer(BaseModel):
    type: str
    outcome: str
    suppressed: int = 0  # addresses newly put on the suppression list


def _rejected(reason: str) -> AppError:
    logger.warning("SES feedback: refused a message: %s", reason)
    return AppError(reason, code="SNS_MESSAGE_REJECTED", status_code=403)


def feedback_router(settings: SesSettings) -> APIRouter:
    """The endpoint, with the verifier (and its certificates) of this app."""
    verifier = SnsVerifier(
        SnsPolicy.of(
            settings.sns_origin_pattern,
            settings.feedback_topic_arns,
            settings.sns_max_message_age_seconds,
        ),
        CertificateStore(settings.sns_timeout_seconds),
    )
    router = APIRouter(tags=["ses"])

    @router.post(FEEDBACK_PATH, response_model=FeedbackAnswer, responses=RESPONSES)
    async def receive_ses_feedback(
        request: Request, suppressions: SuppressionsDep
    ) -> FeedbackAnswer:
        """SNS posts here (an HTTPS subscription of the topic SES reports to)."""
        if not settings.feedback_is_configured:
            raise ServiceUnavailableError(
                "SES feedback is not configured: set SES_FEEDBACK_TOPIC_ARNS",
                code="SES_FEEDBACK_NOT_CONFIGURED",
            )
        if request.headers.get(RAW_DELIVERY_HEADER, "").lower() == "true":
            raise _rejected("raw message delivery carries no signature: turn it off")
        try:
            message = await verifier.verify(await request.body())
            if message.type == SUBSCRIPTION_CONFIRMATION:
                await verifier.confirm_subscription(message)
        except SnsRejected as exc:
            raise _rejected(str(exc)) from exc
        except SubscriptionNotConfirmed as exc:
            logger.warning("SES feedback: confirming %s failed: %s", message.topic_arn, exc)
            raise AppError(
                f"the subscription could not be confirmed: {exc}",
                code="SNS_UNREACHABLE",
                status_code=502,
            ) from exc
        if message.type == SUBSCRIPTION_CONFIRMATION:
            logger.info("SES feedback: subscribed to %s", message.topic_arn)
            return FeedbackAnswer(type=message.type, outcome="subscription confirmed")
        if message.type == UNSUBSCRIBE_CONFIRMATION:
            logger.warning("SES feedback: unsubscribed from %s", message.topic_arn)
            return FeedbackAnswer(type=message.type, outcome="unsubscribed; nothing done")
        what, feedback = read_feedback(message.message)
        added = await suppressions.suppress(
            [
                Suppression(
                    channel=SesNotifier.channel,
                    address=item.address,
                    reason=item.reason,
                    detail=item.detail,
                )
                for item in feedback
            ]
        )
        if feedback:
            logger.info(
                "SES feedback: %s for %d address(es), %d newly suppressed",
                what,
                len(feedback),
                added,
            )
        return FeedbackAnswer(type=message.type, outcome=what, suppressed=added)

    return router
