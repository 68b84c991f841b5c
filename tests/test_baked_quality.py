"""Every bake is ruff-, mypy- and bandit-clean, as its own CI will demand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bakes import BAKES, TEMPLATE_DIR, Bake, BakeCache, exclusive, run_in, tool

TEMPLATE_CODE = ("hooks", "tests", "bench", "docs/gen_settings.py", "examples")


def test_template_code_passes_ruff_and_mypy() -> None:
    checked = run_in(TEMPLATE_DIR, tool("ruff"), "check", "--no-cache", *TEMPLATE_CODE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    formatted = run_in(
        TEMPLATE_DIR, tool("ruff"), "format", "--check", "--no-cache", *TEMPLATE_CODE
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr
    typed = run_in(TEMPLATE_DIR, tool("mypy"), "hooks", "tests")
    assert typed.returncode == 0, typed.stdout + typed.stderr


# Bandit's gate: a medium or high finding fails; accepted ones carry `# nosec BXXX - reason`.
BANDIT_GATE = ("--severity-level", "medium", "--confidence-level", "low")


def test_template_code_passes_bandit() -> None:
    result = run_in(TEMPLATE_DIR, tool("bandit"), "-q", "-r", *TEMPLATE_CODE, *BANDIT_GATE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_bake_passes_bandit(bakes: BakeCache, bake: Any) -> None:
    """The command of the bake's `make lint` and CI: its pyproject.toml leaves out tests."""
    project = bakes.project(bake.id)
    scanned = ("app", "migrations")
    command = ("-q", "-c", "pyproject.toml", "-r", *scanned, *BANDIT_GATE)
    result = run_in(project, tool("bandit"), *command)
    assert result.returncode == 0, result.stdout + result.stderr
    lint = (project / "Makefile").read_text()
    assert "bandit -q -c pyproject.toml -r app migrations --severity-level medium" in lint


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_bake_passes_ruff(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    result = run_in(project, tool("ruff"), "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    formatted = run_in(project, tool("ruff"), "format", "--check", "--no-cache", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


@pytest.fixture(scope="session")
def mypy_cache(run_folder: Path) -> Path:
    """One mypy cache for every bake this run checks, shared by the test workers.

    The libraries every bake imports are the same files, so after the first bake mypy
    checks only each bake's own modules: it compares every module's content with its
    cache entry, whatever folder the module sits in. mypy keeps a cache per target Python
    version; one mypy at a time writes to each.
    """
    return run_folder / "mypy-cache"


# The first bake's check types every library; later ones may wait for the cache lock.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_bake_passes_mypy(bakes: BakeCache, mypy_cache: Path, bake: Bake) -> None:
    project = bakes.project(bake.id)
    target = bake.python
    # Bakes for other Python versions check at the same time (their caches are apart).
    with exclusive(mypy_cache.parent / f"mypy-cache-{target}.lock"):
        result = run_in(project, tool("mypy"), "--cache-dir", str(mypy_cache), "app", "tests")
    assert result.returncode == 0, result.stdout + result.stderr
