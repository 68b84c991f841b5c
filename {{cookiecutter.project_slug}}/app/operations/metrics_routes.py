"""`GET /metrics`: Prometheus's text format. Only included when METRICS_ENABLED=true."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.core.errors import AppError
from app.operations.metrics import render, scrape_allowed

router = APIRouter(tags=["operations"])


# Out of the OpenAPI schema: it is for the monitoring system, not for API clients.
@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state = request.app.state
    if not scrape_allowed(state.settings, request.headers.get("Authorization")):
        raise AppError(
            "This endpoint needs the metrics token: send Authorization: Bearer <METRICS_TOKEN>.",
            code="METRICS_TOKEN_INVALID",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    body = await render(state.metrics, state.database, state.settings.health_check_timeout_seconds)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
