"""The docker lanes' report, printed at the end of `make test-docker`: each lane ran or why not.

Loaded as a plugin (`-p tests.docker.report`) by that target only.
"""

from __future__ import annotations

import re

import pytest

from tests.docker.check_stacks import LANES, SELECTED

OUTCOMES: dict[str, str] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    lane = re.search(r"\[([\w.-]+)\]$", report.nodeid)
    if not lane:
        return
    name = lane[1]
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        OUTCOMES[name] = f"not run: {reason.removeprefix('Skipped: ')}"
    elif report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        why = crash.message.splitlines()[0][:160] if crash is not None else ""
        OUTCOMES[name] = f"FAILED in {report.when}: {why}"
    elif report.when == "call":
        OUTCOMES[name] = f"passed ({report.duration:.0f} s)"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write = terminalreporter.write_line
    write("")
    write("docker lanes (make test-docker; each builds, starts and drives one bake's stack):")
    for lane in LANES:
        if lane not in SELECTED:
            outcome = "not run: not in DOCKER_LANES"
        else:
            outcome = OUTCOMES.get(lane.id, "not run: not reached")
        write(f"  {lane.id:<22} {outcome}")
    write(
        f"  {'python 3.12 image':<22} not run: no Debian release ships Python 3.12 to build its"
        " stand-in from (the lanes above run 3.11 and 3.13 images)"
    )
