"""`GET /metrics`: Prometheus's text format. Only included when METRICS_ENABLED=true."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.core.dependencies import runtime_of
from app.core.errors import AppError, NotFoundError
from app.operations.metrics import render, scrape_allowed

router = APIRouter(tags=["operations"])


# Out of the OpenAPI schema: it is for the monitoring system, not for API clients.
@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    if runtime.metrics is None:  # mounted only when enabled
        raise NotFoundError("Metrics are off (METRICS_ENABLED=false).")
    if not scrape_allowed(runtime.settings, request.headers.get("Authorization")):
        raise AppError(
            "This endpoint needs the metrics token: send Authorization: Bearer <METRICS_TOKEN>.",
            code="METRICS_TOKEN_INVALID",
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    body = await render(
        runtime.metrics, runtime.database, runtime.settings.health_check_timeout_seconds
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)
