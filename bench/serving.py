"""What the benchmark scripts share: baking, serving a bake, moto's SES, the outbox.

Imported by the scripts in this folder (`python bench/<script>.py` puts the folder on
sys.path). Everything that imports the project (`app.…`) does so inside a function: the
script puts the bake on sys.path first.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 60.0
NOTIFICATIONS = "/api/v1/notifications"
SES_REGION = "us-east-1"
SES_SENDER = "bench@example.com"
SES_KEY_ID = "testing"
SES_SECRET = "testing"  # noqa: S105 - moto accepts any credentials
MESSAGE = {
    "channel": "email",
    "to": ["reader@example.com"],
    "subject": "Your order has shipped",
    "text": "Order 42 left the warehouse today and arrives on Thursday.",
}

# Run by the project's interpreter in the project folder: the service app, a bare FastAPI
# app with an endpoint shaped like the notification one, and a constant route.

# The SECRET_KEY of every server a bench starts: `signed_credentials` signs a verification
# token with it, as the mailed link would carry.
SERVER_SECRET_KEY = secrets.token_urlsafe(48)
VERIFY_TOKEN_AUDIENCE = "fastapi-users:verify"  # noqa: S105 - a JWT audience


def bake_default_project(into: Path) -> Path:
    from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

    return Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(into)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live children (`taskiq worker` forks its workers)."""
    total = cpu_seconds(pid)
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            total += tree_cpu_seconds(int(child))
    return total


def http_ok(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def wait_for(check: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    started = time.perf_counter()
    while not check():
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early ({process.returncode})")
        if time.perf_counter() - started > START_TIMEOUT_SECONDS:
            raise RuntimeError(f"{what} did not start within {START_TIMEOUT_SECONDS:g} s")
        time.sleep(0.02)


@contextmanager
def running(
    command: list[str], *, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextmanager
def moto_server(python: str, scratch: Path) -> Iterator[str]:
    """moto's server on a free port, with the SES sender verified; yields its URL."""
    port = free_port()
    command = [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, "MOTO_CALL_RESET_API": "true"}
    with running(command, cwd=scratch, env=env, log=scratch / "moto.log") as proc:
        wait_for(lambda: http_ok(port, "/moto-api/data.json"), "moto", proc)
        url = f"http://127.0.0.1:{port}"
        asyncio.run(verify_sender(url))
        yield url


def ses_session() -> Any:
    import aioboto3  # type: ignore[import-untyped]

    return aioboto3.Session(
        aws_access_key_id=SES_KEY_ID, aws_secret_access_key=SES_SECRET, region_name=SES_REGION
    )


async def verify_sender(moto_url: str) -> None:
    async with ses_session().client("sesv2", endpoint_url=moto_url) as sesv2:
        await sesv2.create_email_identity(EmailIdentity=SES_SENDER)


def ses_request() -> dict[str, Any]:
    return {
        "FromEmailAddress": SES_SENDER,
        "Destination": {"ToAddresses": MESSAGE["to"]},
        "Content": {
            "Simple": {
                "Subject": {"Data": MESSAGE["subject"], "Charset": "UTF-8"},
                "Body": {"Text": {"Data": MESSAGE["text"], "Charset": "UTF-8"}},
            }
        },
    }


async def create_mariadb_database(url: str) -> None:
    import aiomysql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("mysql"):
        return
    connection = await aiomysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
    )
    try:
        async with connection.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{parsed.database}`")
    finally:
        connection.close()


# --- the outbox, from this process ---------------------------------------------------


class Outbox:
    """The service's database, opened with the project's own code."""

    def __init__(self, url: str) -> None:
        from app.core.database import Database

        self.database = Database(url)
        self.database.bind_models()

    async def prepare(self) -> int:
        """Tables, and the user that notifications belong to."""
        from app.accounts.models import User

        await self.database.create_all()
        async with self.database.sessionmaker() as session:
            user = await User.create(
                session=session,
                email=f"bench-{uuid.uuid4().hex[:8]}@example.com",
                hashed_password="-",  # noqa: S106 - bench users never sign in
                is_active=True,
                is_verified=True,
                is_superuser=False,
            )
            await session.commit()
            return user.id

    async def add_queued(self, user_id: int, count: int, *, leased: bool) -> list[int]:
        """Rows as the API writes them; `leased` = their broker message is on its way."""
        from datetime import timedelta

        from app.core.orm.base import utcnow
        from app.notifications.models import Notification

        lease = utcnow() + timedelta(hours=1) if leased else None
        async with self.database.sessionmaker() as session:
            rows = [
                Notification(
                    channel=MESSAGE["channel"],
                    recipients=MESSAGE["to"],
                    subject=MESSAGE["subject"],
                    text=MESSAGE["text"],
                    metadata_={},
                    status="queued",
                    attempts=0,
                    user_id=user_id,
                    lease_expires_at=lease,
                )
                for _ in range(count)
            ]
            session.add_all(rows)
            await session.commit()
            return [row.id for row in rows]

    async def delivered(self, ids: list[int]) -> int:
        """How many of these rows (written together: consecutive ids) are delivered."""
        from app.notifications.models import Notification
        from sqlalchemy import func, select

        async with self.database.sessionmaker() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.id.between(min(ids), max(ids)),
                    Notification.status == "delivered",
                )
            )
            return int(count or 0)

    async def wait_delivered(self, ids: list[int], timeout: float = 300.0) -> float:
        started = time.perf_counter()
        while (done := await self.delivered(ids)) < len(ids):
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"only {done} of {len(ids)} delivered after {timeout:g} s")
            await asyncio.sleep(0.05)
        return time.perf_counter()

    async def close(self) -> None:
        await self.database.dispose()


async def signed_credentials(client: httpx.AsyncClient) -> tuple[str, str]:
    """A verified account's API key, made through the service's own routes.

    Only a verified account may create keys. The verification mail goes to the service's log,
    so the token its link carries is minted here with the secret the bench gave the server.
    """
    from fastapi_users.jwt import generate_jwt

    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    password = secrets.token_urlsafe(16)
    registered = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    )
    registered.raise_for_status()
    token = generate_jwt(
        {"sub": str(registered.json()["id"]), "email": email, "aud": VERIFY_TOKEN_AUDIENCE},
        SERVER_SECRET_KEY,
        lifetime_seconds=3600,
    )
    (await client.post("/api/v1/auth/verify", json={"token": token})).raise_for_status()
    login = await client.post(
        "/api/v1/auth/jwt/login", data={"username": email, "password": password}
    )
    login.raise_for_status()
    bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    created = await client.post("/api/v1/users/me/api-keys", json={"memo": "bench"}, headers=bearer)
    created.raise_for_status()
    return created.json()["access_key"], created.json()["secret_key"]


async def delete_redis_key(url: str, key: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    await client.delete(key)
    await client.aclose()
