"""Everything under /api/v1."""

from fastapi import APIRouter

from app.api.v1 import api_keys, notifications, users
from app.api.v1.auth import build_auth_router
from app.core.config import Settings
from app.core.plugins import PluginRegistry
from app.services.auth import API_V1_PREFIX

# Routes that do not depend on the app's settings or plugins.
api_router = APIRouter(prefix=API_V1_PREFIX)
api_router.include_router(users.router)
api_router.include_router(api_keys.router)
api_router.include_router(notifications.router)


def build_api_router(settings: Settings, plugins: PluginRegistry) -> APIRouter:
    """/api/v1 for one app: the fixed routes plus auth, whose routes follow its plugins."""
    router = APIRouter()
    router.include_router(build_auth_router(settings, plugins), prefix=API_V1_PREFIX)
    router.include_router(api_router)
    return router
