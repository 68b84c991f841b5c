"""A baked project's docker-compose stack, driven through the Docker CLI and Compose v2.

Images the stack names that this machine lacks (it may not reach Docker Hub) are tagged from
the local stand-ins that tests/docker/setup.sh builds; a real image of that name is never
replaced, and the bake itself keeps naming the official images.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bakes import TEMPLATE_DIR, clean_env

COMPOSE = os.environ.get("PLUGKIT_COMPOSE") or str(TEMPLATE_DIR / ".tools/docker/docker-compose")
STANDIN_LABEL = "org.plugkit.standin"
# Repository name (last path part) of an official image → the stand-in that plays it.
STANDIN_FOR = {
    "python": "python",
    "mysql": "mysql",
    "mariadb": "mysql",
    "postgres": "postgres",
    "redis": "redis",
    "rabbitmq": "rabbitmq",
    "mailpit": "mailpit",
}


def run(
    *args: str, timeout: float = 600, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - docker and compose with fixed arguments
        list(args), capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd, check=False
    )


def engine_problem() -> str | None:
    """Why this machine cannot run the stacks, or None when it can."""
    try:
        info = run("docker", "info", "--format", "{{.ServerVersion}}", timeout=30)
    except FileNotFoundError:
        return "no docker CLI (run tests/docker/setup.sh)"
    if info.returncode != 0:
        return f"no Docker engine answers: {info.stderr.strip()[:200]} (run tests/docker/setup.sh)"
    try:
        version = run(COMPOSE, "version", timeout=30)
    except FileNotFoundError:
        return f"no Compose v2 binary at {COMPOSE} (run tests/docker/setup.sh)"
    if version.returncode != 0:
        return f"{COMPOSE} does not run: {version.stderr.strip()[:200]}"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _image_exists(name: str) -> dict[str, Any] | None:
    result = run("docker", "image", "inspect", name, timeout=60)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout)[0]  # type: ignore[no-any-return]


def _python_of(image: str) -> str:
    result = run(
        "docker", "run", "--rm", "--network", "none", image,
        "python3", "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def dockerfile_base_images(dockerfile: Path) -> list[str]:
    """The FROM images of a Dockerfile, its ARG defaults filled in (stages skipped)."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    images = []
    for line in dockerfile.read_text().splitlines():
        if match := re.match(r"ARG (\w+)=(\S+)", line):
            args[match[1]] = match[2]
        elif match := re.match(r"FROM (\S+)(?: AS (\S+))?", line, re.IGNORECASE):
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], match[1])
            if image not in stages:
                images.append(image)
            if match[2]:
                stages.add(match[2])
    return images


def provide_images(names: list[str]) -> list[str]:
    """Make each image name exist here: a stand-in where it is missing. Returns what was done."""
    done = []
    for name in names:
        found = _image_exists(name)
        if found is not None and STANDIN_LABEL not in (found["Config"].get("Labels") or {}):
            done.append(f"{name}: this machine's own image")
            continue
        repository, _, tag = name.rpartition(":") if ":" in name else (name, "", "latest")
        standin = STANDIN_FOR.get(repository.rsplit("/", 1)[-1])
        assert standin, f"no local stand-in for the image {name}; add one to tests/docker/standins"
        if standin == "python":
            # One stand-in per Python that Debian ships (setup.sh): 3.11 and 3.13.
            version = re.match(r"\d+\.\d+", tag)
            standin = f"python{version[0] if version else tag}"
            assert _image_exists(f"plugkit-standin/{standin}:latest"), (
                f"no stand-in for {name}: Debian ships Python 3.11 (bookworm) and 3.13 (trixie)"
            )
            assert _python_of(f"plugkit-standin/{standin}:latest") == standin.removeprefix("python")
        tagged = run("docker", "tag", f"plugkit-standin/{standin}:latest", name, timeout=60)
        assert tagged.returncode == 0, tagged.stderr
        done.append(f"{name}: stand-in {standin}")
    return done


@dataclass
class Stack:
    """One bake's compose project, under a name and ports of its own."""

    project: Path
    name: str
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for variable in ("PORT", "DB_PORT", "MAILPIT_PORT", "MAILPIT_SMTP_PORT"):
            self.ports.setdefault(variable, free_port())

    @property
    def env(self) -> dict[str, str]:
        env = clean_env(
            COMPOSE_PROJECT_NAME=self.name, **{k: str(v) for k, v in self.ports.items()}
        )
        # Only the engine on this machine, whatever the caller's environment points at.
        env.pop("DOCKER_HOST", None)
        return env

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['PORT']}"

    @property
    def mail_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['MAILPIT_PORT']}"

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run(COMPOSE, *args, timeout=timeout, env=self.env, cwd=self.project)

    def must(self, *args: str, timeout: float = 600) -> str:
        result = self.compose(*args, timeout=timeout)
        assert result.returncode == 0, (
            f"docker compose {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{self.logs()}"
        )
        return result.stdout

    def config(self) -> dict[str, Any]:
        return json.loads(self.must("config", "--format", "json"))  # type: ignore[no-any-return]

    def images(self) -> list[str]:
        """Every image the stack runs or builds from, as named in the bake."""
        services = self.config()["services"].values()
        pulled = {service["image"] for service in services if "build" not in service}
        return sorted(pulled | set(dockerfile_base_images(self.project / "Dockerfile")))

    def app_image(self) -> str:
        return str(self.config()["services"]["api"]["image"])

    def containers(self) -> dict[str, dict[str, Any]]:
        """`docker inspect` of every container of the stack (stopped ones too), by service."""
        ids = self.must("ps", "--all", "--quiet").split()
        if not ids:
            return {}
        inspected = run("docker", "inspect", *ids, timeout=60)
        assert inspected.returncode == 0, inspected.stderr
        return {
            item["Config"]["Labels"]["com.docker.compose.service"]: item
            for item in json.loads(inspected.stdout)
        }

    def volumes(self) -> list[str]:
        listed = run(
            "docker", "volume", "ls", "--quiet",
            "--filter", f"label=com.docker.compose.project={self.name}",
            timeout=60,
        )  # fmt: skip
        return listed.stdout.split()

    def logs(self) -> str:
        try:
            result = self.compose("logs", "--no-color", "--tail", "40", timeout=60)
        except subprocess.TimeoutExpired:
            return "(compose logs timed out)"
        return f"--- compose logs (last 40 lines per service) ---\n{result.stdout[-8000:]}"
