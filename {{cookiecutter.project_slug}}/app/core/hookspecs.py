# mypy: disable-error-code="empty-body"
"""The hooks a plugin may implement. Each hands back one kind of thing; core never names a plugin.

pluggy hooks are synchronous: a hook with async work to do returns an awaitable, and core
awaits it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

import pluggy

from app import PROJECT_SLUG

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from app.core.config import Settings
    from app.core.interfaces import Notifier, OAuthProvider

hookspec = pluggy.HookspecMarker(PROJECT_SLUG)
hookimpl = pluggy.HookimplMarker(PROJECT_SLUG)


@hookspec
def register_oauth_providers(settings: Settings) -> Sequence[OAuthProvider]:
    """Return the OAuth providers this plugin adds (e.g. Google), or an empty list.

    A provider whose credentials are not set is still returned; it says it is not
    configured and its endpoints answer 503.
    """


@hookspec
def register_notifiers(settings: Settings) -> Sequence[Notifier]:
    """Return the notifiers this plugin adds, each delivering one channel (e.g. "email")."""


@hookspec
def register_routers(settings: Settings) -> Sequence[APIRouter]:
    """Return extra routers to mount under the service root, for plugin-specific endpoints."""


@hookspec
def startup(app: FastAPI) -> Awaitable[None] | None:
    """Run when the service starts, after the database is ready; may return an awaitable."""


@hookspec
def shutdown(app: FastAPI) -> Awaitable[None] | None:
    """Run when the service stops, to close clients; may return an awaitable."""
