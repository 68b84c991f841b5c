"""Database lanes: which real database servers this machine offers the baked test suites.

SQLite always runs. MariaDB and PostgreSQL run when they answer on their usual ports (or at
PLUGKIT_MYSQL_URL / PLUGKIT_POSTGRES_URL). With PLUGKIT_REQUIRE_LANES=1 (CI) a lane that does
not answer is an error, never a silent skip. Each baked suite gets a database of its own, so
parallel test workers never share tables. The Python lanes (each python_version answer's
suite on that Python) are found in tests/pythons.py.

`python -m tests.lanes --report` prints which lanes will run and which will not, and why.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from tests.pythons import missing_python_lanes_message, python_lanes


@dataclass(frozen=True)
class Lane:
    name: str
    url: str  # SQLAlchemy async URL of an administrative database on the server

    @property
    def address(self) -> tuple[str, int]:
        parsed = make_url(self.url)
        return parsed.host or "127.0.0.1", int(parsed.port or 0)


SERVER_LANES = (
    Lane(
        "mariadb", os.environ.get("PLUGKIT_MYSQL_URL", "mysql+aiomysql://root@127.0.0.1:3306/test")
    ),
    Lane(
        "postgresql",
        os.environ.get(
            "PLUGKIT_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
        ),
    ),
)


def lanes_required() -> bool:
    return os.environ.get("PLUGKIT_REQUIRE_LANES", "") not in ("", "0", "false")


def answers(lane: Lane, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(lane.address, timeout=timeout):
            return True
    except OSError:
        return False


def available_lanes() -> dict[str, Lane | None]:
    """Every server lane, mapped to itself when it answers and to None when it does not."""
    return {lane.name: (lane if answers(lane) else None) for lane in SERVER_LANES}


def missing_lanes_message(missing: list[Lane]) -> str:
    return "; ".join(
        f"{lane.name} lane not run: nothing answers on {lane.address[0]}:{lane.address[1]}"
        for lane in missing
    )


async def _run_admin(lane: Lane, statement: str) -> None:
    url = make_url(lane.url)
    if lane.name == "mariadb":
        import aiomysql

        connection = await aiomysql.connect(
            host=url.host,
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            autocommit=True,
        )
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(statement)
        finally:
            connection.close()
    else:
        import asyncpg

        connection = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            database=url.database or "postgres",
        )
        try:
            await connection.execute(statement)
        finally:
            await connection.close()


@contextmanager
def fresh_database(lane: Lane) -> Iterator[str]:
    """Create an empty database on the lane's server; yield its URL; drop it afterwards."""
    name = f"plugkit_{uuid.uuid4().hex[:12]}"
    asyncio.run(_run_admin(lane, f"CREATE DATABASE {name}"))
    try:
        yield make_url(lane.url).set(database=name).render_as_string(hide_password=False)
    finally:
        drop = f"DROP DATABASE IF EXISTS {name}"
        if lane.name == "postgresql":
            drop += " WITH (FORCE)"
        asyncio.run(_run_admin(lane, drop))


def main() -> int:
    lanes = available_lanes()
    missing = [lane for lane in SERVER_LANES if lanes[lane.name] is None]
    running = ["sqlite", *(name for name, lane in lanes.items() if lane)]
    print(f"Database lanes that will run: {', '.join(running)}")
    if missing:
        print(f"NOT RUN: {missing_lanes_message(missing)}")
    pythons = python_lanes()
    found = [lane for lane in pythons if lane.available]
    print(f"Python lanes that will run: {'; '.join(lane.describe() for lane in found)}")
    lacking = [lane for lane in pythons if not lane.available]
    if lacking:
        print(f"NOT RUN: {missing_python_lanes_message(lacking)}")
    if (missing or lacking) and lanes_required():
        print("PLUGKIT_REQUIRE_LANES is set: every lane must run.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if "--report" in sys.argv:
        sys.exit(main())
