from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.core.dependencies import runtime_of
from app.core.errors import error_body
from app.operations.health import OK, UNAVAILABLE, check_health
from app.operations.schemas import HealthResponse, LiveResponse

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    response_model_exclude_none=True,
    responses={
        503: {
            "description": "A dependency is down: the failing parts are named in "
            "`detail.failing`, with a short reason each in `reasons`"
        }
    },
)
async def health(request: Request) -> JSONResponse:
    """Readiness: the database, and the broker and Redis where configured, answer."""
    runtime = runtime_of(request)
    report = await check_health(runtime.database, runtime.settings)
    if report.ok:
        return JSONResponse({"status": OK, **report.parts})
    failing = report.failing
    body = error_body(
        "SERVICE_UNAVAILABLE", f"Unavailable: {', '.join(failing)}.", detail={"failing": failing}
    )
    return JSONResponse(
        {"status": UNAVAILABLE, **report.parts, "reasons": report.reasons, **body},
        status_code=503,
    )


@router.get("/health/live", response_model=LiveResponse)
async def live() -> LiveResponse:
    """Liveness: the process answers HTTP. Checks nothing else, so that an orchestrator
    does not restart a healthy process because the database is down."""
    return LiveResponse(status=OK)
