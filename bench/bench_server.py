"""Server-bound throughput of two hot paths against a bare FastAPI app (issue 17's method).

    python bench/bench_server.py [--database postgresql|mysql|both] [--duration 15]
        [--connections 32] [--runs 3]

For each database the template is baked with `database=<it> task_broker=redis` into a
temporary folder, a database of the bench's own (`bench_server`) is created and migrated
(`alembic upgrade head`), and two servers are started, both pinned to CPU 0 with `taskset`:

- the service: one uvicorn process running the Dockerfile's factory
  (`app.main:create_app --factory`) with `--http httptools --loop uvloop --no-access-log
  --log-level warning`, in production mode, rate limits off, REDIS_URL unset (signature
  nonces go to the database), notifications enqueued on a Redis list of the bench's own
  (no worker reads it; it is deleted afterwards);
- a bare FastAPI app in the same kind of uvicorn process: a constant GET, and a POST that
  parses the notification body into a pydantic model and answers 202.

`wrk -t1` (pinned to CPU 1) drives each pair of routes in turn: bare GET against
`GET /api/v1/users/me` with a bearer token, bare POST against a signed
`POST /api/v1/notifications`. Signed requests carry a fresh nonce each, so they are signed
ahead of every run into a file and replayed by `wrk/signed.lua`, each once; the number
signed is sized from a warm-up (twice what the measured rate would use; a run that runs out
is signed again, larger, and repeated). Runs alternate the order of the two routes of a
pair; the table gives medians of `--runs` runs. A run with any answer outside 2xx or any
connect/read/write error is reported as such and left out of the median. wrk's "timeouts"
(requests still unanswered after 2 s) are counted in a column of their own: those answers
still arrive and count, so they say "slow", not "failed". For every run the server's CPU
time is read from /proc before and after: "server CPU" is the share of its core it used
(near 100 %: the server is the limit; well below: it waited on the database, Redis or the
client) and "CPU µs per request" what each answer cost it, which a busy machine moves
less than it moves the rates.

`--profile DIR` adds, after the runs, one uncounted run of each service route with py-spy
(on CPU 1) sampling the service: raw stacks in DIR, a summary on stderr. `--template`
bakes another copy of the template (e.g. `git archive HEAD | tar -x -C /tmp/t`), so that a
measurement names a commit.

Requirements: Debian's `wrk` (`apt-get install wrk`), `taskset`, two CPUs, PostgreSQL and
MariaDB/MySQL reachable as root/postgres without a password (`--postgresql-url`,
`--mysql-url`), Redis (`--redis-url`), and an interpreter with the baked project's
dependencies and cookiecutter (the template's dev environment). The service is reached
over HTTP only; nothing of the project is imported here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import math
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
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
    TEMPLATE_DIR,
    delete_redis_key,
    free_port,
    http_ok,
    running,
    signed_credentials,
    wait_for,
)

WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk"
SERVER_CPU = "0"
CLIENT_CPU = "1"
USERS_ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/jwt/login"
API_KEYS = "/api/v1/users/me/api-keys"
# The exact bytes every notification request carries (signed over, and parsed by the bare app).
BODY = json.dumps(MESSAGE, separators=(",", ":")).encode()
DATABASE_URLS = {
    "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_server",
    "mysql": "mysql+aiomysql://root@127.0.0.1:3306/bench_server",
}
UVICORN_OPTIONS = [
    "--host",
    "127.0.0.1",
    "--http",
    "httptools",
    "--loop",
    "uvloop",
    "--no-access-log",
    "--log-level",
    "warning",
]
# The smallest file of pre-signed requests (signing them takes milliseconds).
MIN_SIGNED_REQUESTS = 2_000
# The service refuses a timestamp older than this (SIGNATURE_TOLERANCE_SECONDS): every
# request of a file carries the time it was signed at, just before its run.
SIGNATURE_TOLERANCE_SECONDS = 300

BARE_APP = '''
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI()


class Message(BaseModel):
    """The fields of a notification request, without the service's checks."""

    channel: str
    to: list[str]
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


@app.get("/bare")
async def constant() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/bare", status_code=202)
async def accept(message: Message) -> dict[str, object]:
    return {"id": 1, "status": "queued", "channel": message.channel}
'''


# --- signing (CONTRACT.md, "Request signing") -----------------------------------------


def signature(
    secret_key: str,
    method: str,
    path: str,
    query: str,
    timestamp: str,
    nonce: str,
    body_sha256: str,
) -> str:
    canonical = "\n".join((method.upper(), path, query, timestamp, nonce, body_sha256))
    digest = hmac.new(secret_key.encode(), canonical.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def check_signer() -> None:
    """The contract's test vector, so that a wrong signer fails here and not as 401s."""
    body = b'{"channel":"email","to":["a@example.com"],"subject":"Hi","text":"hello"}'
    expected = "T5bvkbSgwG8nMdlbpwpEJIjUH1kMrf+u18Mm0osgBsI="
    got = signature(
        "example-secret-key-0123456789abcdefghijkl",
        "POST",
        NOTIFICATIONS,
        "a=1&b=2&dry_run=false",
        "1767225600",
        "n0nce-0123456789ab",
        hashlib.sha256(body).hexdigest(),
    )
    if got != expected:
        raise RuntimeError(f"the signer disagrees with the contract's test vector: {got}")


def write_signed_requests(path: Path, access_key: str, secret_key: str, count: int) -> None:
    """`count` signed notification requests, each with its own nonce, for wrk/signed.lua."""
    body_sha256 = hashlib.sha256(BODY).hexdigest()
    timestamp = str(int(time.time()))
    lines = [NOTIFICATIONS, access_key, BODY.decode()]
    for _ in range(count):
        nonce = secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]
        signed = signature(secret_key, "POST", NOTIFICATIONS, "", timestamp, nonce, body_sha256)
        lines.append(f"{timestamp} {nonce} {signed}")
    path.write_text("\n".join(lines) + "\n")


# --- wrk ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux's /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are the 14th and 15th fields; the split starts at the 3rd.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class WrkRun:
    seconds: float
    requests: int
    non2xx: int
    socket_errors: dict[str, int]  # wrk's count of each kind: connect, read, write
    # Requests wrk saw in flight for longer than its timeout (2 s): slow, not failed. Their
    # answers still arrive and are counted (or, outside 2xx, are in `non2xx`).
    slow: int
    used: int
    available: int
    # CPU seconds the server process spent per second of the run (1.0 = one core busy):
    # below about 0.9 the route waits on something else (the database, its disk, Redis).
    server_cpu: float = 0.0

    @property
    def exhausted(self) -> bool:
        """A replay that ran out of pre-signed requests (it then sent replays: 401s)."""
        return self.available > 0 and self.used > self.available

    @property
    def clean(self) -> bool:
        return self.non2xx == 0 and not self.socket_errors and not self.exhausted

    @property
    def rate(self) -> float:
        """2xx answers per second."""
        return (self.requests - self.non2xx) / self.seconds

    @property
    def cpu_per_request(self) -> float:
        """Server CPU seconds per answer: less sensitive to a busy machine than the rate."""
        return self.server_cpu / self.rate if self.rate else 0.0

    def problems(self) -> str:
        """Why the run is not counted as throughput (empty when it is)."""
        found = []
        if self.non2xx:
            found.append(f"{self.non2xx} non-2xx")
        found += [f"{count} socket {kind} errors" for kind, count in self.socket_errors.items()]
        if self.exhausted:
            found.append(f"ran out of signed requests ({self.available})")
        return ", ".join(found)


def parse_wrk(output: str) -> WrkRun:
    for line in output.splitlines():
        if line.startswith("wrk-result "):
            values = {
                name: int(value) for name, value in (item.split("=") for item in line.split()[1:])
            }
            return WrkRun(
                seconds=values["duration_us"] / 1e6,
                requests=values["requests"],
                non2xx=values["non2xx"],
                socket_errors={
                    kind: values[kind] for kind in ("connect", "read", "write") if values[kind]
                },
                slow=values["timeout"],
                used=values["used"],
                available=values["available"],
            )
    raise RuntimeError(f"wrk printed no result:\n{output}")


def run_wrk(
    url: str,
    seconds: float,
    connections: int,
    script: str,
    *args: str,
    headers: tuple[str, ...] = (),
) -> WrkRun:
    command = [
        "taskset",
        "-c",
        CLIENT_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "-s",
        str(WRK_SCRIPTS / script),
    ]
    for header in headers:
        command += ["-H", header]
    command += [url, "--", *args]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed ({finished.returncode}): {finished.stderr}")
    return parse_wrk(finished.stdout)


# --- the database ---------------------------------------------------------------------


def split_url(url: str) -> tuple[str, str, int, str, str]:
    """(scheme, host, port, user, database) of a SQLAlchemy URL without a password."""
    scheme, rest = url.split("://", 1)
    credentials, _, location = rest.rpartition("@")
    address, _, database = location.partition("/")
    host, _, port = address.partition(":")
    return scheme, host, int(port) if port else 0, credentials.split(":")[0], database


async def recreate_database(url: str, *, drop_only: bool = False) -> None:
    scheme, host, port, user, name = split_url(url)
    if scheme.startswith("postgresql"):
        import asyncpg

        connection = await asyncpg.connect(
            host=host, port=port or 5432, user=user or "postgres", database="postgres"
        )
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not drop_only:
                await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return
    import aiomysql

    mysql = await aiomysql.connect(host=host, port=port or 3306, user=user or "root")
    try:
        async with mysql.cursor() as cursor:
            with warnings.catch_warnings():  # the server's note that there was none to drop
                warnings.simplefilter("ignore")
                await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            if not drop_only:
                await cursor.execute(f"CREATE DATABASE `{name}`")
    finally:
        mysql.close()


# --- the servers ----------------------------------------------------------------------


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """What the bake's hook and alembic print (child processes too) stays off the table."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def bake(template: Path, database: str, into: Path) -> Path:
    from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

    extra = {"database": database, "task_broker": "redis"}
    with stdout_to_stderr():
        baked = cookiecutter(
            str(template), no_input=True, output_dir=str(into), extra_context=extra
        )
    return Path(baked)


def summarise_log(path: Path) -> str:
    """What the service logged (production logs JSON lines), counted by message and error."""
    counts: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            counts[line[:200]] += 1
            continue
        exception = (record.get("exception") or "").strip().splitlines()
        # "slow query 212.3 ms: ..." of one statement count together, whatever the time.
        message = re.sub(r"\d+(\.\d+)? ms", "N ms", str(record.get("message")))[:160]
        what = f"{record.get('level')} {message}"
        counts[f"{what}: {exception[-1][:200]}" if exception else what] += 1
    if not counts:
        return "  the service logged nothing (at WARNING and above)"
    lines = [f"  {count} x {what}" for what, count in counts.most_common(8)]
    return "  the service's log (at WARNING and above), by message:\n" + "\n".join(lines)


def service_env(database_url: str, redis_url: str, queue: str, port: int) -> dict[str, str]:
    # Nothing of the caller's shell that the service reads (the bake's .env fills the rest).
    skipped = ("DATABASE_", "TASK_", "BROKER_", "REDIS_", "RATE_LIMIT", "SES_", "SMTP_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(skipped)}
    env.update(
        ENVIRONMENT="production",
        SECRET_KEY=SERVER_SECRET_KEY,  # signed_credentials mints the verify token with it
        API_KEY_ENCRYPTION_KEY=secrets.token_urlsafe(48),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=database_url,
        CREATE_TABLES_ON_STARTUP="false",  # the schema is alembic's
        TASK_BROKER="redis",
        BROKER_URL=redis_url,
        TASK_QUEUE=queue,
        # One client address and one key send everything: the limits would measure themselves.
        RATE_LIMITS_ENABLED="false",
        # The default email channel (the console stand-in) is off in production otherwise.
        CONSOLE_ENABLED_IN_PRODUCTION="true",
        LOG_LEVEL="WARNING",
    )
    return env


@dataclass
class Servers:
    service: int
    bare: int
    service_pid: int
    bare_pid: int


@contextmanager
def servers(project: Path, scratch: Path, env: dict[str, str], port: int) -> Iterator[Servers]:
    (scratch / "bare_app.py").write_text(BARE_APP)
    bare_port = free_port()
    python = sys.executable
    service_command = [
        "taskset",
        "-c",
        SERVER_CPU,
        python,
        "-m",
        "uvicorn",
        "app.main:create_app",
        "--factory",
        "--port",
        str(port),
        "--no-proxy-headers",
        "--no-server-header",
        *UVICORN_OPTIONS,
    ]
    bare_command = [
        "taskset",
        "-c",
        SERVER_CPU,
        python,
        "-m",
        "uvicorn",
        "bare_app:app",
        "--port",
        str(bare_port),
        *UVICORN_OPTIONS,
    ]
    bare_env = {**os.environ, "PYTHONPATH": str(scratch)}
    with (
        running(service_command, cwd=project, env=env, log=scratch / "service.log") as service,
        running(bare_command, cwd=scratch, env=bare_env, log=scratch / "bare.log") as bare,
    ):
        wait_for(lambda: http_ok(port, "/health"), "the service", service)
        wait_for(lambda: http_ok(bare_port, "/bare"), "the bare app", bare)
        yield Servers(port, bare_port, service.pid, bare.pid)


@dataclass
class Account:
    bearer: str
    access_key: str
    secret_key: str


async def make_account(port: int) -> Account:
    """A verified user with an API key whose whitelist holds 127.0.0.1, and its bearer token.

    `signed_credentials` registers, verifies, logs in and creates the key; its login and key
    answers are read on the way past, for the token and the key's id."""
    seen: dict[str, Any] = {}

    async def keep(response: httpx.Response) -> None:
        if response.request.method == "POST" and response.url.path in (LOGIN, API_KEYS):
            await response.aread()
            seen[response.url.path] = response.json()

    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=30, event_hooks={"response": [keep]}
    ) as client:
        access_key, secret_key = await signed_credentials(client)
        bearer = seen[LOGIN]["access_token"]
        key_id = seen[API_KEYS]["id"]
        whitelisted = await client.post(
            f"{API_KEYS}/{key_id}/whitelist",
            json={"ip_address": "127.0.0.1"},
            headers={"Authorization": f"Bearer {bearer}"},
        )
        whitelisted.raise_for_status()
    return Account(bearer, access_key, secret_key)


# --- the measurement ------------------------------------------------------------------


@dataclass
class Route:
    name: str
    baseline: str  # the route this one is compared with ("" for a bare route)
    runs: list[WrkRun] = field(default_factory=list)

    def clean_rates(self) -> list[float]:
        return [run.rate for run in self.runs if run.clean]


SIGNED = f"signed POST {NOTIFICATIONS}"
USERS_ME_ROUTE = f"GET {USERS_ME}"


class Bench:
    def __init__(
        self, servers: Servers, account: Account, scratch: Path, args: argparse.Namespace
    ) -> None:
        self.servers = servers
        self.account = account
        self.scratch = scratch
        self.args = args
        self.signed_rate = 0.0  # the highest signed rate seen: sizes the next file
        body_file = scratch / "body.json"
        body_file.write_text(BODY.decode() + "\n")
        self.body_file = body_file

    def drive(self, route: str, seconds: float) -> WrkRun:
        """One wrk run of `route`, with the share of a core its server spent on it."""
        pid = self.servers.bare_pid if route.startswith("bare") else self.servers.service_pid
        cpu_before, started = cpu_seconds(pid), time.monotonic()
        result = self._drive(route, seconds)
        result.server_cpu = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - started)
        return result

    def _drive(self, route: str, seconds: float) -> WrkRun:
        connections = self.args.connections
        bare = f"http://127.0.0.1:{self.servers.bare}/bare"
        service = f"http://127.0.0.1:{self.servers.service}"
        if route == "bare GET":
            return run_wrk(bare, seconds, connections, "plain.lua", "GET")
        if route == "bare POST":
            return run_wrk(bare, seconds, connections, "plain.lua", "POST", str(self.body_file))
        if route == USERS_ME_ROUTE:
            authorization = f"Authorization: Bearer {self.account.bearer}"
            return run_wrk(
                service + USERS_ME,
                seconds,
                connections,
                "plain.lua",
                "GET",
                headers=(authorization,),
            )
        for _ in range(3):
            count = max(MIN_SIGNED_REQUESTS, math.ceil(2 * self.signed_rate * seconds))
            signed_file = self.scratch / "signed.txt"
            write_signed_requests(
                signed_file, self.account.access_key, self.account.secret_key, count
            )
            result = run_wrk(
                service + NOTIFICATIONS, seconds, connections, "signed.lua", str(signed_file), "1"
            )
            if not result.exhausted:
                break
            # Sized too small: the rate at which wrk took requests bounds the next size.
            report(f"  {count} signed requests ran out: signing more and running again")
            self.signed_rate = max(self.signed_rate, result.used / result.seconds)
        self.signed_rate = max(self.signed_rate, result.rate)
        return result

    def warm_up(self, routes: list[str]) -> None:
        """Connections, caches and pools; and a first rate to size the signed files by."""
        self.signed_rate = 10_000.0  # over-size the first file: nothing is known yet
        for route in routes:
            result = self.drive(route, self.args.warmup)
            if route == SIGNED:
                self.signed_rate = result.rate
            report(f"  warm-up {route}: {result.rate:,.0f} req/s {result.problems()}")

    def measure(self) -> list[Route]:
        pairs = [
            (Route("bare GET", ""), Route(USERS_ME_ROUTE, "bare GET")),
            (Route("bare POST", ""), Route(SIGNED, "bare POST")),
        ]
        self.warm_up([route.name for pair in pairs for route in pair])
        for run_number in range(self.args.runs):
            for pair in pairs:
                order = pair if run_number % 2 == 0 else pair[::-1]
                for route in order:
                    result = self.drive(route.name, self.args.duration)
                    route.runs.append(result)
                    problems = f"  ({result.problems()})" if not result.clean else ""
                    if result.slow:
                        problems += f"  ({result.slow} wrk timeouts)"
                    report(
                        f"  run {run_number + 1} {route.name}: {result.rate:,.0f} req/s, "
                        f"server CPU {result.server_cpu:.0%}, "
                        f"{result.cpu_per_request * 1e6:,.0f} µs/request{problems}"
                    )
        return [route for pair in pairs for route in pair]

    def profile(self, into: Path, database: str) -> None:
        """One more (uncounted) run of each service route with py-spy attached to the service.

        py-spy samples on the client's CPU; its raw output (collapsed stacks) is kept in
        `into`, and the functions with the most samples are printed."""
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        into.mkdir(parents=True, exist_ok=True)
        for route, name in ((USERS_ME_ROUTE, "users-me"), (SIGNED, "notifications")):
            output = into / f"{database}-{name}.txt"
            command = [
                "taskset",
                "-c",
                CLIENT_CPU,
                py_spy,
                "record",
                "--pid",
                str(self.servers.service_pid),
                "--duration",
                str(max(1, round(self.args.duration))),
                "--rate",
                "100",
                "--format",
                "raw",
                "--output",
                str(output),
            ]
            with subprocess.Popen(  # noqa: S603 - py-spy, fixed arguments
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            ) as sampler:
                result = self.drive(route, self.args.duration)
                sampler.wait()
            report(f"  profiled {route}: {result.rate:,.0f} req/s under py-spy")
            report(summarise_profile(output))


def summarise_profile(path: Path, top: int = 12) -> str:
    """Where the service's busy samples went, from py-spy's collapsed stacks: functions by
    own time, the service's own functions (`app/`) by total time, and own time by package.

    An idle thread-pool worker waiting for work (anyio's, for sync code) is left out: py-spy
    does not always see that wait as idle."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = [short_frame(frame) for frame in stack.split(";")]
        if frames[-1].startswith("Condition.wait (") and any(
            frame.startswith("Queue.get (") for frame in frames
        ):
            continue
        count = int(count_text)
        samples += count
        own[frames[-1]] += count
        packages[frames[-1].split("(", 1)[-1].split("/", 1)[0].rstrip(")")] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        return f"  {path.name}: no samples"

    def share(rows: list[tuple[str, int]]) -> list[str]:
        return [f"    {100 * n / samples:5.1f} %  {what}" for what, n in rows]

    service_code = [(frame, n) for frame, n in total.most_common() if "(app/" in frame]
    lines = [f"  {path.name}: {samples} busy samples; own time (leaf frames):"]
    lines += share(own.most_common(top))
    lines.append("  the service's own functions (app/), total time (on the stack):")
    lines += share(service_code[:top])
    lines.append("  own time by package:")
    lines += share(packages.most_common(top))
    return "\n".join(lines)


def short_frame(frame: str) -> str:
    """`name (path/to/file.py:12)` -> `name (package/file.py)`: lines of one function merged."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "my_service/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    else:
        where = re.sub(r"^.*/python3\.\d+/", "", where)  # the standard library
    return f"{name} ({where})"


def report(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def table(database: str, routes: list[Route]) -> str:
    medians = {
        route.name: statistics.median(rates) if (rates := route.clean_rates()) else None
        for route in routes
    }
    lines = [
        f"| {database}: route | req/s (median) | ratio to bare | runs (req/s) | non-2xx "
        "| wrk timeouts (> 2 s) | server CPU (median) | CPU µs per request (median) |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for route in routes:
        median = medians[route.name]
        baseline = medians.get(route.baseline) if route.baseline else median
        rate = f"{median:,.0f}" if median is not None else "—"
        ratio = f"{median / baseline:.2f}" if median is not None and baseline else "—"
        runs = ", ".join(
            f"{run.rate:,.0f}" if run.clean else f"errors: {run.problems()}" for run in route.runs
        )
        non2xx = sum(run.non2xx for run in route.runs)
        slow = sum(run.slow for run in route.runs)
        clean = [run for run in route.runs if run.clean]
        cpu = statistics.median(run.server_cpu for run in clean) if clean else 0.0
        per_request = statistics.median(run.cpu_per_request for run in clean) if clean else 0.0
        lines.append(
            f"| {route.name} | {rate} | {ratio} | {runs} | {non2xx} | {slow} | {cpu:.0%} "
            f"| {per_request * 1e6:,.0f} |"
        )
    return "\n".join(lines)


def bench_database(database: str, args: argparse.Namespace) -> str:
    url = args.postgresql_url if database == "postgresql" else args.mysql_url
    queue = f"bench-server-{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-server-")))
        report(f"{database}: baking database={database} task_broker=redis")
        project = bake(args.template, database, scratch / "bake")
        port = free_port()
        env = service_env(url, args.redis_url, queue, port)
        env.update(setting.split("=", 1) for setting in args.setting)
        asyncio.run(recreate_database(url))
        stack.callback(lambda: asyncio.run(recreate_database(url, drop_only=True)))
        stack.callback(lambda: asyncio.run(delete_redis_key(args.redis_url, queue)))
        subprocess.run(
            [sys.executable, "-m", "alembic", "upgrade", "head"],
            cwd=project,
            env=env,
            check=True,
            stdout=sys.stderr,
        )
        running_servers = stack.enter_context(servers(project, scratch, env, port))
        account = asyncio.run(make_account(running_servers.service))
        bench = Bench(running_servers, account, scratch, args)
        routes = bench.measure()
        if args.profile:
            bench.profile(args.profile, database)
        report(summarise_log(scratch / "service.log"))
        return table(database, routes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["postgresql", "mysql", "both"], default="both")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds per route")
    parser.add_argument("--postgresql-url", default=DATABASE_URLS["postgresql"])
    parser.add_argument("--mysql-url", default=DATABASE_URLS["mysql"])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--profile",
        type=Path,
        help="after the runs, one more run of each service route under py-spy; its raw "
        "stacks go to this folder and a summary to stderr",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of the service's own, over the bench's (repeatable), e.g. "
        "USER_CACHE_SECONDS=0 or REDIS_URL=redis://127.0.0.1:6379/0",
    )
    parser.add_argument(
        "--template",
        type=Path,
        default=TEMPLATE_DIR,
        help="the template to bake (default: this checkout; e.g. a `git archive` of a commit)",
    )
    args = parser.parse_args()
    if any("=" not in setting for setting in args.setting):
        sys.exit("--setting takes NAME=VALUE")
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            package = "util-linux" if tool == "taskset" else tool
            sys.exit(f"{tool} is missing (Debian: apt-get install {package})")
    if max(args.duration, args.warmup) > SIGNATURE_TOLERANCE_SECONDS - 30:
        sys.exit(f"runs this long outlive the signatures ({SIGNATURE_TOLERANCE_SECONDS} s)")
    if (os.cpu_count() or 1) < 2:
        sys.exit("two CPUs are needed: the servers run on CPU 0, wrk on CPU 1")
    check_signer()
    databases = ["postgresql", "mysql"] if args.database == "both" else [args.database]
    load_before = Path("/proc/loadavg").read_text().strip()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    tables = [bench_database(database, args) for database in databases]
    load_after = Path("/proc/loadavg").read_text().strip()
    print(
        f"Server-bound benchmark, {started}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; wrk -t1 -c{args.connections} -d{args.duration:g}s, "
        f"{args.runs} runs, medians" + "".join(f"; {setting}" for setting in args.setting)
    )
    print(f"\nLoad (/proc/loadavg) at start: {load_before}; at end: {load_after}\n")
    print("\n\n".join(tables))


if __name__ == "__main__":
    main()
