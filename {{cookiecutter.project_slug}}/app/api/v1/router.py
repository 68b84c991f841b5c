"""Everything under /api/v1."""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from app.api.v1 import api_keys, notifications, users
from app.api.v1.auth import include_auth_routers
from app.core.config import Settings
from app.core.plugins import PluginRegistry
from app.schemas.errors import COMMON_ERRORS
from app.services.auth import API_V1_PREFIX


def include_api_router(app: FastAPI, settings: Settings, plugins: PluginRegistry) -> None:
    """/api/v1 for one app: the fixed routes plus auth, whose routes follow its plugins.

    Every router holding other routers is included under a prefix: FastAPI then resolves
    each route once per app, where an include without a prefix resolves the whole nested
    tree again at every level (that made building an app, in every test and every worker
    process, twice as slow).
    """
    router = APIRouter(responses=COMMON_ERRORS)
    include_auth_routers(router, settings, plugins)
    router.include_router(users.router)
    router.include_router(api_keys.router)
    router.include_router(notifications.router)
    _document_logout(router.routes)
    app.include_router(router, prefix=API_V1_PREFIX)


def _document_logout(routes: Sequence[BaseRoute]) -> None:
    """fastapi-users answers a bearer-token logout with 204 but documents only 200."""
    for route in routes:
        if isinstance(route, APIRoute) and route.path.endswith("/logout"):
            route.responses.setdefault(204, {"description": "Signed out"})
        # Included routers keep their routes in the router they were made from.
        included: Any = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            _document_logout(included.routes)
