"""Everything under /api/v1."""

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from app.api.v1 import api_keys, notifications, users
from app.api.v1.auth import build_auth_router
from app.core.config import Settings
from app.core.plugins import PluginRegistry
from app.schemas.errors import COMMON_ERRORS
from app.services.auth import API_V1_PREFIX

# Routes that do not depend on the app's settings or plugins.
api_router = APIRouter(prefix=API_V1_PREFIX)
api_router.include_router(users.router)
api_router.include_router(api_keys.router)
api_router.include_router(notifications.router)


def build_api_router(settings: Settings, plugins: PluginRegistry) -> APIRouter:
    """/api/v1 for one app: the fixed routes plus auth, whose routes follow its plugins."""
    router = APIRouter(responses=COMMON_ERRORS)
    auth_router = build_auth_router(settings, plugins)
    _document_logout(auth_router.routes)
    router.include_router(auth_router, prefix=API_V1_PREFIX)
    router.include_router(api_router)
    return router


def _document_logout(routes: Sequence[BaseRoute]) -> None:
    """fastapi-users answers a bearer-token logout with 204 but documents only 200."""
    for route in routes:
        if isinstance(route, APIRoute) and route.path.endswith("/logout"):
            route.responses.setdefault(204, {"description": "Signed out"})
        # Included routers keep their routes in the router they were made from.
        included: Any = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            _document_logout(included.routes)
