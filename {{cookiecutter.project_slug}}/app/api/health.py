from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.core.errors import error_body
from app.schemas.health import HealthResponse
from app.services.health import check_health

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"description": "A dependency is down; the failing part is named"}},
)
async def health(request: Request) -> JSONResponse:
    checks = await check_health(request.app.state.database)
    if checks["status"] == "ok":
        return JSONResponse(checks)
    failing = [name for name, state in checks.items() if name != "status" and state != "ok"]
    body = error_body(
        "SERVICE_UNAVAILABLE", f"Unavailable: {', '.join(failing)}.", detail={"failing": failing}
    )
    return JSONResponse({**checks, **body}, status_code=503)
