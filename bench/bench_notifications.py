"""The notification API: accepting, delivering to SES, and `/health` while a burst goes out.

    python bench/bench_notifications.py --project /path/to/bake [--only accept,ses,health]

Three measurements, each against a baseline taken in the same run:

1. accept: signed `POST /api/v1/notifications` accepted per second, against a bare
   FastAPI endpoint that parses the same JSON body and answers 202 with a constant. One
   uvicorn process serves both; this script is the client (httpx, `--concurrency`
   requests in flight, every service request signed with the shipped `SignedAuth`).
   Phases alternate for `--rounds` rounds; medians are reported, with the server's CPU
   time per request. With `--accept-broker inprocess` (the default) the same process
   also delivers what it accepts (to the console notifier); with `redis` it only
   enqueues, as an API process does in front of workers.
2. ses: SES delivery throughput against a local moto server. The kit: one
   `taskiq worker app.notifications.worker:broker` process (Redis broker, `--concurrency` sends in
   flight), fed `--messages` queued notifications; the clock runs from the first broker
   message to the last row marked delivered. The baseline: a plain aioboto3 loop in this
   process, one shared `sesv2` client, the same concurrency and message. Alternating
   rounds; medians.
3. health: latency of `GET /health` (and of a constant route, which shows the event loop
   alone) from a prober sending one request every 10 ms, first with nothing else going
   on, then while the service delivers a burst of `--burst` notifications in process to
   moto's SES. The burst is written straight into the outbox table, as rows a restart
   would leave, so that the requests that accept it do not count as "burst".

Run it with the project's interpreter (the default is the one running this script): it
imports the project to write rows and to sign requests. Without `--project` it bakes the
template's defaults into a temporary folder first. The database is a SQLite file, or
`--database-url` (e.g. mysql+aiomysql://root@127.0.0.1:3306/plugkit_bench, created when
missing). Redis is reached at `--redis-url`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    cpu_seconds,
    create_mariadb_database,
    delete_redis_key,
    free_port,
    http_ok,
    moto_server,
    percentile,
    running,
    ses_request,
    ses_session,
    signed_credentials,
    tree_cpu_seconds,
    wait_for,
)

SERVER = """
from fastapi import FastAPI
from pydantic import BaseModel

from app.main import create_app

service = create_app()


@service.get("/bench/constant")
async def service_constant() -> dict[str, str]:
    return {"status": "ok"}


# Event loop lag: how late a 5 ms sleep wakes up. A blocking call shows as a long one.
import asyncio
import time

lags: list[float] = []


async def watch_loop() -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append((time.perf_counter() - started - 0.005) * 1000)


@service.get("/bench/lag")
async def loop_lag() -> dict[str, object]:
    if not hasattr(service.state, "lag_watcher"):
        service.state.lag_watcher = asyncio.create_task(watch_loop())
    taken = sorted(lags)
    lags.clear()
    return {"samples": len(taken), "p99_ms": taken[int(0.99 * (len(taken) - 1))] if taken else 0,
            "max_ms": taken[-1] if taken else 0}


bare = FastAPI()


class Message(BaseModel):
    channel: str
    to: list[str]
    subject: str | None = None
    text: str | None = None


@bare.post("/bare", status_code=202)
async def bare_accept(message: Message) -> dict[str, object]:
    return {"id": 1, "status": "queued", "channel": message.channel}


async def app(scope, receive, send):
    if scope["type"] == "http" and scope["path"] == "/bare":
        await bare(scope, receive, send)
    else:
        await service(scope, receive, send)
"""


@dataclass
class Bench:
    project: Path
    scratch: Path
    args: argparse.Namespace

    @property
    def python(self) -> str:
        return str(self.args.python)

    def database_url(self, name: str) -> str:
        if self.args.database_url:
            return str(self.args.database_url)
        return f"sqlite+aiosqlite:///{self.scratch / (name + '.db')}"

    def base_env(self, database_url: str) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("TASK_", "BROKER_", "DELIVERY_", "SES_", "DATABASE_"))
        }
        env.update(
            PYTHONPATH=f"{self.scratch / 'server'}{os.pathsep}{self.project}",
            ENVIRONMENT="development",
            DATABASE_URL=database_url,
            SECRET_KEY=SERVER_SECRET_KEY,
            API_KEY_ENCRYPTION_KEY=secrets.token_urlsafe(48),
            LOG_LEVEL="WARNING",
            DISABLED_PLUGINS="",
            # One client address and one API key send everything: the per-client and per-key
            # rate limits (login 10/minute, signed API 600/minute) would measure themselves.
            RATE_LIMITS_ENABLED="false",
        )
        return env

    def ses_env(self, moto_url: str) -> dict[str, str]:
        return {
            "SES_SENDER": SES_SENDER,
            "SES_REGION": SES_REGION,
            "SES_ENDPOINT_URL": moto_url,
            "SES_ACCESS_KEY_ID": SES_KEY_ID,
            "SES_SECRET_ACCESS_KEY": SES_SECRET,
            "SES_MAX_CONNECTIONS": str(max(50, self.args.concurrency)),
        }

    @contextmanager
    def server(self, env: dict[str, str], name: str) -> Iterator[tuple[int, int]]:
        server_dir = self.scratch / "server"
        server_dir.mkdir(exist_ok=True)
        (server_dir / "bench_server.py").write_text(SERVER)
        port = free_port()
        command = [
            self.python,
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
        with running(command, cwd=self.project, env=env, log=self.scratch / f"{name}.log") as proc:
            wait_for(lambda: http_ok(port, "/health"), "the service", proc)
            yield port, proc.pid

    @contextmanager
    def moto(self) -> Iterator[str]:
        with moto_server(self.python, self.scratch) as url:
            yield url


# --- 1. accept --------------------------------------------------------------------------


async def drive(client: httpx.AsyncClient, path: str, seconds: float, workers: int) -> int:
    deadline = time.perf_counter() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            response = await client.post(path, json=MESSAGE)
            if response.status_code != 202:
                raise RuntimeError(f"POST {path} answered {response.status_code}: {response.text}")
            done += 1

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done


async def measure_accept(port: int, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    from app.client import SignedAuth

    base_url = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as setup:
        access_key, secret_key = await signed_credentials(setup)
    routes = {"bare FastAPI": "/bare", "signed POST /api/v1/notifications": NOTIFICATIONS}
    phases: dict[str, list[tuple[float, float]]] = {name: [] for name in routes}
    async with (
        httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as bare,
        httpx.AsyncClient(
            base_url=base_url,
            limits=limits,
            timeout=30,
            auth=SignedAuth(access_key, secret_key),
        ) as signed,
    ):
        clients = {"/bare": bare, NOTIFICATIONS: signed}
        for path in routes.values():  # warm up connections, caches and the pool
            await drive(clients[path], path, 0.5, args.concurrency)
        for round_number in range(args.rounds):
            names = list(routes) if round_number % 2 == 0 else list(reversed(routes))
            for name in names:
                path = routes[name]
                cpu_before, started = cpu_seconds(pid), time.perf_counter()
                count = await drive(clients[path], path, args.seconds, args.concurrency)
                elapsed = time.perf_counter() - started
                cpu = cpu_seconds(pid) - cpu_before
                phases[name].append((count / elapsed, cpu / count * 1e6))
                print(
                    f"  accept round {round_number + 1} {name}: {count / elapsed:,.0f} rps",
                    file=sys.stderr,
                    flush=True,
                )
    return {
        name: (statistics.median(p[0] for p in runs), statistics.median(p[1] for p in runs))
        for name, runs in phases.items()
    }


def bench_accept(bench: Bench) -> dict[str, Any]:
    url = bench.database_url("accept")
    env = bench.base_env(url)
    env.update(
        TASK_BROKER=bench.args.accept_broker, DELIVERY_CONCURRENCY=str(bench.args.concurrency)
    )
    if bench.args.accept_broker == "redis":
        env.update(BROKER_URL=bench.args.redis_url, TASK_QUEUE=f"bench-{uuid.uuid4().hex[:8]}")
    print("accept:", file=sys.stderr, flush=True)
    with bench.server(env, "accept") as (port, pid):
        results = asyncio.run(measure_accept(port, pid, bench.args))
    if bench.args.accept_broker == "redis":
        asyncio.run(delete_redis_key(bench.args.redis_url, env["TASK_QUEUE"]))
    return results


async def delete_queue(broker: str, args: argparse.Namespace, queue: str) -> None:
    if broker == "redis":
        await delete_redis_key(args.redis_url, queue)
        return
    import aio_pika

    connection = await aio_pika.connect(args.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        for name in (queue, f"{queue}.dead_letter"):
            await channel.queue_delete(name)
        await channel.exchange_delete(queue)


# --- 2. ses -----------------------------------------------------------------------------


async def baseline_ses(moto_url: str, messages: int, concurrency: int) -> tuple[float, float]:
    """A plain aioboto3 loop: one shared client, `concurrency` sends in flight.

    Messages per second, and this process's CPU µs per message."""
    from aiobotocore.config import AioConfig  # type: ignore[import-untyped]

    config = AioConfig(
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=max(50, concurrency),
    )
    async with ses_session().client("sesv2", endpoint_url=moto_url, config=config) as sesv2:
        await sesv2.send_email(**ses_request())  # connect before the clock starts
        remaining = messages

        async def sender() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await sesv2.send_email(**ses_request())

        started, cpu_before = time.perf_counter(), time.process_time()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        cpu = time.process_time() - cpu_before
        return messages / (time.perf_counter() - started), cpu / messages * 1e6


async def kit_ses_round(
    outbox: Outbox, settings: Any, user_id: int, messages: int, worker_pid: int
) -> tuple[float, float]:
    """Queue `messages` rows, send their broker messages, time until all are delivered.

    Messages per second, and the worker process's CPU µs per message."""
    from app.notifications.delivery import DELIVER_TASK_NAME, create_broker

    ids = await outbox.add_queued(user_id, messages, leased=True)
    broker = create_broker(settings)
    await broker.startup()
    task = broker.find_task(DELIVER_TASK_NAME)
    assert task is not None
    try:
        started, cpu_before = time.perf_counter(), tree_cpu_seconds(worker_pid)
        for notification_id in ids:
            await task.kiq(notification_id)
        finished = await outbox.wait_delivered(ids)
        cpu = tree_cpu_seconds(worker_pid) - cpu_before
    finally:
        await broker.shutdown()
    return messages / (finished - started), cpu / messages * 1e6


def bench_ses(bench: Bench) -> dict[str, Any]:
    from app.core.config import Settings

    args = bench.args
    url = bench.database_url("ses")
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    broker_url = args.redis_url if args.worker_broker == "redis" else args.rabbitmq_url
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=url,
        task_broker=args.worker_broker,
        broker_url=broker_url,
        task_queue=queue,
    )
    worker = [
        bench.python,
        "-m",
        "taskiq",
        "worker",
        "app.notifications.worker:broker",
        "--workers",
        "1",
        "--max-async-tasks",
        str(args.concurrency),
        "--no-configure-logging",
    ]
    kit: list[tuple[float, float]] = []
    plain: list[tuple[float, float]] = []

    async def rounds(moto_url: str, worker_pid: int) -> None:
        outbox = Outbox(url)
        try:
            user_id = await outbox.prepare()
            # Warm up: the worker has started, its SES client is open.
            await kit_ses_round(outbox, settings, user_id, 100, worker_pid)
            await baseline_ses(moto_url, 100, args.concurrency)
            for round_number in range(args.rounds):
                steps: list[tuple[str, Callable[[], Awaitable[tuple[float, float]]]]] = [
                    (
                        "kit",
                        lambda: kit_ses_round(outbox, settings, user_id, args.messages, worker_pid),
                    ),
                    ("aioboto3", lambda: baseline_ses(moto_url, args.messages, args.concurrency)),
                ]
                if round_number % 2:
                    steps.reverse()
                for name, step in steps:
                    rate, cpu = await step()
                    (kit if name == "kit" else plain).append((rate, cpu))
                    print(
                        f"  ses round {round_number + 1} {name}: {rate:,.0f} msg/s, "
                        f"{cpu:,.0f} CPU µs/msg",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            await outbox.close()
            await delete_queue(args.worker_broker, args, queue)

    print("ses:", file=sys.stderr, flush=True)
    with bench.moto() as moto_url:
        env = bench.base_env(url)
        env.update(
            bench.ses_env(moto_url),
            TASK_BROKER=args.worker_broker,
            BROKER_URL=broker_url,
            TASK_QUEUE=queue,
            DELIVERY_CONCURRENCY=str(args.concurrency),
        )
        # The worker makes the tables (development settings) before this process needs them.
        with running(worker, cwd=bench.project, env=env, log=bench.scratch / "worker.log") as proc:
            asyncio.run(rounds(moto_url, proc.pid))
    return {
        name: (statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs))
        for name, runs in (("kit", kit), ("aioboto3", plain))
    }


# --- 3. health --------------------------------------------------------------------------


async def probe(port: int, until: Callable[[], bool]) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {"/health": [], "/bench/constant": []}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        paths = list(latencies)
        turn = 0
        while not until():
            path = paths[turn % 2]
            turn += 1
            started = time.perf_counter()
            response = await client.get(path)
            latencies[path].append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}")
            await asyncio.sleep(0.01)
    return latencies


async def measure_health(port: int, url: str, args: argparse.Namespace) -> dict[str, Any]:
    outbox = Outbox(url)
    try:
        return await measure_burst(port, outbox, args)
    finally:
        await outbox.close()


async def loop_lag(port: int) -> dict[str, float]:
    """The service's event loop lag since the last call (the first call starts the watch)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        response = await client.get("/bench/lag")
        response.raise_for_status()
        lag: dict[str, float] = response.json()
        return lag


async def measure_burst(port: int, outbox: Outbox, args: argparse.Namespace) -> dict[str, Any]:
    user_id = await outbox.prepare()
    await loop_lag(port)
    quiet_until = time.perf_counter() + args.seconds * 2
    quiet = await probe(port, lambda: time.perf_counter() > quiet_until)
    quiet_lag = await loop_lag(port)

    ids = await outbox.add_queued(user_id, args.burst, leased=False)
    done = asyncio.Event()
    started = time.perf_counter()

    async def watch() -> float:
        finished = await outbox.wait_delivered(ids)
        done.set()
        return finished

    watcher = asyncio.create_task(watch())
    busy = await probe(port, done.is_set)
    finished = await watcher
    return {
        "quiet": quiet,
        "burst": busy,
        "burst_seconds": finished - started,
        "lag": {"quiet": quiet_lag, "burst": await loop_lag(port)},
    }


def bench_health(bench: Bench) -> dict[str, Any]:
    args = bench.args
    url = bench.database_url("health")
    print("health:", file=sys.stderr, flush=True)
    with bench.moto() as moto_url:
        env = bench.base_env(url)
        env.update(
            bench.ses_env(moto_url),
            TASK_BROKER="inprocess",
            DELIVERY_CONCURRENCY=str(args.concurrency),
            DELIVERY_POLL_SECONDS="0.2",
        )
        with bench.server(env, "health") as (port, _):
            return asyncio.run(measure_health(port, url, args))


# --- report -----------------------------------------------------------------------------


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    database = "SQLite file" if not args.database_url else args.database_url.split(":")[0]
    print(
        f"# notifications: Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {database}, {args.concurrency} in flight"
    )
    if "accept" in results:
        accept = results["accept"]
        bare_rps = accept["bare FastAPI"][0]
        print()
        print(
            f"## 1. accept ({args.rounds} rounds of {args.seconds:g} s per route, "
            f"broker {args.accept_broker})"
        )
        print()
        print("| route | rps (median) | ratio to bare | server CPU µs/request |")
        print("|---|---:|---:|---:|")
        for name, (rps, cpu) in accept.items():
            print(f"| {name} | {rps:,.0f} | {rps / bare_rps:.2f} | {cpu:,.0f} |")
    if "ses" in results:
        ses = results["ses"]
        print()
        print(f"## 2. SES delivery to moto ({args.rounds} rounds of {args.messages} messages)")
        print()
        print("| sender | messages/s (median) | ratio to aioboto3 | sender CPU µs/message |")
        print("|---|---:|---:|---:|")
        rate, cpu = ses["aioboto3"]
        print(f"| plain aioboto3 loop, one client | {rate:,.0f} | 1.00 | {cpu:,.0f} |")
        kit_rate, kit_cpu = ses["kit"]
        print(
            f"| kit: taskiq worker ({args.worker_broker}) | {kit_rate:,.0f} | "
            f"{kit_rate / rate:.2f} | "
            f"{kit_cpu:,.0f} |"
        )
    if "health" in results:
        health = results["health"]
        print()
        print(
            f"## 3. latency during an in-process burst of {args.burst} SES deliveries "
            f"({args.burst / health['burst_seconds']:,.0f} msg/s, "
            f"{health['burst_seconds']:.1f} s)"
        )
        print()
        print("| route | phase | requests | p50 ms | p99 ms | max ms |")
        print("|---|---|---:|---:|---:|---:|")
        for path in ("/health", "/bench/constant"):
            for phase in ("quiet", "burst"):
                values = health[phase][path]
                print(
                    f"| {path} | {phase} | {len(values)} | {percentile(values, 0.5):.1f} | "
                    f"{percentile(values, 0.99):.1f} | {max(values):.1f} |"
                )
        print()
        print("| event loop lag (a 5 ms sleep, inside the service) | samples | p99 ms | max ms |")
        print("|---|---:|---:|---:|")
        for phase in ("quiet", "burst"):
            lag = health["lag"][phase]
            print(f"| {phase} | {lag['samples']:.0f} | {lag['p99_ms']:.1f} | {lag['max_ms']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a baked project (default: bake one)")
    parser.add_argument("--python", default=sys.executable, help="the project's interpreter")
    parser.add_argument("--only", default="accept,ses,health")
    parser.add_argument("--database-url", default="", help="default: a SQLite file")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rabbitmq-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument(
        "--worker-broker",
        default="redis",
        choices=["redis", "rabbitmq"],
        help="the broker the SES benchmark's worker uses",
    )
    parser.add_argument("--accept-broker", default="inprocess", choices=["inprocess", "redis"])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1000, help="per SES round")
    parser.add_argument("--burst", type=int, default=1000)
    args = parser.parse_args()
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(wanted) - {"accept", "ses", "health"}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    with tempfile.TemporaryDirectory(prefix="bench-notifications-") as scratch_name:
        scratch = Path(scratch_name)
        project = (args.project or bake_default_project(scratch / "bake")).resolve()
        sys.path.insert(0, str(project))
        os.chdir(project)  # the project's settings find its folder, not ours
        if args.database_url:
            asyncio.run(create_mariadb_database(args.database_url))
        bench = Bench(project, scratch, args)
        runners = {"accept": bench_accept, "ses": bench_ses, "health": bench_health}
        results = {name: runners[name](bench) for name in wanted}
    report(results, args)


if __name__ == "__main__":
    main()
