"""Everything under /api/v1."""

from fastapi import APIRouter, FastAPI

from app.accounts.auth_backends import API_V1_PREFIX
from app.accounts.routes import users
from app.accounts.routes.auth import include_auth_routers
from app.admin import routes as admin
from app.core.config import Settings
from app.core.error_schemas import COMMON_ERRORS
from app.core.plugins import PluginRegistry
from app.notifications import routes as notifications
from app.signed_api import routes as api_keys


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
    router.include_router(admin.router)
    app.include_router(router, prefix=API_V1_PREFIX)
