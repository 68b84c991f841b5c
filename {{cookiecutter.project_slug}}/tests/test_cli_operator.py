"""The operator's commands (`create-superuser`, `keys ...`, `migrate`), and `--help` everywhere.

Each runs as a real process (`python -m app.cli`) on this lane's database, with the
service's settings from its environment; what it did is then checked through the API.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection, make_url

import app.tables  # noqa: F401 - every table on Base.metadata
from app import PROJECT_SLUG
from app.cli import run
from app.core.database import Database
from app.core.orm.base import Base
from tests.support import (
    TEST_SECRET_KEY,
    IssuedKey,
    Mailbox,
    ServeApp,
    assert_error,
    bearer_for,
    login,
    register,
    signed_client,
    verify_email,
)

PROJECT_DIR = Path(__file__).resolve().parents[1]
ADMIN = "/api/v1/admin"
ENCRYPTION_KEY = "operator-test-api-key-encryption-key-0123456789"
OPERATOR_PASSWORD = "a long and unusual operator passphrase"
COMMANDS = ["create-superuser", "keys", "list", "migrate", "send", "status"]
KEY_COMMANDS = ["create", "list", "stop"]


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def answer(self) -> Any:
        return json.loads(self.stdout)


def service_environment(database_url: str) -> dict[str, str]:
    """The settings the commands read, the same as the test app's (over the bake's .env)."""
    return {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "API_KEY_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "PASSWORD_HASH_TIME_COST": "1",
        "PASSWORD_HASH_MEMORY_KIB": "64",
    }


async def command(*argv: str, env: dict[str, str] | None = None) -> Outcome:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *argv,
        cwd=PROJECT_DIR,
        env={**os.environ, **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Outcome(process.returncode, stdout.decode(), stderr.decode())


# -- the command line itself -----------------------------------------------------------


async def test_help_lists_every_command_and_works_on_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    top = await command("--help")
    assert top.exit_code == 0, top.stderr
    assert top.stdout.startswith("Usage: python -m app.cli [OPTIONS] COMMAND")
    assert set(COMMANDS) <= set(top.stdout.split("Commands:")[1].split())

    # The rest in this process: each command's help is click's, whatever starts it.
    assert await run(["keys", "--help"]) == 0
    keys = capsys.readouterr().out
    assert set(KEY_COMMANDS) <= set(keys.split("Commands:")[1].split())
    for argv in [[name] for name in COMMANDS] + [["keys", name] for name in KEY_COMMANDS]:
        assert await run([*argv, "--help"]) == 0, argv
        shown = capsys.readouterr().out
        assert shown.startswith("Usage: ") and " ".join(argv) in shown, shown
        assert "Options:" in shown


async def test_an_unknown_command_is_a_usage_mistake() -> None:
    outcome = await command("sned")
    assert outcome.exit_code == 2
    assert "No such command 'sned'" in outcome.stderr


async def test_the_package_installs_a_command_named_after_the_project() -> None:
    """What `pip install` makes of [project.scripts]: a script that calls the entry point."""
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {PROJECT_SLUG: "app.cli:main"}
    # The script pip writes is this program (with the script's name as argv[0]).
    script = (
        "import sys; from importlib.metadata import EntryPoint; "
        f"sys.argv[0] = {PROJECT_SLUG!r}; "
        f"sys.exit(EntryPoint({PROJECT_SLUG!r}, 'app.cli:main', 'console_scripts').load()())"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        "--help",
        cwd=PROJECT_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().startswith(f"Usage: {PROJECT_SLUG} [OPTIONS] COMMAND")


# -- the operator's commands on the service's database ---------------------------------


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    env: dict[str, str]
    ids: dict[str, int]

    async def run(self, *argv: str, **env: str) -> Outcome:
        return await command(*argv, env={**self.env, **env})


async def send(app: FastAPI, key: IssuedKey) -> httpx.Response:
    async with signed_client(app, key) as client:
        return await client.post(
            "/api/v1/notifications",
            json={"channel": "email", "to": ["x@example.com"], "subject": "Hi", "text": "hi"},
        )


@pytest.fixture(scope="module")
def app_settings() -> dict[str, Any]:
    return {"api_key_encryption_key": ENCRYPTION_KEY}


@pytest.fixture(scope="module")
def app_plugins(module_mailbox: Mailbox) -> list[object]:
    return [module_mailbox]


@pytest.fixture
async def service(
    module_app: FastAPI, mailbox: Mailbox, serve: ServeApp, database_url: str
) -> AsyncIterator[Service]:
    async with serve(module_app) as client:
        ids = {}
        for name in ("alice", "bob"):
            email = f"{name}@example.com"
            ids[name] = (await register(client, email))["id"]
            await verify_email(client, mailbox, email)
        yield Service(module_app, client, service_environment(database_url), ids)


async def test_a_superuser_made_on_the_command_line_runs_the_service(service: Service) -> None:
    made = await service.run(
        "create-superuser", "--email", "olga@example.com", SUPERUSER_PASSWORD=OPERATOR_PASSWORD
    )
    assert made.exit_code == 0, made.stderr
    olga = await bearer_for(service.client, "olga@example.com", OPERATOR_PASSWORD)
    me = (await service.client.get("/api/v1/users/me", headers=olga)).json()
    assert (me["is_superuser"], me["is_verified"], me["is_active"]) == (True, True, True)

    users = await service.client.get(f"{ADMIN}/users", headers=olga)
    assert users.status_code == 200, users.text
    assert [user["email"] for user in users.json()["items"]] == [
        "alice@example.com",
        "bob@example.com",
        "olga@example.com",
    ]

    # Keys made on the command line sign requests; the secret is shown that once.
    created = await service.run("keys", "create", "--user", "ALICE@example.com", "--memo", "ops")
    assert created.exit_code == 0, created.stderr
    alice_key = IssuedKey(**{k: created.answer[k] for k in ("id", "access_key", "secret_key")})
    assert created.answer["user_id"] == service.ids["alice"]
    bob_made = (await service.run("keys", "create", "--user", "bob@example.com")).answer
    bob_key = IssuedKey(**{k: bob_made[k] for k in ("id", "access_key", "secret_key")})
    sent = await send(service.app, alice_key)
    assert sent.status_code == 202, sent.text

    listed = await service.run("keys", "list", "--user", "bob@example.com")
    assert listed.exit_code == 0, listed.stderr
    assert [key["id"] for key in listed.answer] == [bob_key.id]
    assert "secret_key" not in listed.answer[0] and bob_key.secret_key not in listed.stdout

    # The operator deactivates Alice: her session and her key stop working.
    alice = await bearer_for(service.client, "alice@example.com")
    answer = await service.client.post(
        f"{ADMIN}/users/{service.ids['alice']}/deactivate", headers=olga
    )
    assert answer.status_code == 200, answer.text
    assert_error(await service.client.get("/api/v1/users/me", headers=alice), 401, "UNAUTHORIZED")
    assert_error(await send(service.app, alice_key), 403, "ACCOUNT_INACTIVE")
    assert_error(await login(service.client, "alice@example.com"), 400, "LOGIN_BAD_CREDENTIALS")

    # ... reads any notification ...
    notification = await service.client.get(
        f"{ADMIN}/notifications/{sent.json()['id']}", headers=olga
    )
    assert notification.status_code == 200, notification.text
    assert notification.json()["user_id"] == service.ids["alice"]

    # ... and stops Bob's key from the command line.
    assert (await send(service.app, bob_key)).status_code == 202
    stopped = await service.run("keys", "stop", str(bob_key.id))
    assert stopped.exit_code == 0, stopped.stderr
    assert stopped.answer["status"] == "stopped"
    # Another process's change: every API process honours it within API_KEY_CACHE_SECONDS.
    await asyncio.sleep(service.app.state.runtime.settings.api_key_cache_seconds + 0.1)
    assert_error(await send(service.app, bob_key), 401, "API_KEY_INACTIVE")


async def test_the_operator_commands_refuse_what_the_service_refuses(service: Service) -> None:
    weak = await service.run(
        "create-superuser", "--email", "eve@example.com", "--password", "password"
    )
    assert weak.exit_code == 1
    assert "PASSWORD_INVALID" in weak.stderr
    taken = await service.run(
        "create-superuser", "--email", "bob@example.com", "--password", OPERATOR_PASSWORD
    )
    assert taken.exit_code == 1
    assert "USER_ALREADY_EXISTS" in taken.stderr
    unknown = await service.run("keys", "create", "--user", "nobody@example.com")
    assert unknown.exit_code == 1
    assert "USER_NOT_FOUND" in unknown.stderr
    assert (await service.run("keys", "stop", "999999")).exit_code == 1

    # An unverified account is not promoted: it may be someone else's squat on the address.
    await register(service.client, "carol@example.com")
    squat = await service.run("create-superuser", "--promote", "--email", "carol@example.com")
    assert squat.exit_code == 1
    assert "ACCOUNT_UNVERIFIED" in squat.stderr


async def test_promote_makes_an_existing_account_an_operator(service: Service) -> None:
    bob = await bearer_for(service.client, "bob@example.com")
    assert_error(await service.client.get(f"{ADMIN}/users", headers=bob), 403, "FORBIDDEN")

    promoted = await service.run("create-superuser", "--promote", "--email", "bob@example.com")
    assert promoted.exit_code == 0, promoted.stderr
    # Another process's change: every API process honours it within USER_CACHE_SECONDS.
    await asyncio.sleep(service.app.state.runtime.settings.user_cache_seconds + 0.1)
    assert (await service.client.get(f"{ADMIN}/users", headers=bob)).status_code == 200


# -- migrate ---------------------------------------------------------------------------


def _drop_everything(connection: Connection) -> None:
    existing = MetaData()
    existing.reflect(connection)
    existing.drop_all(connection)


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def on_database(url: str, work: Any) -> Any:
    database = Database(url)
    try:
        async with database.engine.begin() as connection:
            return await connection.run_sync(work)
    finally:
        await database.dispose()


@pytest.fixture
async def empty_database_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database on this lane: a new SQLite file, or the server's emptied."""
    if make_url(database_url).get_backend_name() == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
        return
    await on_database(database_url, _drop_everything)
    try:
        yield database_url
    finally:
        # The other tests create their tables themselves.
        await on_database(database_url, _drop_everything)


async def test_migrate_builds_the_schema(empty_database_url: str) -> None:
    outcome = await command("migrate", env=service_environment(empty_database_url))
    assert outcome.exit_code == 0, outcome.stderr
    assert "database migrated to head" in outcome.stdout
    tables = await on_database(empty_database_url, _table_names)
    assert tables == {*Base.metadata.tables, "alembic_version"}

    again = await command("migrate", env=service_environment(empty_database_url))
    assert again.exit_code == 0, again.stderr
