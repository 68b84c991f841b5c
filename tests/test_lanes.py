"""The lane report (`make test` prints it first): every database and Python lane, run or why not,
and in CI (PLUGKIT_REQUIRE_LANES=1) a lane that cannot run stops the run."""

from __future__ import annotations

import subprocess
import sys

from tests.bakes import TEMPLATE_DIR, clean_env, run_in
from tests.pythons import answered_versions


def report(**env: str) -> subprocess.CompletedProcess[str]:
    return run_in(
        TEMPLATE_DIR, sys.executable, "-m", "tests.lanes", "--report", env=clean_env(**env)
    )


def test_the_report_names_every_python_answer_as_run_or_not_run() -> None:
    result = report()
    assert result.returncode == 0 or "PLUGKIT_REQUIRE_LANES" in result.stderr, result.stderr
    [running] = [line for line in result.stdout.splitlines() if line.startswith("Python lanes")]
    not_run = " ".join(line for line in result.stdout.splitlines() if line.startswith("NOT RUN"))
    for version in answered_versions():
        assert f"python {version} (" in running or f"python {version} lane not run: " in not_run


def test_a_python_lane_named_wrongly_is_reported_and_fails_ci() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    other = next(version for version in answered_versions() if version != running)
    variable = f"PLUGKIT_PYTHON_{other.replace('.', '_')}"
    expected = f"python {other} lane not run: {variable}={sys.executable} is Python {running}"

    laptop = report(**{variable: sys.executable, "PLUGKIT_REQUIRE_LANES": "0"})
    assert laptop.returncode == 0, laptop.stderr
    assert expected in laptop.stdout

    ci = report(**{variable: sys.executable, "PLUGKIT_REQUIRE_LANES": "1"})
    assert ci.returncode == 1
    assert expected in ci.stdout
    assert "every lane must run" in ci.stderr
