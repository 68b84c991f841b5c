"""Every bake's own test suite passes: on SQLite, and on the database servers it targets."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.bakes import BAKES, Bake, BakeCache, clean_env, output_tail, run_in, suite_fingerprint
from tests.lanes import SERVER_LANES, available_lanes, fresh_database, lanes_required
from tests.pythons import lane_environment, python_lane, version_of

_AVAILABLE = available_lanes()
FUZZ_EXAMPLES_PER_RUN = 200


def _suite_params() -> list[Any]:
    params = []
    for bake in (bake for bake in BAKES if bake.suite_same_as is None):
        # A Python this machine lacks is reported in the summary on a laptop; in CI the
        # suite runs (and fails, saying which Python is missing).
        if not python_lane(bake.python).available and not lanes_required():
            continue
        # The defaults bake's SQLite run is its own `make test`, in test_fresh_install.py.
        if bake.id != "defaults":
            params.append(pytest.param(bake, "sqlite", id=f"{bake.id}-sqlite"))
        for lane in bake.server_lanes:
            # A missing server is reported in the summary on a laptop; in CI it is a failure.
            if _AVAILABLE[lane] is not None or lanes_required():
                params.append(pytest.param(bake, lane, id=f"{bake.id}-{lane}"))
    return params


@pytest.fixture(scope="session")
def hypothesis_storage(run_folder: Path) -> Path:
    """One Hypothesis folder for every suite run of this test run.

    Before it generates data, Hypothesis reads every module of the project for constants
    and keeps what it found per file content: the bakes share most files, so all but the
    first suite run find them there (seconds per run).
    """
    return run_folder / "hypothesis"


SUITE_SECONDS = 900


# A whole suite (the run itself stops at 900 s: about three minutes alone, several times that
# while other suites share the machine's cores), on another Python after installing its
# test environment (once per requirements-dev.txt).
@pytest.mark.timeout(1500)
@pytest.mark.parametrize(("bake", "lane_name"), _suite_params())
def test_bake_suite_passes(
    bakes: BakeCache,
    server_lanes: dict[str, Any],
    hypothesis_storage: Path,
    bake: Bake,
    lane_name: str,
) -> None:
    lane_python = python_lane(bake.python)
    assert lane_python.available, lane_python.describe()
    python = lane_environment(lane_python)
    project = bakes.project(bake.id)
    command = (str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist")
    # The full 1,000-case schema fuzzing runs once, in the defaults bake's own `make test`
    # (test_fresh_install.py); here every operation still gets generated requests.
    env = clean_env(
        FUZZ_EXAMPLES=str(FUZZ_EXAMPLES_PER_RUN),
        HYPOTHESIS_STORAGE_DIRECTORY=str(hypothesis_storage),
    )
    if lane_name == "sqlite":
        result = run_in(project, *command, env=env, timeout=SUITE_SECONDS)
    else:
        lane = next(lane for lane in SERVER_LANES if lane.name == lane_name)
        assert server_lanes[lane_name] is not None, f"{lane_name} does not answer"
        with fresh_database(lane) as url:
            result = run_in(
                project, *command, env={**env, "TEST_DATABASE_URL": url}, timeout=SUITE_SECONDS
            )
    tail = output_tail(result)
    assert result.returncode == 0, tail
    assert " passed" in result.stdout, tail
    assert version_of(str(python)) == bake.python, "the suite ran on another Python"


@pytest.mark.parametrize(
    "bake", [bake for bake in BAKES if bake.suite_same_as], ids=lambda bake: bake.id
)
def test_bake_suite_is_covered_by_an_identical_bake(bakes: BakeCache, bake: Bake) -> None:
    assert bake.suite_same_as is not None
    mine = suite_fingerprint(bakes.project(bake.id))
    theirs = suite_fingerprint(bakes.project(bake.suite_same_as))
    differing = sorted(
        path for path in mine.keys() | theirs.keys() if mine.get(path) != theirs.get(path)
    )
    assert differing == [], (
        f"{bake.id} no longer has the same code and tests as {bake.suite_same_as}: "
        "give it suite runs of its own (drop suite_same_as)"
    )


STUCK_TEST = """
import threading


async def test_that_blocks_its_event_loop() -> None:
    threading.Event().wait()  # never set: the loop cannot run anything else
"""


def test_a_stuck_test_in_a_bake_fails_with_its_stack_instead_of_hanging(
    bakes: BakeCache, tmp_path: Path
) -> None:
    project = bakes.project("defaults")
    settings = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["pytest"]
    assert settings["ini_options"]["timeout"] == 120
    assert settings["ini_options"]["timeout_method"] == "thread"
    stuck = tmp_path / "test_stuck.py"
    stuck.write_text(STUCK_TEST)
    # The bake's own pytest settings, with the limit shortened to keep this test quick.
    command = ("-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", "pyproject.toml")
    result = run_in(project, sys.executable, *command, "-o", "timeout=3", str(stuck), timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Timeout" in output and "test_that_blocks_its_event_loop" in output, output
