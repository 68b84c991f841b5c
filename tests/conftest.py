from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.bakes import BakeCache
from tests.lanes import SERVER_LANES, available_lanes, lanes_required, missing_lanes_message
from tests.pythons import missing_python_lanes_message, python_lanes


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """This run's temporary folder, shared by its test workers (one level above their own)."""
    folder = tmp_path_factory.getbasetemp()
    return folder if worker_id == "master" else folder.parent


@pytest.fixture(scope="session")
def bakes(run_folder: Path) -> BakeCache:
    return BakeCache(run_folder / "bakes")


@pytest.fixture(scope="session")
def server_lanes() -> dict[str, Any]:
    lanes = available_lanes()
    missing = [lane for lane in SERVER_LANES if lanes[lane.name] is None]
    if missing and lanes_required():
        pytest.fail(f"PLUGKIT_REQUIRE_LANES is set but {missing_lanes_message(missing)}")
    return lanes


# Minutes-long tests first, handed out one at a time (`make test`: --dist load
# --maxschedchunk 1): the run does not end with one worker on a queue of long tests and
# the others idle.
LONGEST_FIRST = (
    "test_make_test_passes_inside_the_default_bake",
    "test_bake_suite_passes",
    "test_installing_the_naver_package_beside_a_bake_adds_naver_sign_in",
    "test_bake_passes_mypy",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = getattr(item, "originalname", item.name)
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lanes = available_lanes()
    missing = [lane for lane in SERVER_LANES if lanes[lane.name] is None]
    if missing:
        terminalreporter.write_line(f"NOT RUN: {missing_lanes_message(missing)}", yellow=True)
    pythons = python_lanes()
    ran = "; ".join(lane.describe() for lane in pythons if lane.available)
    terminalreporter.write_line(f"Python lanes: {ran}")
    lacking = [lane for lane in pythons if not lane.available]
    if lacking:
        terminalreporter.write_line(
            f"NOT RUN: {missing_python_lanes_message(lacking)}", yellow=True
        )
