"""The bakes the template tests make: the defaults, then one answer changed at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
PLUGINS = ("google", "kakao", "ses", "smtp", "kakaotalk")


@dataclass(frozen=True)
class Bake:
    id: str
    answers: dict[str, str] = field(default_factory=dict)
    # Server lanes (besides SQLite, which every bake runs) this bake's own suite runs on.
    server_lanes: tuple[str, ...] = ()

    def picked(self, plugin: str) -> bool:
        return self.answers.get(f"use_{plugin}", "y") == "y"


BAKES = (
    Bake("defaults", server_lanes=("mariadb", "postgresql")),
    Bake("python-3.12", {"python_version": "3.12"}),
    Bake("python-3.13", {"python_version": "3.13"}),
    Bake("postgresql", {"database": "postgresql"}, server_lanes=("postgresql",)),
    Bake("sqlite", {"database": "sqlite"}),
    Bake("redis-broker", {"task_broker": "redis"}),
    Bake("rabbitmq-broker", {"task_broker": "rabbitmq"}),
    Bake("no-google", {"use_google": "n"}),
    # KakaoTalk messages need Kakao sign-in, so dropping Kakao drops KakaoTalk too.
    Bake("no-kakao", {"use_kakao": "n", "use_kakaotalk": "n"}),
    Bake("no-oauth", {"use_google": "n", "use_kakao": "n", "use_kakaotalk": "n"}),
    Bake("no-ses", {"use_ses": "n"}),
    Bake("no-smtp", {"use_smtp": "n"}),
    Bake("no-kakaotalk", {"use_kakaotalk": "n"}),
    Bake(
        "bare",
        {plugin_key: "n" for plugin_key in (f"use_{name}" for name in PLUGINS)},
    ),
)
BAKES_BY_ID = {bake.id: bake for bake in BAKES}


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a command inside a bake: none of this run's pytest or venv state."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "TEST_DATABASE_URL", "COV_"))
    }
    env.update(extra)
    return env


def run_in(project: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own tools, fixed arguments
        list(args), cwd=project, env=env or clean_env(), capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def tool(name: str) -> str:
    """A console script of this test environment (ruff, mypy), next to its python."""
    return str(Path(sys.executable).parent / name)


class BakeCache:
    """Bakes each set of answers once per test worker; later tests reuse the folder."""

    def __init__(self, cookies: Any) -> None:
        self.cookies = cookies
        self.projects: dict[str, Path] = {}

    def project(self, bake_id: str) -> Path:
        if bake_id not in self.projects:
            result = self.cookies.bake(extra_context=BAKES_BY_ID[bake_id].answers,
                                       template=str(TEMPLATE_DIR))
            assert result.exception is None, f"bake {bake_id} failed: {result.exception}"
            assert result.exit_code == 0
            self.projects[bake_id] = Path(result.project_path)
        return self.projects[bake_id]
