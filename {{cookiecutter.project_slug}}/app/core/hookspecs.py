# mypy: disable-error-code="empty-body"
"""The hooks a plugin may implement. Each hands back one kind of thing; core never names a plugin.

Starting and stopping are not hooks: a notifier or provider a hook hands back may have
`async start(ports)` and `async close()` (app/core/interfaces.py), which core calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

from app import PROJECT_SLUG

if TYPE_CHECKING:
    import click
    from fastapi import APIRouter

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
def register_commands() -> Sequence[click.Command]:
    """Return click commands to add to the service's command line (`--help` lists them).

    A command returns a coroutine (its work) when it has async work to do; the command
    line runs it. It reads its own settings, as the operator's commands do.
    """
