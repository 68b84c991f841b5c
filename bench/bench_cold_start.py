"""Cold start of the generated service, against a bare FastAPI app in the same run.

    python bench/bench_cold_start.py --project /path/to/bake [--runs 15]

Each run starts a fresh interpreter with uvicorn on 127.0.0.1 and a free port, and
measures the time from spawning the process to the first 200 from `GET /health`, polled
every 2 ms. The service and the bare app alternate run by run (the order flips each
round). The service uses a SQLite file in a temporary folder; the first, discarded run
creates its tables, so the timed runs are restarts. The imports alone are timed too, as
they are most of a cold start.

Run it with the project's interpreter (the default is the one running this script).
Without `--project` it bakes the template's defaults into a temporary folder first.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from serving import bake_default_project, free_port

POLL_SECONDS = 0.002
START_TIMEOUT_SECONDS = 60.0

BARE_APP = """
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
"""


def answers_ok(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/health")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def time_to_first_ok(command: list[str], cwd: Path, env: dict[str, str], port: int) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while not answers_ok(port):
            if process.poll() is not None:
                errors = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"{' '.join(command)} exited early:\n{errors}")
            if time.perf_counter() - started > START_TIMEOUT_SECONDS:
                raise RuntimeError(f"{' '.join(command)} gave no 200 within 60 s")
            time.sleep(POLL_SECONDS)
        return time.perf_counter() - started
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def time_import(python: str, statement: str, cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-c", statement], cwd=cwd, env=env, check=True)  # noqa: S603
    return time.perf_counter() - started


def uvicorn_command(python: str, target: str, port: int, factory: bool) -> list[str]:
    command = [python, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    return command + (["--factory"] if factory else [])


def summary(name: str, service: list[float], bare: list[float]) -> str:
    ratios = [s / b for s, b in zip(service, bare, strict=True)]
    return (
        f"| {name} | {statistics.median(service) * 1000:.0f} | "
        f"{statistics.median(bare) * 1000:.0f} | {statistics.median(ratios):.2f} | "
        f"{min(ratios):.2f} to {max(ratios):.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, help="a baked project (default: bake one)")
    parser.add_argument("--python", default=sys.executable, help="the project's interpreter")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-cold-") as scratch_name:
        scratch = Path(scratch_name)
        project = (args.project or bake_default_project(scratch / "bake")).resolve()
        bare_dir = scratch / "bare"
        bare_dir.mkdir()
        (bare_dir / "bare_app.py").write_text(BARE_APP)
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite+aiosqlite:///{scratch / 'service.db'}",
            "ENVIRONMENT": "development",
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # restarts read bytecode, as in production

        def service_start() -> float:
            port = free_port()
            command = uvicorn_command(args.python, "app.main:create_app", port, factory=True)
            return time_to_first_ok(command, project, env, port)

        def bare_start() -> float:
            port = free_port()
            command = uvicorn_command(args.python, "bare_app:app", port, factory=False)
            return time_to_first_ok(command, bare_dir, env, port)

        # Discarded: writes bytecode caches and the service's tables.
        service_start()
        bare_start()

        starts: dict[str, list[float]] = {"service": [], "bare": []}
        imports: dict[str, list[float]] = {"service": [], "bare": []}
        for run in range(args.runs):
            order = ["service", "bare"] if run % 2 == 0 else ["bare", "service"]
            for which in order:
                if which == "service":
                    starts[which].append(service_start())
                    imports[which].append(time_import(args.python, "import app.main", project, env))
                else:
                    starts[which].append(bare_start())
                    imports[which].append(
                        time_import(args.python, "import bare_app", bare_dir, env)
                    )
            print(
                f"run {run + 1}/{args.runs}: service {starts['service'][-1] * 1000:.0f} ms, "
                f"bare {starts['bare'][-1] * 1000:.0f} ms",
                file=sys.stderr,
                flush=True,
            )

        interpreter = subprocess.run(  # noqa: S603
            [args.python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(
            f"# Cold start: Python {interpreter}, {platform.machine()}, {os.cpu_count()} CPUs, "
            f"{args.runs} runs each, interleaved"
        )
        print()
        print("| measure | service ms | bare FastAPI ms | ratio (median) | ratio range |")
        print("|---|---:|---:|---:|---|")
        print(summary("spawn → first 200 on /health", starts["service"], starts["bare"]))
        print(summary("`python -c 'import …'` only", imports["service"], imports["bare"]))


if __name__ == "__main__":
    main()
