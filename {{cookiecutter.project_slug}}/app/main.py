"""`create_app()`: the HTTP app around a runtime (app/runtime.py): middleware, routers, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pluggy
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware

from app.accounts.routes.pages import STATIC_DIR, STATIC_PATH
from app.accounts.routes.pages import router as pages_router
from app.core.config import Settings, get_settings
from app.core.database import ScopedSessionMiddleware
from app.core.errors import install_error_handlers
from app.core.logging import get_api_logger
from app.core.metrics import HttpMetricsMiddleware
from app.core.middleware import (
    REQUEST_ID_HEADER,
    RequestBodyLimitMiddleware,
    RequestContextMiddleware,
    security_headers,
)
from app.operations.health_routes import router as health_router
from app.operations.metrics_routes import router as metrics_router
from app.routes import API_TAGS, include_api_router
from app.runtime import Runtime


def create_app(
    settings: Settings | None = None, *, plugin_manager: pluggy.PluginManager | None = None
) -> FastAPI:
    """`plugin_manager` lets a caller (a test) register extra plugins before they are asked."""
    runtime = Runtime.build(settings or get_settings(), plugin_manager=plugin_manager)
    settings, plugins, metrics = runtime.settings, runtime.plugins, runtime.metrics

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        get_api_logger().info(
            "%s started: plugins %s, database %s",
            settings.project_name,
            ", ".join(plugins.plugin_names) or "none",
            runtime.database.backend,
        )
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=settings.project_name, lifespan=lifespan, openapi_tags=API_TAGS)
    # The one thing the app holds: route dependencies reach it through app.core.dependencies.
    app.state.runtime = runtime

    install_error_handlers(app)
    # Each one added wraps the ones before: the request id exists before the session opens.
    app.add_middleware(ScopedSessionMiddleware, database=runtime.database)
    # Inside the request context, so a refused body still gets a request id and a log line.
    app.add_middleware(RequestBodyLimitMiddleware, max_body_bytes=settings.max_request_body_bytes)
    app.add_middleware(
        RequestContextMiddleware,
        response_headers=security_headers(settings.public_base_url.startswith("https://")),
    )
    if settings.cors_origins:
        # Outside the request context, so that its clean 500 also carries the CORS
        # headers and a front end can read the error (and its request id).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=settings.cors_allow_credentials,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After", "Idempotent-Replayed"],
        )
    if metrics is not None:
        # Outermost: times and counts every answer, the middleware's own ones included.
        app.add_middleware(HttpMetricsMiddleware, metrics=metrics.http)

    app.include_router(health_router)
    if metrics is not None:
        app.include_router(metrics_router)
    include_api_router(app, settings, plugins)
    app.include_router(pages_router)
    # The pages' style and script: files, so their CSP allows no inline code.
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
    for router in plugins.routers:
        app.include_router(router)
    return app
