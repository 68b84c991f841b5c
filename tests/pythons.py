"""Python lanes: each `python_version` answer's suite runs on that Python.

The template's own environment (.venv) runs the suites of the bakes for its Python. For every
other answer the harness looks for that interpreter the ordinary ways: a path named in
PLUGKIT_PYTHON_<major>_<minor> (e.g. PLUGKIT_PYTHON_3_12), else `uv python find` with the
version in a `.python-version` file (which pyenv's shims honour too). It never downloads one.
Found, it gets a test environment of its own, `.venv-<version>` beside `.venv`, installed from
requirements-dev.txt once and reused while that file and the interpreter stay the same.
With PLUGKIT_REQUIRE_LANES=1 (CI) a Python lane that cannot run is an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
REQUIREMENTS = TEMPLATE_DIR / "requirements-dev.txt"
RUNNING = f"{sys.version_info.major}.{sys.version_info.minor}"
FIND_TIMEOUT = 60
# Installing the pinned test environment into a new venv: ~20 s with a warm uv cache.
INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class PythonLane:
    version: str
    interpreter: str | None  # None: not available here
    found_by: str  # how it was found, or why it was not

    @property
    def available(self) -> bool:
        return self.interpreter is not None

    def describe(self) -> str:
        if self.interpreter is None:
            return f"python {self.version} lane not run: {self.found_by}"
        return f"python {self.version} ({self.interpreter}, {self.found_by})"


def answered_versions() -> list[str]:
    """Every Python the template offers (cookiecutter.json's python_version choices)."""
    choices = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["python_version"]
    return [str(choice) for choice in choices]


def uv_or_none() -> str | None:
    """The uv that `make test` bootstrapped (PLUGKIT_UV), or the one on PATH."""
    found = shutil.which(os.environ.get("PLUGKIT_UV") or "uv")
    # Absolute: it runs in other folders than this one.
    return os.path.abspath(found) if found else None


def version_of(interpreter: str) -> str | None:
    """The interpreter's major.minor version ("3.12"); None when it does not run."""
    try:
        result = subprocess.run(  # noqa: S603 - an interpreter we were pointed at, fixed code
            [interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=FIND_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _explicit(version: str) -> PythonLane | None:
    variable = f"PLUGKIT_PYTHON_{version.replace('.', '_')}"
    path = os.environ.get(variable)
    if not path:
        return None
    actual = version_of(path)
    if actual != version:
        why = "does not run" if actual is None else f"is Python {actual}"
        return PythonLane(version, None, f"{variable}={path} {why}")
    return PythonLane(version, path, f"from {variable}")


def _uv_find(version: str) -> PythonLane:
    uv = uv_or_none()
    if uv is None:
        return PythonLane(version, None, "no uv to look for it with (PLUGKIT_UV or PATH)")
    # A folder with only a version file: no project around it to narrow the request, and
    # version managers' shims (pyenv) pick the interpreter the file names.
    with tempfile.TemporaryDirectory(prefix="plugkit-python-") as folder:
        Path(folder, ".python-version").write_text(f"{version}\n")
        try:
            result = subprocess.run(  # noqa: S603 - uv with fixed arguments
                [uv, "python", "find", "--no-python-downloads", version],
                cwd=folder,
                env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
                capture_output=True,
                text=True,
                timeout=FIND_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return PythonLane(version, None, f"`uv python find {version}` failed: {exc}")
    found = result.stdout.strip()
    if result.returncode != 0 or not found or version_of(found) != version:
        reason = (result.stderr.strip().splitlines() or ["no interpreter"])[-1]
        return PythonLane(
            version,
            None,
            f"`uv python find {version}` found none ({reason}); install Python {version} "
            f"or name one in PLUGKIT_PYTHON_{version.replace('.', '_')}",
        )
    return PythonLane(version, found, "found by `uv python find`")


@cache
def python_lane(version: str) -> PythonLane:
    if version == RUNNING:
        return PythonLane(version, sys.executable, "the template's test environment")
    return _explicit(version) or _uv_find(version)


def python_lanes() -> list[PythonLane]:
    return [python_lane(version) for version in answered_versions()]


def missing_python_lanes_message(missing: list[PythonLane]) -> str:
    return "; ".join(lane.describe() for lane in missing)


def lane_environment(lane: PythonLane) -> Path:
    """The python of the lane's test environment, installed from requirements-dev.txt.

    Made once, under a lock, by the first test worker that needs it, and reused by later
    runs until requirements-dev.txt or the interpreter changes (the stamp says which).
    """
    assert lane.interpreter is not None, lane.describe()
    if lane.version == RUNNING:
        return Path(sys.executable)
    from tests.bakes import exclusive

    venv = TEMPLATE_DIR / f".venv-{lane.version}"
    stamp = venv / ".installed"
    wanted = _stamp(lane.interpreter)
    with exclusive(TEMPLATE_DIR / f".venv-{lane.version}.lock"):
        if not stamp.is_file() or stamp.read_text() != wanted:
            _install(lane.interpreter, venv)
            stamp.write_text(wanted)
    return venv / "bin" / "python"


def _stamp(interpreter: str) -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    return f"{interpreter}\n{digest}\n"


def _install(interpreter: str, venv: Path) -> None:
    uv = uv_or_none()
    assert uv, "uv is needed: run the tests through `make test`, which provides it"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    # Compiled bytecode up front, as for .venv: each suite starts many Python processes.
    for command in (
        [uv, "venv", "--quiet", "--clear", "--python", interpreter, str(venv)],
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(venv / "bin" / "python"),
            "-r",
            str(REQUIREMENTS),
        ],
    ):
        result = subprocess.run(  # noqa: S603 - uv with fixed arguments
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
