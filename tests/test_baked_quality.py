"""Every bake is ruff- and mypy-clean, as its own CI will demand."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bakes import BAKES, BakeCache, run_in, tool


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_bake_passes_ruff(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    result = run_in(project, tool("ruff"), "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    formatted = run_in(project, tool("ruff"), "format", "--check", "--no-cache", ".")
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_bake_passes_mypy(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    result = run_in(project, tool("mypy"), "app", "tests")
    assert result.returncode == 0, result.stdout + result.stderr
