"""The worked third-party plugin: installing `examples/plugkit-naver` beside a baked
service adds Naver sign-in to it, with no file of the service changed."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.bakes import TEMPLATE_DIR, BakeCache, clean_env, output_tail, run_in, uv_command

EXAMPLE = TEMPLATE_DIR / "examples" / "plugkit-naver"
# Each must pass inside the service's environment; together they are the user's story.
STORY = (
    "test_the_package_declares_itself_to_this_service",
    "test_installing_the_package_adds_naver_sign_in",
    "test_naver_sign_in_creates_a_user_with_the_naver_profile[jwt]",
    "test_naver_sign_in_creates_a_user_with_the_naver_profile[cookie]",
    "test_a_naver_failure_is_a_502_and_creates_no_user[profile-500]",
    "test_a_naver_failure_is_a_502_and_creates_no_user[token-refused]",
)


# An environment installed, then a suite: a few minutes on a loaded machine.
@pytest.mark.timeout(900)
def test_installing_the_naver_package_beside_a_bake_adds_naver_sign_in(
    bakes: BakeCache, tmp_path: Path
) -> None:
    project = bakes.project("defaults")
    # A copy, so that building and testing the package leave nothing in the repository.
    package = tmp_path / "plugkit-naver"
    shutil.copytree(EXAMPLE, package, ignore=shutil.ignore_patterns("__pycache__", ".*cache"))
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    uv = uv_command()
    created = run_in(project, uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    assert created.returncode == 0, created.stderr
    # The service as its users install it, then the plugin package: nothing else.
    installed = run_in(
        project, uv, "pip", "install", "--quiet", "--python", str(python), ".[dev]", str(package)
    )
    assert installed.returncode == 0, installed.stderr

    env = clean_env(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}:{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    pytest = ("-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider")
    result = run_in(package, str(python), *pytest, env=env, timeout=300)
    tail = output_tail(result)
    assert result.returncode == 0, tail
    passed = {
        line.split("::", 1)[1] for line in result.stdout.splitlines() if line.startswith("PASSED ")
    }
    missing = [name for name in STORY if name not in passed]
    assert not missing, f"did not pass: {missing}\n{tail}"
