"""`GET /api/v1/users/me` with a bearer token, against a bare FastAPI endpoint in the same process.

    python bench/bench_users_me.py --project /path/to/bake [--databases sqlite,mariadb]

One uvicorn process on 127.0.0.1 serves three routes side by side:

- `/bare`: a bare FastAPI app (no middleware) answering a constant — the baseline;
- `/bench/constant`: a constant route added to the service app, so it crosses the
  service's middleware (request id, access log, session cleanup) and nothing else;
- `/api/v1/users/me`: the real route: JWT check, user and linked accounts from the
  database, the response model.

This script is the client, in its own process, with an httpx async client keeping
`--concurrency` requests in flight over keep-alive connections. Phases of `--seconds`
alternate between the three routes for `--rounds` rounds; the tables give the median
requests per second and the ratio to `/bare`. Real HTTP rather than httpx's ASGI
transport: in-process, the client's own cost would be added to every request of both
routes and flatten the ratio, and the database driver's threads and sockets would not
run as they do in production. The server's CPU time per request (from /proc) is shown
too: when the client cannot keep the server busy, rps understate the gap, CPU does not.

Run it with the project's interpreter (the default is the one running this script).
Without `--project` it bakes the template's defaults into a temporary folder first.
MariaDB is reached at `--mariadb-url`; its database is created when missing.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from serving import bake_default_project, free_port

START_TIMEOUT_SECONDS = 60.0
ME = "/api/v1/users/me"
ROUTES = {"bare FastAPI": "/bare", "service constant": "/bench/constant", "users/me": ME}
DEFAULT_MARIADB_URL = "mysql+aiomysql://root@127.0.0.1:3306/plugkit_bench"

# Run by the project's interpreter in the project folder: the service app, plus a bare
# FastAPI app and a constant route, behind one ASGI callable.
SERVER = """
from fastapi import FastAPI

from app.main import create_app

service = create_app()


@service.get("/bench/constant")
async def service_constant() -> dict[str, str]:
    return {"status": "ok"}


bare = FastAPI()


@bare.get("/bare")
async def bare_constant() -> dict[str, str]:
    return {"status": "ok"}


async def app(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/bare":
        await bare(scope, receive, send)
    else:
        await service(scope, receive, send)
"""


def answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/bare")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


async def create_mariadb_database(url: str) -> None:
    import aiomysql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
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


@dataclass
class Phase:
    requests: int
    seconds: float
    server_cpu: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu / self.requests * 1e6


@dataclass
class Results:
    phases: dict[str, list[Phase]] = field(default_factory=lambda: {name: [] for name in ROUTES})

    def median_rps(self, name: str) -> float:
        return statistics.median(phase.rps for phase in self.phases[name])

    def median_cpu(self, name: str) -> float:
        return statistics.median(phase.cpu_us_per_request for phase in self.phases[name])


async def drive(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], seconds: float, workers: int
) -> int:
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.get(path, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text}")
            done += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done


async def sign_up(client: httpx.AsyncClient) -> dict[str, str]:
    email = f"bench-{uuid.uuid4().hex[:12]}@example.com"
    password = secrets.token_urlsafe(16)
    registered = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "name": "Bench"}
    )
    registered.raise_for_status()
    login = await client.post(
        "/api/v1/auth/jwt/login", data={"username": email, "password": password}
    )
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def measure(port: int, pid: int, args: argparse.Namespace) -> Results:
    in_flight = args.concurrency
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
    ) as client:
        headers = await sign_up(client)
        for path in ROUTES.values():  # warm up connections, caches and the pool
            await drive(client, path, headers, 0.5, args.concurrency)
        results = Results()
        for round_number in range(args.rounds):
            names = list(ROUTES) if round_number % 2 == 0 else list(reversed(ROUTES))
            for name in names:
                cpu_before, started = cpu_seconds(pid), time.perf_counter()
                count = await drive(client, ROUTES[name], headers, args.seconds, args.concurrency)
                elapsed = time.perf_counter() - started
                results.phases[name].append(Phase(count, elapsed, cpu_seconds(pid) - cpu_before))
                print(
                    f"  round {round_number + 1} {name}: {count / elapsed:,.0f} rps",
                    file=sys.stderr,
                    flush=True,
                )
        return results


def run_database(project: Path, scratch: Path, database: str, args: argparse.Namespace) -> Results:
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{scratch / 'bench.db'}"
    else:
        url = args.mariadb_url
        asyncio.run(create_mariadb_database(url))
    server_dir = scratch / "server"
    server_dir.mkdir(exist_ok=True)
    (server_dir / "bench_server.py").write_text(SERVER)
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{server_dir}{os.pathsep}{project}",
        "ENVIRONMENT": "development",
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(48),
    }
    command = [
        args.python,
        "-m",
        "uvicorn",
        "bench_server:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    # The service's own access log stays on, as in production; it goes nowhere here.
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        started = time.perf_counter()
        while not answers(port):
            if server.poll() is not None:
                raise RuntimeError(f"the server exited early ({server.returncode})")
            if time.perf_counter() - started > START_TIMEOUT_SECONDS:
                raise RuntimeError("the server did not answer within 60 s")
            time.sleep(0.01)
        print(f"{database}:", file=sys.stderr, flush=True)
        return asyncio.run(measure(port, server.pid, args))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def report(results: dict[str, Results], args: argparse.Namespace) -> None:
    interpreter = subprocess.run(  # noqa: S603
        [args.python, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"# users/me: Python {interpreter}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"{args.rounds} rounds of {args.seconds:g} s per route, {args.concurrency} in flight"
    )
    print()
    print("| database | route | rps (median) | ratio to bare | server CPU µs/request |")
    print("|---|---|---:|---:|---:|")
    for database, result in results.items():
        bare = result.median_rps("bare FastAPI")
        for name in ROUTES:
            rps = result.median_rps(name)
            print(
                f"| {database} | {name} | {rps:,.0f} | {rps / bare:.2f} | "
                f"{result.median_cpu(name):,.0f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a baked project (default: bake one)")
    parser.add_argument("--python", default=sys.executable, help="the project's interpreter")
    parser.add_argument("--databases", default="sqlite,mariadb", help="sqlite, mariadb or both")
    parser.add_argument("--mariadb-url", default=DEFAULT_MARIADB_URL)
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    databases = [name.strip() for name in args.databases.split(",") if name.strip()]
    unknown = set(databases) - {"sqlite", "mariadb"}
    if unknown:
        parser.error(f"unknown database(s): {', '.join(sorted(unknown))}")

    with tempfile.TemporaryDirectory(prefix="bench-users-me-") as scratch_name:
        scratch = Path(scratch_name)
        project = (args.project or bake_default_project(scratch / "bake")).resolve()
        results = {name: run_database(project, scratch, name, args) for name in databases}
    report(results, args)


if __name__ == "__main__":
    main()
