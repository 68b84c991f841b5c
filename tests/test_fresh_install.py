"""A bake on a fresh machine: its own `make test` passes in the environment it builds from
its own pyproject.toml and uv.lock, and a bake made where uv cannot lock still works."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bakes import TEMPLATE_DIR, BakeCache, clean_env, output_tail, run_in, uv_command


# A whole suite, its environment installed first: minutes (the run itself stops at 900 s).
@pytest.mark.timeout(1200)
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


def bake_without_lock(
    tmp_path: Path, *answers: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    output = tmp_path / "out"
    # Only the uv this test names: not the one `make test` passes to every bake.
    environment = clean_env(**env)
    for name in ("PLUGKIT_UV", "UV", "UV_PYTHON"):
        if name not in env:
            environment.pop(name, None)
    result = subprocess.run(  # noqa: S603 - cookiecutter of this environment, fixed arguments
        [
            str(Path(sys.executable).parent / "cookiecutter"),
            "--no-input",
            "-o",
            str(output),
            str(TEMPLATE_DIR),
            *answers,
        ],
        env=environment,
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
    assert lock_notes(result) == [
        "uv.lock not written because uv is not installed (none on PATH, PLUGKIT_UV or UV): "
        "run `pip install uv && uv lock` in my_service/ to write it."
    ]
    assert not (project / "uv.lock").exists()
    assert (project / ".python-version").read_text() == "3.11\n"
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
    [note] = lock_notes(result)
    assert note.startswith("uv.lock not written because `uv lock` failed (")
    assert "the package index is unreachable" in note
    assert note.endswith(": run `uv lock` in my_service/ to write it.")
    assert not (project / "uv.lock").exists()
    assert (project / ".env").is_file() and (project / "pyproject.toml").is_file()


def test_a_bake_for_a_python_uv_cannot_find_says_so_and_downloads_none(tmp_path: Path) -> None:
    # uv, and the system's Python 3.11 only: no pyenv, no interpreter uv installed before.
    uv = uv_command()
    installs = tmp_path / "uv-pythons"
    installs.mkdir()
    result, project = bake_without_lock(
        tmp_path,
        "python_version=3.13",
        PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
        PLUGKIT_UV=uv,
        UV_PYTHON_INSTALL_DIR=str(installs),
    )
    assert result.returncode == 0, result.stderr
    assert lock_notes(result) == [
        "uv.lock not written because uv finds no Python 3.13 on this machine and downloads "
        "none while baking: run `uv python install 3.13 && uv lock` in my_service/ to write it."
    ]
    assert list(installs.iterdir()) == [], "the bake downloaded a Python"
    assert (project / ".python-version").read_text() == "3.13\n"
    assert not (project / "uv.lock").exists()


def test_make_demo_locks_its_bake_with_the_uv_make_installed(tmp_path: Path) -> None:
    """`make demo` on a machine whose only uv is the one the Makefile put in its tools folder."""
    path = "/usr/bin:/bin"
    assert shutil.which("uv", path=path) is None
    tools = tmp_path / "tools"
    (tools / "bin").mkdir(parents=True)
    (tools / "bin" / "uv").symlink_to(uv_command())
    demo = tmp_path / "demo"
    env = clean_env(PATH=path)
    for name in ("PLUGKIT_UV", "UV"):  # as `make test` passes them to its own commands
        env.pop(name, None)
    result = run_in(
        TEMPLATE_DIR,
        "make",
        "demo",
        f"TOOLS={os.path.relpath(tools, TEMPLATE_DIR)}",
        f"DEMO_DIR={demo}",
        # A port uvicorn refuses: the demo stops right after its bake instead of serving.
        "PORT=no-port",
        env=env,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert "Demo service (SQLite, in-process broker) starting" in result.stdout, output
    assert "uv.lock written for Python 3.11: dependencies are pinned." in result.stdout, output
    assert (demo / "my_service" / "uv.lock").is_file()
    assert (demo / "my_service" / ".python-version").read_text() == "3.11\n"


def lock_notes(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The hook's lines about uv.lock: one sentence, whatever happened."""
    return [line for line in result.stdout.splitlines() if "uv.lock" in line]
