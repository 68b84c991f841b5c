"""What every command runs with: its environment, output streams and exit codes."""

from __future__ import annotations

import json
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import click
import httpx

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# A command parses its options, then returns the work to do: `main` runs it on an event
# loop, tests await it on theirs.
Job = Coroutine[Any, Any, int]


@dataclass(frozen=True)
class Terminal:
    environ: Mapping[str, str]
    # None: the network. Tests pass an ASGI transport into an app.
    transport: httpx.AsyncBaseTransport | None
    out: TextIO
    err: TextIO

    def print_json(self, value: Any) -> None:
        click.echo(json.dumps(value, indent=2, ensure_ascii=False), file=self.out)

    def fail(self, message: str, code: int = EXIT_FAILED) -> int:
        click.echo(f"error: {message}", file=self.err)
        return code


pass_terminal = click.make_pass_decorator(Terminal)
