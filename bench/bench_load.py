"""A mixed load on the whole kit: API, Redis broker, two workers, MariaDB, SES (moto).

    python bench/bench_load.py --project /path/to/bake [--seconds 60]

The client (this process, httpx, `--concurrency` requests in flight) draws every request
from a fixed mix:

- 70 %: a signed `POST /api/v1/notifications` (email channel), signed with the shipped
  `SignedAuth` and an API key of a user made at startup;
- 20 %: `GET /api/v1/users/me` with a bearer token;
- 10 %: `POST /api/v1/auth/jwt/login` (form login, password hashed on the server) of one of
  `--users` users registered at startup.

The service: one uvicorn process (`app.main:create_app`, the bake's defaults, development
settings), `TASK_BROKER=redis` on its own queue, and `--workers` separate
`taskiq worker app.notifications.worker:broker` processes delivering to moto's SES server.
The database is a fresh MariaDB database made (and dropped afterwards) by this script.

Reported: requests per second, p50/p95/p99 latency per kind and overall, errors (any
non-2xx answer or transport error; the first few are printed) and the delivery check: after
the load stops, the time until every accepted notification is `delivered` in the outbox, and
the number of messages moto's SES received (its `GetSendQuota`, `SentLast24Hours`: one per
recipient, one recipient per message), which must equal the accepted count. The exit status
is 1 when there was an error or a message is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from serving import (
    MESSAGE,
    NOTIFICATIONS,
    SERVER_SECRET_KEY,
    SES_KEY_ID,
    SES_REGION,
    SES_SECRET,
    SES_SENDER,
    Outbox,
    bake_default_project,
    delete_redis_key,
    free_port,
    http_ok,
    moto_server,
    percentile,
    running,
    ses_session,
    signed_credentials,
    tree_cpu_seconds,
    wait_for,
)

USERS_ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/jwt/login"
MIX = (("notification", 70), ("users/me", 20), ("login", 10))
SHOWN_ERRORS = 5


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k, _ in MIX})
    errors: dict[str, int] = field(default_factory=lambda: {kind: 0 for kind, _ in MIX})
    first_errors: list[str] = field(default_factory=list)
    accepted_ids: list[int] = field(default_factory=list)
    unanswered: int = 0  # transport errors: no answer, so no latency

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.first_errors) < SHOWN_ERRORS:
            self.first_errors.append(f"{kind}: {what}")


@dataclass
class Clients:
    signed: httpx.AsyncClient
    plain: httpx.AsyncClient
    bearer: dict[str, str]
    users: list[tuple[str, str]]


async def prepare(base_url: str, users: int) -> tuple[str, str, dict[str, str], list[Any]]:
    """An API key, a bearer token, and `users` registered (email, password) pairs."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        access_key, secret_key = await signed_credentials(client)
        accounts = []
        for _ in range(users):
            email = f"load-{uuid.uuid4().hex[:12]}@example.com"
            password = secrets.token_urlsafe(16)
            registered = await client.post(
                "/api/v1/auth/register", json={"email": email, "password": password}
            )
            registered.raise_for_status()
            accounts.append((email, password))
        login = await client.post(
            LOGIN, data={"username": accounts[0][0], "password": accounts[0][1]}
        )
        login.raise_for_status()
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
    return access_key, secret_key, bearer, accounts


async def one_request(kind: str, clients: Clients, pick: random.Random) -> httpx.Response:
    if kind == "notification":
        return await clients.signed.post(NOTIFICATIONS, json=MESSAGE)
    if kind == "users/me":
        return await clients.plain.get(USERS_ME, headers=clients.bearer)
    email, password = pick.choice(clients.users)
    return await clients.plain.post(LOGIN, data={"username": email, "password": password})


async def drive(clients: Clients, seconds: float, concurrency: int, seed: int) -> Tally:
    tally = Tally()
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    deadline = time.perf_counter() + seconds

    async def worker(number: int) -> None:
        pick = random.Random(seed + number)  # noqa: S311 - a workload mix, not a secret
        while time.perf_counter() < deadline:
            kind = pick.choices(kinds, weights)[0]
            started = time.perf_counter()
            try:
                response = await one_request(kind, clients, pick)
            except httpx.HTTPError as error:
                tally.error(kind, f"{type(error).__name__}: {error}")
                tally.unanswered += 1
                continue
            tally.latencies[kind].append((time.perf_counter() - started) * 1000)
            if not response.is_success:
                tally.error(kind, f"{response.status_code} {response.text[:300]}")
            elif kind == "notification":
                tally.accepted_ids.append(int(response.json()["id"]))

    await asyncio.gather(*(worker(number) for number in range(concurrency)))
    return tally


async def ses_sent(moto_url: str) -> int:
    """Messages moto's SES has accepted since it started (one recipient each)."""
    async with ses_session().client("ses", endpoint_url=moto_url) as ses:
        quota = await ses.get_send_quota()
        return int(quota["SentLast24Hours"])


async def mariadb(url: str, statement: str) -> None:
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
            await cursor.execute(statement.format(database=parsed.database))
    finally:
        connection.close()


@contextmanager
def fresh_database(url: str) -> Iterator[None]:
    asyncio.run(mariadb(url, "DROP DATABASE IF EXISTS `{database}`"))
    asyncio.run(mariadb(url, "CREATE DATABASE `{database}`"))
    try:
        yield
    finally:
        asyncio.run(mariadb(url, "DROP DATABASE IF EXISTS `{database}`"))


def service_env(project: Path, args: argparse.Namespace, moto_url: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TASK_", "BROKER_", "DELIVERY_", "SES_", "DATABASE_"))
    }
    env.update(
        PYTHONPATH=str(project),
        ENVIRONMENT="development",
        DATABASE_URL=args.database_url,
        SECRET_KEY=SERVER_SECRET_KEY,
        API_KEY_ENCRYPTION_KEY=secrets.token_urlsafe(48),
        LOG_LEVEL="WARNING",
        DISABLED_PLUGINS="",
        # One client address and one API key send everything: the per-client and per-key
        # rate limits (login 10/minute, signed API 600/minute) would measure themselves.
        RATE_LIMITS_ENABLED="false",
        TASK_BROKER="redis",
        BROKER_URL=args.redis_url,
        TASK_QUEUE=args.queue,
        SES_SENDER=SES_SENDER,
        SES_REGION=SES_REGION,
        SES_ENDPOINT_URL=moto_url,
        SES_ACCESS_KEY_ID=SES_KEY_ID,
        SES_SECRET_ACCESS_KEY=SES_SECRET,
    )
    return env


async def load(
    port: int, moto_url: str, pids: dict[str, list[int]], args: argparse.Namespace
) -> dict[str, Any]:
    from app.client import SignedAuth

    base_url = f"http://127.0.0.1:{port}"
    access_key, secret_key, bearer, users = await prepare(base_url, args.users)
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with (
        httpx.AsyncClient(
            base_url=base_url,
            limits=limits,
            timeout=30,
            auth=SignedAuth(access_key, secret_key),
        ) as signed,
        httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as plain,
    ):
        clients = Clients(signed, plain, bearer, users)
        outbox = Outbox(args.database_url)
        try:
            # Warm-up, then its notifications delivered, so SES counts only the load's.
            warm = await drive(clients, min(3.0, args.seconds), args.concurrency, seed=1000)
            if warm.accepted_ids:
                await outbox.wait_delivered(warm.accepted_ids, timeout=args.drain_timeout)
            sent_before = await ses_sent(moto_url)
            cpu_before = {name: sum(map(tree_cpu_seconds, ids)) for name, ids in pids.items()}
            client_cpu, started = time.process_time(), time.perf_counter()
            tally = await drive(clients, args.seconds, args.concurrency, seed=args.seed)
            elapsed = time.perf_counter() - started
            client_cpu = time.process_time() - client_cpu
            cpu = {
                name: sum(map(tree_cpu_seconds, ids)) - cpu_before[name]
                for name, ids in pids.items()
            }
            drained: float | None = None
            if tally.accepted_ids:
                await outbox.wait_delivered(tally.accepted_ids, timeout=args.drain_timeout)
                drained = time.perf_counter() - started - elapsed
        finally:
            await outbox.close()
        delivered = await ses_sent(moto_url) - sent_before
    cpu["client"] = client_cpu
    return {"tally": tally, "elapsed": elapsed, "drained": drained, "ses": delivered, "cpu": cpu}


def run(project: Path, scratch: Path, args: argparse.Namespace) -> dict[str, Any]:
    python = str(args.python)
    with fresh_database(args.database_url), moto_server(python, scratch) as moto_url:
        env = service_env(project, args, moto_url)
        port = free_port()
        api = [python, "-m", "uvicorn", "--factory", "app.main:create_app"]
        api += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        api += ["--no-access-log"]
        worker = [python, "-m", "taskiq", "worker", "app.notifications.worker:broker"]
        worker += ["--workers", "1", "--no-configure-logging"]
        # The API makes the tables (development settings) before the workers start.
        with running(api, cwd=project, env=env, log=scratch / "api.log") as api_process:
            wait_for(lambda: http_ok(port, "/health"), "the service", api_process)
            with ExitStack() as stack:
                workers = [
                    stack.enter_context(
                        running(worker, cwd=project, env=env, log=scratch / f"worker{n}.log")
                    )
                    for n in range(args.workers)
                ]
                time.sleep(3)  # the workers connect to Redis and MariaDB
                for process in workers:
                    if process.poll() is not None:
                        log = (scratch / "worker0.log").read_text()[-2000:]
                        raise RuntimeError(f"a worker exited ({process.returncode}):\n{log}")
                pids = {"api": [api_process.pid], "workers": [p.pid for p in workers]}
                try:
                    return asyncio.run(load(port, moto_url, pids, args))
                finally:
                    asyncio.run(delete_redis_key(args.redis_url, args.queue))


def report(results: dict[str, Any], args: argparse.Namespace) -> bool:
    tally: Tally = results["tally"]
    elapsed: float = results["elapsed"]
    every = [value for values in tally.latencies.values() for value in values]
    errors = sum(tally.errors.values())
    print(
        f"# load: Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{args.seconds:g} s, {args.concurrency} in flight, {args.workers} workers, "
        f"MariaDB, Redis broker, moto SES"
    )
    print()
    print("| kind | share | requests | rps | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = [(kind, tally.latencies[kind], tally.errors[kind]) for kind, _ in MIX]
    rows.append(("all", every, errors))
    for kind, values, failed in rows:
        if not values:
            print(f"| {kind} | | 0 | | | | | {failed} |")
            continue
        share = len(values) / max(1, len(every)) * 100
        print(
            f"| {kind} | {share:.0f} % | {len(values):,} | {len(values) / elapsed:,.1f} | "
            f"{percentile(values, 0.5):.1f} | {percentile(values, 0.95):.1f} | "
            f"{percentile(values, 0.99):.1f} | {failed} |"
        )
    total = len(every) + tally.unanswered
    print()
    print(f"error rate: {errors / max(1, total) * 100:.2f} % ({errors} of {total})")
    for line in tally.first_errors:
        print(f"  {line}")
    accepted = len(tally.accepted_ids)
    drained = results["drained"]
    print(
        f"notifications accepted: {accepted:,}; all delivered "
        f"{drained:.1f} s after the load stopped; SES (moto) received {results['ses']:,}"
        if drained is not None
        else f"notifications accepted: {accepted:,}"
    )
    cpu = results["cpu"]
    print(
        "CPU seconds during the load: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
        + f" (of {elapsed * (os.cpu_count() or 1):.0f} available)"
    )
    return errors == 0 and results["ses"] == accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a baked project (default: bake one)")
    parser.add_argument("--python", default=sys.executable, help="the project's interpreter")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--workers", type=int, default=2, help="taskiq worker processes")
    parser.add_argument("--users", type=int, default=20, help="accounts the logins use")
    parser.add_argument(
        "--database-url",
        default=f"mysql+aiomysql://root@127.0.0.1:3306/plugkit_load_{uuid.uuid4().hex[:8]}",
        help="a MariaDB/MySQL database this script creates and drops",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--queue", default=f"plugkit-load-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the logs folder")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        project = (args.project or bake_default_project(scratch / "bake")).resolve()
        sys.path.insert(0, str(project))
        os.chdir(project)  # the project's settings find its folder, not ours
        results = run(project, scratch, args)
    finally:
        if args.keep:
            print(f"logs kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    sys.exit(0 if report(results, args) else 1)


if __name__ == "__main__":
    main()
