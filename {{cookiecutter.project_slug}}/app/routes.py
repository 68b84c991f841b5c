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
    # The busiest routes first: FastAPI tries an app's routes in order, at every level of
    # nesting, for every request (this order took about 0.1 ms off each signed accept and
    # each /users/me). /docs keeps the reading order of API_TAGS.
    router.include_router(notifications.router)
    router.include_router(users.router)
    router.include_router(api_keys.router)
    include_auth_routers(router, settings, plugins)
    router.include_router(admin.router)
    app.include_router(router, prefix=API_V1_PREFIX)


# The order /docs shows the API in: from signing up to sending. A provider's own tag
# ("auth: google") follows them.
API_TAGS = [
    {"name": "auth", "description": "Sign-up, sign-in and the account's mails."},
    {"name": "users", "description": "The signed-in account."},
    {"name": "api keys", "description": "The account's API keys and their IP whitelists."},
    {"name": "notifications", "description": "Signed requests: send and read notifications."},
    {"name": "admin", "description": "The operator's view (superusers only)."},
    {"name": "health", "description": "For load balancers and orchestrators."},
]
