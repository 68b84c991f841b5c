"""The bakes the template tests make: the defaults, then one answer changed at a time."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.pythons import python_lane

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
PLUGINS = ("google", "kakao", "ses", "smtp", "kakaotalk")
DEFAULT_PYTHON = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["python_version"][0]


@dataclass(frozen=True)
class Bake:
    id: str
    answers: dict[str, str] = field(default_factory=dict)
    # Server lanes (besides SQLite, which every bake runs) this bake's own suite runs on.
    server_lanes: tuple[str, ...] = ()
    # A bake whose code, tests and test settings are those of another bake, byte for byte
    # (a test proves it), is covered by that bake's suite runs instead of repeating them.
    suite_same_as: str | None = None

    def picked(self, plugin: str) -> bool:
        return self.answers.get(f"use_{plugin}", "y") == "y"

    @property
    def python(self) -> str:
        """The Python this bake's suite runs on (its python_version answer)."""
        return str(self.answers.get("python_version", DEFAULT_PYTHON))


BAKES = (
    Bake("defaults", server_lanes=("mariadb", "postgresql")),
    # Same code and tests as the defaults, on another interpreter (tests/pythons.py): one
    # server lane on a new Python catches what only a real database connection shows.
    Bake("python-3.12", {"python_version": "3.12"}),
    Bake("python-3.13", {"python_version": "3.13"}, server_lanes=("postgresql",)),
    # The database answer picks the driver and the compose service, not the code or the
    # tests: the defaults bake's PostgreSQL lane runs this bake's suite.
    Bake("postgresql", {"database": "postgresql"}, suite_same_as="defaults"),
    Bake("sqlite", {"database": "sqlite"}, suite_same_as="defaults"),
    Bake("redis-broker", {"task_broker": "redis"}),
    Bake("rabbitmq-broker", {"task_broker": "rabbitmq"}),
    # Sign-in providers: Google only, Kakao only, neither (both = the defaults).
    # KakaoTalk messages need Kakao sign-in, so dropping Kakao drops KakaoTalk too.
    Bake("google-only", {"use_kakao": "n", "use_kakaotalk": "n"}),
    Bake("kakao-only", {"use_google": "n"}),
    Bake("no-oauth", {"use_google": "n", "use_kakao": "n", "use_kakaotalk": "n"}),
    # Notifiers: each one alone (all together = the defaults), then none at all.
    Bake("ses-only", {"use_smtp": "n", "use_kakaotalk": "n"}),
    Bake("smtp-only", {"use_ses": "n", "use_kakaotalk": "n"}),
    Bake("kakaotalk-only", {"use_ses": "n", "use_smtp": "n"}),
    Bake("bare", {f"use_{name}": "n" for name in PLUGINS}),
)
BAKES_BY_ID = {bake.id: bake for bake in BAKES}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a command inside a bake: none of this run's pytest or venv state."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "TEST_DATABASE_URL", "COV_"))
    }
    # A bake's modules are imported by command after command (suite runs, settings checks);
    # where the machine turns bytecode caching off, each would compile them all again.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


def run_in(
    project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own tools, fixed arguments
        list(args),
        cwd=project,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def output_tail(result: subprocess.CompletedProcess[str], lines: int = 60) -> str:
    """The end of a command's error output and then of its output (pytest's summary)."""
    return "\n".join(
        [*result.stderr.splitlines()[-lines // 3 :], *result.stdout.splitlines()[-lines:]]
    )


def uv_command() -> str:
    """The uv that `make test` bootstrapped (PLUGKIT_UV), or the one on PATH."""
    uv = os.environ.get("PLUGKIT_UV") or shutil.which("uv")
    assert uv, "uv is needed: run the tests through `make test`, which provides it"
    return uv


def tool(name: str) -> str:
    """A console script of this test environment (ruff, mypy), next to its python."""
    return str(Path(sys.executable).parent / name)


class BakeCache:
    """Bakes each set of answers once per test run; every test worker reuses the folder.

    Baking takes seconds (the post-generation hook resolves the lock file against the
    package index), so each bake is made by the first worker that needs it, under a lock,
    and found by the others.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        # Cookiecutter's own state (replay files, downloaded templates) stays in the run too.
        self.config = root / "cookiecutter.yaml"
        self.config.write_text(
            f"cookiecutters_dir: {root / 'cookiecutters'}\nreplay_dir: {root / 'replay'}\n"
        )

    def project(self, bake_id: str) -> Path:
        from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

        output = self.root / bake_id
        bake = BAKES_BY_ID[bake_id]
        with exclusive(self.root / f"{bake_id}.lock"):
            done = self.root / f"{bake_id}.done"
            if not done.exists():
                shutil.rmtree(output, ignore_errors=True)  # a bake that failed half-way
                with environ(**hook_python(bake)):
                    project = cookiecutter(
                        str(TEMPLATE_DIR),
                        no_input=True,
                        extra_context=bake.answers,
                        output_dir=str(output),
                        config_file=str(self.config),
                    )
                done.write_text(project)
            return Path(done.read_text())


def hook_python(bake: Bake) -> dict[str, str]:
    """UV_PYTHON for the hook's `uv lock` when this run was told where the bake's Python is.

    Otherwise uv finds it as it would for a user: from the bake's `.python-version`.
    """
    lane = python_lane(bake.python)
    if lane.interpreter and lane.found_by.startswith("from PLUGKIT_PYTHON"):
        return {"UV_PYTHON": lane.interpreter}
    return {}


@contextmanager
def environ(**changes: str) -> Iterator[None]:
    """os.environ with these changes, for a child process started in-process (the hook)."""
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Held by one test worker at a time."""
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# What a test run of a bake depends on. Everything else (Dockerfile, compose, README, the
# dependency list: the test environment is shared) cannot change what its tests do.
SUITE_INPUTS = ("app", "tests", "migrations", "alembic.ini")


def suite_fingerprint(project: Path) -> dict[str, str]:
    """Relative path → content of every file that can change the bake's test results."""
    files: dict[str, str] = {}
    for top in SUITE_INPUTS:
        root = project / top
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                files[str(path.relative_to(project))] = path.read_text(errors="replace")
    # The tests load .env.example; its comments are prose for people.
    example = (project / ".env.example").read_text().splitlines()
    files[".env.example"] = "\n".join(line for line in example if not line.startswith("#"))
    pyproject = (project / "pyproject.toml").read_text()
    files["pyproject.toml [tool.pytest.ini_options]"] = pyproject.split(
        "[tool.pytest.ini_options]"
    )[1].split("\n[")[0]
    return files
