"""What a bake needs to deploy: a clean Dockerfile, a valid compose file that gives the service
every setting it needs, a valid CI workflow, and Docker's own commands working outside Docker."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.bakes import BAKES, TEMPLATE_DIR, BakeCache, clean_env, run_in, tool

# Run inside a bake: build Settings and every plugin's settings from the environment given,
# the way the container would, and say which fail.
CHECK_SETTINGS = """
import importlib, json, pkgutil, sys
import app.plugins
from app.core.config import PluginSettings, Settings
failures = {}
try:
    Settings(_env_file=None)
except Exception as exc:
    failures["Settings"] = str(exc)
for info in pkgutil.iter_modules(app.plugins.__path__):
    try:
        module = importlib.import_module(f"app.plugins.{info.name}.settings")
    except ModuleNotFoundError:
        continue
    for value in vars(module).values():
        is_settings = isinstance(value, type) and issubclass(value, PluginSettings)
        if is_settings and value is not PluginSettings:
            try:
                value(_env_file=None)
            except Exception as exc:
                failures[value.__name__] = str(exc)
print(json.dumps(failures))
"""


# Run inside a bake: the environment variable of every setting, core and plugins.
LIST_SETTINGS = """
import importlib, json, pkgutil
import app.plugins
from app.core.config import PluginSettings, Settings
names = [name.upper() for name in Settings.model_fields]
for info in pkgutil.iter_modules(app.plugins.__path__):
    try:
        module = importlib.import_module(f"app.plugins.{info.name}.settings")
    except ModuleNotFoundError:
        continue
    for value in vars(module).values():
        is_settings = isinstance(value, type) and issubclass(value, PluginSettings)
        if is_settings and value is not PluginSettings:
            prefix = value.model_config.get("env_prefix", "")
            names += [(prefix + name).upper() for name in value.model_fields]
print(json.dumps(sorted(set(names))))
"""


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_env_example_lists_every_setting_with_a_comment(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    result = run_in(project, sys.executable, "-c", LIST_SETTINGS)
    assert result.returncode == 0, result.stderr
    settings = json.loads(result.stdout)
    lines = (project / ".env.example").read_text().splitlines()
    listed = {
        line.split("=", 1)[0]: index
        for index, line in enumerate(lines)
        if "=" in line and not line.startswith("#")
    }
    assert [name for name in settings if name not in listed] == []

    def has_comment_above(index: int) -> bool:
        # A comment line above the setting, or above the run of settings it belongs to.
        while index > 0 and lines[index - 1].strip() and not lines[index - 1].startswith("#"):
            index -= 1
        return index > 0 and lines[index - 1].startswith("#")

    uncommented = [name for name in settings if not has_comment_above(listed[name])]
    assert uncommented == [], "each setting needs a comment line above it (or above its group)"


def compose_config(project: Path) -> dict[str, Any]:
    result = run_in(project, tool("docker-compose"), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_dockerfile_passes_hadolint(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    result = run_in(project, tool("hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_compose_file_is_valid_with_the_baked_env(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    for profile in ((), ("--profile", "dev")):
        result = run_in(project, tool("docker-compose"), *profile, "config", "-q")
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_compose_gives_each_service_the_settings_production_needs(
    bakes: BakeCache, bake: Any
) -> None:
    project = bakes.project(bake.id)
    services = compose_config(project)["services"]
    app_services = [name for name in ("migrate", "api", "worker") if name in services]
    assert "api" in app_services and "migrate" in app_services
    assert ("worker" in services) == (bake.answers.get("task_broker", "inprocess") != "inprocess")
    for name in app_services:
        environment = {k: str(v) for k, v in services[name]["environment"].items() if v is not None}
        assert environment["ENVIRONMENT"] == "production"
        env = {"PATH": os.environ["PATH"], **environment}
        result = run_in(project, sys.executable, "-c", CHECK_SETTINGS, env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {}, f"service {name}: {result.stdout}"


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_dockerfile_command_names_an_importable_app_factory(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    command = _dockerfile_command(project)
    factory = re.search(r"--factory (\S+):(\w+)", command)
    assert factory, command
    module, attribute = factory.groups()
    check = f"import {module} as m; assert callable(m.{attribute})"
    result = run_in(project, sys.executable, "-c", check)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_ci_workflow_is_valid_and_runs_the_checks(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    workflow = project / ".github" / "workflows" / "ci.yml"
    result = run_in(
        project,
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.github-workflows",
        str(workflow),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    runs = " \n".join(step.get("run", "") for job in jobs.values() for step in job["steps"])
    for command in ("pytest", "ruff check", "mypy", "bandit", "uv export --frozen", "pip-audit"):
        assert command in runs
    assert any(
        "docker/build-push-action" in step.get("uses", "")
        for job in jobs.values()
        for step in job["steps"]
    )


def _dockerfile_command(project: Path) -> str:
    line = next(
        line
        for line in (project / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    )
    return " ".join(json.loads(line.removeprefix("CMD ")))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_docker_commands_work_in_a_fresh_environment(bakes: BakeCache, tmp_path: Path) -> None:
    """The Dockerfile's install (from uv.lock, no dev tools), migrations and start command."""
    project = bakes.project("defaults")
    assert (project / "uv.lock").is_file(), "the generator did not write uv.lock"
    uv = os.environ.get("PLUGKIT_UV", "uv")
    venv = tmp_path / "venv"
    env = clean_env(UV_PROJECT_ENVIRONMENT=str(venv), UV_PYTHON_DOWNLOADS="never")
    env.pop("VIRTUAL_ENV", None)
    synced = run_in(
        project,
        uv,
        "sync",
        "--frozen",
        "--no-dev",
        "--no-editable",
        "--python",
        sys.executable,
        env=env,
    )
    assert synced.returncode == 0, synced.stderr
    assert not (venv / "bin" / "pytest").exists(), "dev tools leaked into the production install"

    env = {
        **clean_env(),
        "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
        "ENVIRONMENT": "production",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}",
        "PUBLIC_BASE_URL": "https://service.example",
        "PORT": str(_free_port()),
        "WEB_CONCURRENCY": "1",
    }
    migrated = run_in(project, str(venv / "bin" / "alembic"), "upgrade", "head", env=env)
    assert migrated.returncode == 0, migrated.stderr

    server = subprocess.Popen(  # noqa: S603 - the Dockerfile's own command, as it runs
        ["/bin/sh", "-c", _dockerfile_command(project).removeprefix("sh -c ")],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{env['PORT']}/health"
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the service did not start within 60 s"
                time.sleep(0.3)
        assert response.status_code == 200, response.text
        assert response.json()["database"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_start_command_leaves_client_addresses_to_the_service(bakes: BakeCache) -> None:
    # The start command must survive the shell: its arguments split the way uvicorn expects.
    command = _dockerfile_command(bakes.project("defaults")).removeprefix("sh -c ")
    words = shlex.split(command)
    assert words[:2] == ["exec", "uvicorn"]
    assert "--no-proxy-headers" in words


def test_template_ci_workflow_is_valid_and_runs_make_test() -> None:
    workflow = TEMPLATE_DIR / ".github" / "workflows" / "ci.yml"
    result = run_in(
        TEMPLATE_DIR,
        tool("check-jsonschema"),
        "--builtin-schema",
        "vendor.github-workflows",
        str(workflow),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    runs = [step.get("run") for job in jobs.values() for step in job["steps"]]
    assert "make test" in runs
    assert "make audit" in runs
