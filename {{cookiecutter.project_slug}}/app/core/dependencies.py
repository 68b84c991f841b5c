"""Typed handles on the running service for route dependencies: `SettingsDep`, `DatabaseDep`,
`PluginsDep`, `RateLimiterDep`, `SuppressionsDep`, and `runtime_of()` for a feature's own parts.

The one place that reads `app.state`: the HTTP app holds its runtime there and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from app.core.config import Settings
from app.core.database import Database
from app.core.interfaces import SuppressionList
from app.core.plugins import PluginRegistry
from app.core.rate_limits import RateLimiter

if TYPE_CHECKING:
    from app.runtime import Runtime


def runtime_of(connection: HTTPConnection) -> Runtime:
    return cast("Runtime", connection.app.state.runtime)


# Async: a sync dependency would cost a thread hop per request.
async def _settings(request: Request) -> Settings:
    return runtime_of(request).settings


async def _database(request: Request) -> Database:
    return runtime_of(request).database


async def _plugins(request: Request) -> PluginRegistry:
    return runtime_of(request).plugins


async def _rate_limiter(request: Request) -> RateLimiter:
    return runtime_of(request).rate_limiter


SettingsDep = Annotated[Settings, Depends(_settings)]
DatabaseDep = Annotated[Database, Depends(_database)]
PluginsDep = Annotated[PluginRegistry, Depends(_plugins)]
RateLimiterDep = Annotated[RateLimiter, Depends(_rate_limiter)]


async def _suppressions(request: Request) -> SuppressionList:
    return runtime_of(request).suppressions


# The suppression list, as plugins add to it (hard bounces, complaints).
SuppressionsDep = Annotated[SuppressionList, Depends(_suppressions)]
