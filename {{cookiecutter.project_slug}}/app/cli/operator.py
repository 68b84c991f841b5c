"""`create-superuser`, `keys ...`, `migrate`: the operator's commands.

They act on the service's own database with its settings (the environment and `.env`,
as the service reads them), so they run where the service runs: on its host, in its
container (`docker compose exec api {{ cookiecutter.project_slug }} ...`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import OAuthAccount, User
from app.accounts.user_manager import UserDatabase, UserManager
from app.admin import service as admin
from app.admin.schemas import AdminApiKeyRead
from app.cli.terminal import EXIT_OK, EXIT_USAGE, Job, Terminal, pass_terminal
from app.core.config import PROJECT_DIR, InsecureSettingsError, Settings, get_settings
from app.core.database import Database
from app.core.errors import AppError
from app.core.plugins import PluginRegistry, create_plugin_manager

SETTINGS_HELP = "Uses the service's settings (DATABASE_URL, SECRET_KEY, ...) and database."
ALEMBIC_INI = "alembic.ini"

Work = Callable[[Settings, AsyncSession], Awaitable[int]]


@asynccontextmanager
async def service_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    database = Database(settings.database_url)
    try:
        async with database.sessionmaker() as session:
            yield session
    finally:
        await database.dispose()


async def on_database(terminal: Terminal, work: Work) -> int:
    """Run `work` on the service's database; its refusals and failures become exit codes."""
    try:
        settings = get_settings()
    except (ValidationError, InsecureSettingsError) as exc:
        return terminal.fail(f"the service's settings are not valid: {exc}", EXIT_USAGE)
    try:
        async with service_session(settings) as session:
            return await work(settings, session)
    except AppError as exc:
        return terminal.fail(f"{exc.code}: {exc.message}")
    except (DBAPIError, OSError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return terminal.fail(
            f"the database failed: {first_line} (is DATABASE_URL right, and has `migrate` run?)"
        )


def api_key_fields(api_key: Any) -> dict[str, Any]:
    return AdminApiKeyRead.model_validate(api_key).model_dump(mode="json")


# -- create-superuser ------------------------------------------------------------------


@click.command("create-superuser", epilog=SETTINGS_HELP)
@click.option("--email", envvar="SUPERUSER_EMAIL", show_envvar=True, help="Asked when not given.")
@click.option(
    "--password",
    envvar="SUPERUSER_PASSWORD",
    show_envvar=True,
    help="Asked (twice, hidden) when not given; the service's password rules apply.",
)
@click.option(
    "--promote",
    is_flag=True,
    help="Make the existing, verified account with this email a superuser instead.",
)
@pass_terminal
def create_superuser(
    terminal: Terminal, email: str | None, password: str | None, promote: bool
) -> Job:
    """Create an active, verified superuser (an operator)."""
    email = email or click.prompt("Email")
    if promote:
        return on_database(terminal, lambda _, session: _promote(terminal, session, email))
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    chosen = password

    async def create(settings: Settings, session: AsyncSession) -> int:
        plugins = PluginRegistry.collect(create_plugin_manager(settings), settings)
        manager = UserManager(
            UserDatabase(session, User, OAuthAccount), settings=settings, plugins=plugins
        )
        user = await admin.create_superuser(manager, email, chosen)
        click.echo(f"superuser {user.id} created: {user.email}", file=terminal.out)
        return EXIT_OK

    return on_database(terminal, create)


async def _promote(terminal: Terminal, session: AsyncSession, email: str) -> int:
    user = await admin.promote_user(session, email)
    click.echo(f"user {user.id} is now a superuser: {user.email}", file=terminal.out)
    return EXIT_OK


# -- keys ------------------------------------------------------------------------------


@click.group(epilog=SETTINGS_HELP)
def keys() -> None:
    """Create, list and stop the API keys of any account."""


@keys.command("create", epilog=SETTINGS_HELP)
@click.option("--user", "email", required=True, help="The email of the key's account.")
@click.option("--memo", help="A note kept with the key, e.g. what uses it.")
@pass_terminal
def create_key(terminal: Terminal, email: str, memo: str | None) -> Job:
    """Create a key for an account; prints its secret once."""

    async def create(settings: Settings, session: AsyncSession) -> int:
        api_key, secret_key = await admin.create_api_key_for(session, settings, email, memo)
        terminal.print_json({**api_key_fields(api_key), "secret_key": secret_key})
        click.echo("Store secret_key now: it is not shown again.", file=terminal.err)
        return EXIT_OK

    return on_database(terminal, create)


@keys.command("list", epilog=SETTINGS_HELP)
@click.option("--user", "email", help="Only this account's keys (its email).")
@pass_terminal
def list_keys(terminal: Terminal, email: str | None) -> Job:
    """List keys, deleted ones too (never a secret)."""

    async def show(settings: Settings, session: AsyncSession) -> int:
        user_id = None if email is None else (await admin.find_user_by_email(session, email)).id
        found = await admin.all_api_keys(session, user_id=user_id)
        terminal.print_json([api_key_fields(api_key) for api_key in found])
        return EXIT_OK

    return on_database(terminal, show)


@keys.command("stop", epilog=SETTINGS_HELP)
@click.argument("key_id", metavar="ID", type=click.IntRange(min=1))
@pass_terminal
def stop_key(terminal: Terminal, key_id: int) -> Job:
    """Stop any key for good; requests signed with it fail at once."""

    async def stop(settings: Settings, session: AsyncSession) -> int:
        terminal.print_json(api_key_fields(await admin.stop_api_key(session, key_id)))
        return EXIT_OK

    return on_database(terminal, stop)


# -- migrate ---------------------------------------------------------------------------


def find_alembic_ini() -> Path | None:
    """The project's alembic.ini: beside the code in a checkout, else in the working
    folder (an installed package, as in the container, runs from the project folder)."""
    for folder in (PROJECT_DIR, Path.cwd()):
        candidate = folder / ALEMBIC_INI
        if candidate.is_file():
            return candidate
    return None


@click.command(epilog=SETTINGS_HELP)
@click.option("--revision", default="head", show_default=True, help="The revision to reach.")
@pass_terminal
def migrate(terminal: Terminal, revision: str) -> Job:
    """Bring the database schema up to date (alembic upgrade)."""
    return _migrate(terminal, revision)


async def _migrate(terminal: Terminal, revision: str) -> int:
    from alembic import command
    from alembic.config import Config
    from alembic.util.exc import CommandError

    ini = find_alembic_ini()
    if ini is None:
        return terminal.fail(f"no {ALEMBIC_INI} here: run this in the project's folder", EXIT_USAGE)
    try:
        # In a thread: migrations/env.py runs an event loop of its own.
        await asyncio.to_thread(command.upgrade, Config(str(ini)), revision)
    except CommandError as exc:
        return terminal.fail(str(exc))
    except (DBAPIError, OSError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return terminal.fail(f"the database failed: {first_line}")
    click.echo(f"database migrated to {revision}", file=terminal.out)
    return EXIT_OK
