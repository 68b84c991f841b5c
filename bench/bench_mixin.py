"""Time the CRUD mixin against the same operations written as plain SQLAlchemy 2.0.

Runs inside a baked project's environment (it imports the project's `app`):

    python bench/bench_mixin.py --project /path/to/bake \\
        --database-url sqlite+aiosqlite:////tmp/bench.db \\
        --database-url mysql+aiomysql://root@127.0.0.1:3306/test

Without `--project` it bakes the template's defaults into a temporary folder first
(needs cookiecutter). Every lane runs in this one process; within a lane the two
variants alternate batch by batch (the order flips every round), with a fresh session per
operation as a request would have. It prints, per operation, the median time per
operation of each variant and the median of the per-round ratios mixin / plain.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy
from serving import bake_default_project
from sqlalchemy import Integer, MetaData, String, select
from sqlalchemy.orm import Mapped, mapped_column


def load_project(project: Path) -> dict[str, Any]:
    """Import the project's database and model base, and declare the benchmark's table."""
    sys.path.insert(0, str(project))
    database = importlib.import_module("app.core.database")
    base = importlib.import_module("app.core.orm.base")

    class BenchModel(base.BaseModel):  # type: ignore[misc,name-defined]
        __abstract__ = True
        metadata = MetaData(naming_convention=base.NAMING_CONVENTION)

    class BenchUser(BenchModel):
        email: Mapped[str] = mapped_column(String(255), unique=True)
        name: Mapped[str] = mapped_column(String(100))
        points: Mapped[int] = mapped_column(Integer, default=0, index=True)

    return {
        "Database": database.Database,
        "BenchModel": BenchModel,
        "BenchUser": BenchUser,
    }


@dataclass
class Samples:
    """Seconds per operation, one value per round, for each variant: wall-clock time, and
    this process's CPU time (the client side alone, without the database server's work
    and without the time this process waits for a CPU on a busy machine)."""

    mixin: list[float] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)
    mixin_cpu: list[float] = field(default_factory=list)
    plain_cpu: list[float] = field(default_factory=list)

    @staticmethod
    def ratios(mixin: list[float], plain: list[float]) -> list[float]:
        return [m / p for m, p in zip(mixin, plain, strict=True)]


Operation = Callable[[int], Awaitable[None]]
# (prepare the batch, untimed) → (mixin op, plain op)
Setup = Callable[[int], Awaitable[tuple[Operation, Operation]]]


class Bench:
    def __init__(self, project: dict[str, Any], url: str, batch: int) -> None:
        self.database = project["Database"](url)
        self.metadata = project["BenchModel"].metadata
        self.User = project["BenchUser"]
        self.batch = batch
        self.counter = 0
        self.seed_ids: list[int] = []

    def values(self) -> dict[str, Any]:
        self.counter += 1
        return {
            "email": f"user{self.counter}@{'a' if self.counter % 2 else 'b'}.example",
            "name": f"User {self.counter}",
            "points": self.counter % 1000,
        }

    async def setup(self, seed_rows: int) -> None:
        async with self.database.engine.begin() as connection:
            await connection.run_sync(self.metadata.drop_all)
            await connection.run_sync(self.metadata.create_all)
        self.database.bind_models()
        async with self.database.sessionmaker() as session:
            users = [self.User(**self.values()) for _ in range(seed_rows)]
            session.add_all(users)
            await session.commit()
            self.seed_ids = [user.id for user in users]

    async def teardown(self) -> None:
        async with self.database.engine.begin() as connection:
            await connection.run_sync(self.metadata.drop_all)
        await self.database.dispose()

    async def server_version(self) -> str:
        async with self.database.engine.connect() as connection:
            info = connection.dialect.server_version_info
        return ".".join(map(str, info)) if info else "?"

    # -- operations -------------------------------------------------------------------

    async def create(self, _: int) -> tuple[Operation, Operation]:
        User, sessionmaker = self.User, self.database.sessionmaker
        rows = [self.values() for _ in range(2 * self.batch)]

        async def mixin(i: int) -> None:
            async with sessionmaker() as session:
                await User.create(session=session, **rows[i])
                await session.commit()

        async def plain(i: int) -> None:
            async with sessionmaker() as session:
                session.add(User(**rows[self.batch + i]))
                await session.commit()

        return mixin, plain

    async def create_bound(self, _: int) -> tuple[Operation, Operation]:
        """The mixin without a session: the task's scoped session, `commit=True`."""
        User, sessionmaker = self.User, self.database.sessionmaker
        scoped = self.database.scoped_session
        rows = [self.values() for _ in range(2 * self.batch)]

        async def mixin(i: int) -> None:
            await User.create(commit=True, **rows[i])
            await scoped.remove()  # what the request middleware does

        async def plain(i: int) -> None:
            async with sessionmaker() as session:
                session.add(User(**rows[self.batch + i]))
                await session.commit()

        return mixin, plain

    async def get(self, round_number: int) -> tuple[Operation, Operation]:
        User, sessionmaker = self.User, self.database.sessionmaker
        ids = self.seed_ids
        start = (round_number * self.batch) % len(ids)

        async def mixin(i: int) -> None:
            async with sessionmaker() as session:
                await User.get(ids[(start + i) % len(ids)], session=session)

        async def plain(i: int) -> None:
            async with sessionmaker() as session:
                user = await session.get(User, ids[(start + i) % len(ids)])
                if user is None:
                    raise LookupError("missing")

        return mixin, plain

    async def filter_order(self, _: int) -> tuple[Operation, Operation]:
        User, sessionmaker = self.User, self.database.sessionmaker

        async def mixin(i: int) -> None:
            async with sessionmaker() as session:
                await (
                    User.filter_by(session=session, email__like="%@b.example", points__ge=i)
                    .order_by("-id")
                    .limit(20)
                    .all()
                )

        async def plain(i: int) -> None:
            async with sessionmaker() as session:
                statement = (
                    select(User)
                    .where(User.email.like("%@b.example"), User.points >= i)
                    .order_by(User.id.desc())
                    .limit(20)
                )
                list((await session.scalars(statement)).all())

        return mixin, plain

    async def _loaded(self, count: int) -> tuple[Any, list[Any]]:
        """`count` fresh rows, loaded in an open session (untimed)."""
        session = self.database.sessionmaker()
        users = [self.User(**self.values()) for _ in range(count)]
        session.add_all(users)
        await session.commit()
        return session, users

    async def update(self, round_number: int) -> tuple[Operation, Operation]:
        mixin_session, mixin_users = await self._loaded(self.batch)
        plain_session, plain_users = await self._loaded(self.batch)
        self._open_sessions = [mixin_session, plain_session]

        async def mixin(i: int) -> None:
            await mixin_users[i].update(session=mixin_session, points=round_number)
            await mixin_session.commit()

        async def plain(i: int) -> None:
            plain_users[i].points = round_number
            await plain_session.commit()

        return mixin, plain

    async def delete(self, _: int) -> tuple[Operation, Operation]:
        mixin_session, mixin_users = await self._loaded(self.batch)
        plain_session, plain_users = await self._loaded(self.batch)
        self._open_sessions = [mixin_session, plain_session]

        async def mixin(i: int) -> None:
            await mixin_users[i].delete(session=mixin_session)
            await mixin_session.commit()

        async def plain(i: int) -> None:
            await plain_session.delete(plain_users[i])
            await plain_session.commit()

        return mixin, plain

    async def close_open_sessions(self) -> None:
        for session in getattr(self, "_open_sessions", []):
            await session.close()
        self._open_sessions = []

    # -- timing -----------------------------------------------------------------------

    async def time_batch(self, operation: Operation) -> tuple[float, float]:
        """(wall seconds, CPU seconds) per operation."""
        gc.collect()
        started, started_cpu = time.perf_counter(), time.process_time()
        for i in range(self.batch):
            await operation(i)
        wall = time.perf_counter() - started
        return wall / self.batch, (time.process_time() - started_cpu) / self.batch

    async def run(self, setup: Setup, rounds: int, warmup: int) -> Samples:
        samples = Samples()
        for round_number in range(warmup + rounds):
            mixin, plain = await setup(round_number)
            first_mixin = round_number % 2 == 0
            order = [("mixin", mixin), ("plain", plain)]
            if not first_mixin:
                order.reverse()
            timings = {name: await self.time_batch(op) for name, op in order}
            await self.close_open_sessions()
            if round_number >= warmup:
                samples.mixin.append(timings["mixin"][0])
                samples.plain.append(timings["plain"][0])
                samples.mixin_cpu.append(timings["mixin"][1])
                samples.plain_cpu.append(timings["plain"][1])
        return samples


def statement_building(project: dict[str, Any], repeat: int) -> list[str]:
    """The Python-side cost alone: building the SELECT of the filter_by benchmark."""
    User = project["BenchUser"]

    def mixin(i: int) -> Any:
        query = User.filter_by(email__like="%@b.example", points__ge=i).order_by("-id").limit(20)
        return query.statement

    def plain(i: int) -> Any:
        return (
            select(User)
            .where(User.email.like("%@b.example"), User.points >= i)
            .order_by(User.id.desc())
            .limit(20)
        )

    timings: dict[str, list[float]] = {"mixin": [], "plain": []}
    for round_number in range(21):
        order = [("mixin", mixin), ("plain", plain)]
        if round_number % 2:
            order.reverse()
        for name, build in order:
            started = time.perf_counter()
            for i in range(repeat):
                build(i)
            if round_number:  # the first round warms up
                timings[name].append((time.perf_counter() - started) / repeat)
    mixin_us = statistics.median(timings["mixin"]) * 1e6
    plain_us = statistics.median(timings["plain"]) * 1e6
    return [
        "\n## building the filter_by SELECT, no database",
        "",
        "| operation | mixin µs | plain µs | mixin - plain µs | ratio |",
        "|---|---:|---:|---:|---:|",
        f"| filter_by + order_by + limit → Select | {mixin_us:.1f} | {plain_us:.1f} "
        f"| {mixin_us - plain_us:+.1f} | {mixin_us / plain_us:.3f} |",
    ]


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


async def run_lane(project: dict[str, Any], url: str, args: argparse.Namespace) -> list[str]:
    bench = Bench(project, url, args.batch)
    await bench.setup(args.seed_rows)
    lines = []
    try:
        backend = bench.database.backend
        version = await bench.server_version()
        lines.append(f"\n## {backend} {version}  ({bench.database.url.render_as_string()})")
        lines.append(f"rounds={args.rounds} batch={args.batch} seed_rows={args.seed_rows}\n")
        lines.append(
            "| operation | mixin µs/op | plain µs/op | ratio | ratio IQR "
            "| mixin CPU µs/op | plain CPU µs/op | CPU ratio | CPU ratio IQR |"
        )
        lines.append("|---|---:|---:|---:|---|---:|---:|---:|---|")
        operations: list[tuple[str, Setup]] = [
            ("create (passed session)", bench.create),
            ("create (bound session, commit=True)", bench.create_bound),
            ("get by id", bench.get),
            ("filter_by + order_by + limit", bench.filter_order),
            ("update", bench.update),
            ("delete", bench.delete),
        ]
        for name, setup in operations:
            samples = await bench.run(setup, args.rounds, args.warmup)
            cells = [name]
            for mixin, plain in [
                (samples.mixin, samples.plain),
                (samples.mixin_cpu, samples.plain_cpu),
            ]:
                ratios = samples.ratios(mixin, plain)
                low, high = quartiles(ratios)
                cells += [
                    f"{statistics.median(mixin) * 1e6:.0f}",
                    f"{statistics.median(plain) * 1e6:.0f}",
                    f"{statistics.median(ratios):.3f}",
                    f"{low:.2f} to {high:.2f}",
                ]
            lines.append("| " + " | ".join(cells) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    finally:
        await bench.teardown()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a baked project (default: bake one)")
    parser.add_argument(
        "--database-url",
        action="append",
        help="a lane; repeat for several (default: a temporary SQLite file)",
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=20, help="operations per timed batch")
    parser.add_argument("--seed-rows", type=int, default=2000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-mixin-") as scratch:
        project_dir = args.project or bake_default_project(Path(scratch))
        urls = args.database_url or [f"sqlite+aiosqlite:///{scratch}/bench.db"]
        project = load_project(project_dir.resolve())
        print(
            f"# CRUD mixin vs plain SQLAlchemy: Python {platform.python_version()}, "
            f"SQLAlchemy {sqlalchemy.__version__}, {platform.machine()}"
        )
        report = statement_building(project, repeat=2000)
        for url in urls:
            report += asyncio.run(run_lane(project, url, args))
        print("\n".join(report))


if __name__ == "__main__":
    main()
