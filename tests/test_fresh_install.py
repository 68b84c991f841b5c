"""A bake on a fresh machine: its own `make test` passes in the environment it builds from
its own pyproject.toml and uv.lock, and a bake made where uv cannot lock still works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.bakes import TEMPLATE_DIR, BakeCache, clean_env, output_tail, run_in, uv_command


def test_make_test_passes_inside_the_default_bake(bakes: BakeCache, tmp_path: Path) -> None:
    # A copy (the bake's `make test` writes .venv into the project folder), without the
    # caches other tests leave in the shared bake: a fresh machine has none.
    project = tmp_path / "project"
    caches = shutil.ignore_patterns("__pycache__", ".ruff_cache", ".mypy_cache", ".pytest_cache")
    shutil.copytree(bakes.project("defaults"), project, ignore=caches)
    assert (project / "uv.lock").is_file(), "the post-generation hook wrote no uv.lock"
    # Nothing from this test run leaks in: no venv, no import path, only the bake's own.
    env = clean_env(UV_PYTHON=sys.executable)
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"):
        env.pop(name, None)
    result = run_in(project, "make", "test", f"UV={uv_command()}", env=env, timeout=900)
    tail = output_tail(result)
    assert result.returncode == 0, tail
    assert " passed" in result.stdout, tail
    assert (project / ".venv" / "bin" / "pytest").exists(), "make test ran outside its venv"


def bake_without_lock(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    output = tmp_path / "out"
    result = subprocess.run(  # noqa: S603 - cookiecutter of this environment, fixed arguments
        [
            str(Path(sys.executable).parent / "cookiecutter"),
            "--no-input",
            "-o",
            str(output),
            str(TEMPLATE_DIR),
        ],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, output / "my_service"


def test_a_bake_without_uv_says_so_and_still_works(tmp_path: Path) -> None:
    # This environment's python and the system's tools: no uv anywhere on PATH.
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    assert shutil.which("uv", path=path) is None
    result, project = bake_without_lock(tmp_path, PATH=path)
    assert result.returncode == 0, result.stderr
    assert "uv.lock not written (uv is not installed)" in result.stdout
    assert not (project / "uv.lock").exists()
    health = run_in(
        project,
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_health.py",
    )
    assert health.returncode == 0, health.stdout + health.stderr


def test_a_bake_whose_index_is_unreachable_says_so_and_still_works(tmp_path: Path) -> None:
    uv_dir = str(Path(uv_command()).parent)
    result, project = bake_without_lock(
        tmp_path,
        PATH=f"{uv_dir}:{os.environ['PATH']}",
        # A closed port for the package index, and no cache to answer in its place.
        UV_DEFAULT_INDEX="http://127.0.0.1:9/simple",
        UV_INDEX_URL="http://127.0.0.1:9/simple",
        UV_NO_CACHE="1",
    )
    assert result.returncode == 0, result.stderr
    assert "uv.lock not written (" in result.stdout
    assert "run `uv lock` when the package index is reachable" in result.stdout
    assert not (project / "uv.lock").exists()
    assert (project / ".env").is_file() and (project / "pyproject.toml").is_file()
