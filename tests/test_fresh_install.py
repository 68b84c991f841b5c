"""A bake installs from its own pyproject.toml alone and passes its suite.

That proves its dependency list is complete."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tests.bakes import BakeCache, clean_env, run_in


def uv_command() -> str:
    uv = os.environ.get("PLUGKIT_UV") or shutil.which("uv")
    assert uv, "uv is needed: run the tests through `make test`, which provides it"
    return uv


def test_default_bake_installs_alone_and_passes(bakes: BakeCache, tmp_path: Path) -> None:
    project = bakes.project("defaults")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    uv = uv_command()
    created = run_in(project, uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    assert created.returncode == 0, created.stderr
    installed = run_in(project, uv, "pip", "install", "--quiet", "--python", str(python), ".[dev]")
    assert installed.returncode == 0, installed.stderr

    # Only the fresh environment's own packages: nothing leaks in from this test run.
    env = clean_env(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    result = run_in(project, str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", env=env)
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
    assert result.returncode == 0, tail
    assert " passed" in result.stdout, tail
