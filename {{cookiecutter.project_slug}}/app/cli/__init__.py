"""The service's command line: `{{ cookiecutter.project_slug }} --help` (or `python -m app.cli`).

Two kinds of commands:

- `send`, `status`, `list` call the signed API of a running service, as any client does,
  with the key in API_ACCESS_KEY / API_SECRET_KEY, at API_BASE_URL.
- `create-superuser`, `keys ...`, `migrate` are the operator's: they act on the service's
  own database with its settings (DATABASE_URL, SECRET_KEY, ... from the environment and
  `.env`), so they run where the service runs.

Plugins add commands of their own (the `register_commands` hook); they are looked up only
when asked for (or listed), so the built-in commands never load plugins.

Exit codes: 0 done, 1 refused or failed (the error's code and message on stderr), 2 a usage
or configuration mistake.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import click
import httpx
from pydantic import ValidationError

from app.cli.api import list_notifications, send, status
from app.cli.operator import create_superuser, keys, migrate
from app.cli.terminal import EXIT_FAILED, EXIT_OK, Terminal
from app.core.config import InsecureSettingsError, get_settings
from app.core.plugins import PluginLoadError, create_plugin_manager

__all__ = ["cli", "main", "run"]


class ServiceCommands(click.Group):
    """The built-in commands, and those of the plugins the service loads."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plugin_commands: dict[str, click.Command] | None = None

    def plugin_commands(self) -> dict[str, click.Command]:
        """Asked of the plugins once per process; a built-in command's name stays built-in."""
        if self._plugin_commands is None:
            self._plugin_commands = {}
            try:
                manager = create_plugin_manager(get_settings())
            except (ValidationError, InsecureSettingsError, PluginLoadError) as exc:
                first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                click.echo(f"warning: no plugin commands: {first_line}", err=True)
                return self._plugin_commands
            for commands in manager.hook.register_commands():
                for command in commands:
                    if command.name and command.name not in self.commands:
                        self._plugin_commands.setdefault(command.name, command)
        return self._plugin_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.plugin_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self.plugin_commands().get(cmd_name)


@click.group(
    cls=ServiceCommands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def cli() -> None:
    """Send notifications through the signed API, and run the service's operator tasks.

    send, status and list call a running service with an API key (API_BASE_URL,
    API_ACCESS_KEY, API_SECRET_KEY). create-superuser, keys and migrate act on the
    service's own database with its settings: run them where the service runs. The
    plugins' commands are listed with these.
    """


for command in (send, status, list_notifications, create_superuser, keys, migrate):
    cli.add_command(command)


async def run(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The command line as a coroutine: tests run it in process, against an app."""
    terminal = Terminal(
        environ=os.environ if environ is None else environ,
        transport=transport,
        out=sys.stdout if stdout is None else stdout,
        err=sys.stderr if stderr is None else stderr,
    )
    try:
        # Parsing (and prompting) only: each command returns its work, run below.
        job = cli.main(
            args=None if argv is None else list(argv), obj=terminal, standalone_mode=False
        )
    except click.ClickException as exc:
        exc.show(file=terminal.err)
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted.", file=terminal.err)
        return EXIT_FAILED
    if inspect.iscoroutine(job):
        code: int = await job
        return code
    # --help and the like: click printed what was asked and returned an exit code.
    return job if isinstance(job, int) else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The console script's entry point (`[project.scripts]`)."""
    return asyncio.run(run(argv))
