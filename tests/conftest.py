from __future__ import annotations

from typing import Any

import pytest

from tests.bakes import BakeCache
from tests.lanes import SERVER_LANES, available_lanes, lanes_required, missing_lanes_message


@pytest.fixture(scope="session")
def bakes(cookies_session: Any) -> BakeCache:
    return BakeCache(cookies_session)


@pytest.fixture(scope="session")
def server_lanes() -> dict[str, Any]:
    lanes = available_lanes()
    missing = [lane for lane in SERVER_LANES if lanes[lane.name] is None]
    if missing and lanes_required():
        pytest.fail(f"PLUGKIT_REQUIRE_LANES is set but {missing_lanes_message(missing)}")
    return lanes


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lanes = available_lanes()
    missing = [lane for lane in SERVER_LANES if lanes[lane.name] is None]
    if missing:
        terminalreporter.write_line(f"NOT RUN: {missing_lanes_message(missing)}", yellow=True)
