"""Every way the project starts uvicorn leaves the client address to the service.

uvicorn believes X-Forwarded-For from 127.0.0.1 by default: behind no proxy, a local caller
could then claim any address and pass an API key's IP whitelist. The service resolves the
address itself (TRUSTED_PROXIES), so each start command must switch uvicorn's own off. Each
command is run here as written, and a forged header is sent to it.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
FORGED_ADDRESS = "198.51.100.77"


def make_dev_command() -> list[str]:
    """The uvicorn command of `make dev`, as make would run it."""
    recipe = subprocess.run(
        ["make", "--dry-run", "--always-make", "dev", "UV=uv"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in recipe.splitlines() if "uvicorn" in line)
    words = shlex.split(line)
    return words[words.index("uvicorn") :]


def dockerfile_command() -> list[str]:
    line = next(
        line
        for line in (PROJECT_DIR / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    )
    words = shlex.split(line.split('"exec ', 1)[1].rsplit('"]', 1)[0].replace('\\"', '"'))
    return [word.replace("$WEB_CONCURRENCY", "1") for word in words]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def served_client_address(command: list[str], tmp_path: Path) -> str:
    """Start `command` on a free port, send a forged X-Forwarded-For, read the access log."""
    port = free_port()
    arguments = [
        word.replace("$PORT", str(port)).replace("$(PORT)", str(port))
        for word in command[1:]
        if word != "--reload"
    ]
    arguments = [*_without_option(arguments, "--port"), "--port", str(port)]
    arguments = [*_without_option(arguments, "--host"), "--host", "127.0.0.1"]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'start.db'}",
        "ENVIRONMENT": "development",
        "LOG_JSON": "false",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *arguments],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/health", server)
        response = httpx.get(
            f"http://127.0.0.1:{port}/health", headers={"X-Forwarded-For": FORGED_ADDRESS}
        )
        assert response.status_code == 200
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    access = [line for line in output.splitlines() if "GET /health 200" in line]
    assert access, output
    return access[-1].split("client=")[1].split()[0]


def _without_option(words: list[str], option: str) -> list[str]:
    if option not in words:
        return words
    at = words.index(option)
    return words[:at] + words[at + 2 :]


def _wait_until_up(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited"
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within 60 s")


@pytest.mark.parametrize(
    "command", [make_dev_command, dockerfile_command], ids=["make-dev", "dockerfile"]
)
def test_a_forged_forwarded_for_header_is_not_the_client_address(
    command: object, tmp_path: Path
) -> None:
    assert callable(command)
    assert served_client_address(command(), tmp_path) == "127.0.0.1"
