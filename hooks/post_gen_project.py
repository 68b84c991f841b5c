"""Remove the plugins that were not picked, write `.env` with fresh secrets, pin Python and
the dependencies (`.python-version`, uv.lock), say what's next."""

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

# Rendered by the generator before the hook runs; the raw string keeps JSON escapes intact.
ANSWERS: dict[str, str] = json.loads(r"""{{ cookiecutter | tojson }}""")
PLUGINS = ("google", "kakao", "ses", "smtp", "kakaotalk")
PICKED = {name: ANSWERS[f"use_{name}"] == "y" for name in PLUGINS}
PYTHON_VERSION = ANSWERS["python_version"]
# Resolving every dependency against the package index: seconds, unless it hangs.
LOCK_TIMEOUT = 180

# The real-worker delivery tests of each broker: a bake keeps those of the broker it picked
# (none for the in-process broker, whose delivery the other tests cover).
BROKER_TESTS = {
    "redis": "tests/test_worker_redis.py",
    "rabbitmq": "tests/test_worker_rabbitmq.py",
}
WORKER_TESTS_BASE = "tests/worker_delivery.py"

SECRET_PLACEHOLDER = "change-me"  # noqa: S105 - the marker we replace, not a secret


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def prune_plugins(root: Path) -> list[str]:
    """A plugin is its folder, its fakes and tests included: leaving one out is deleting it."""
    removed = [name for name, picked in PICKED.items() if not picked]
    for name in removed:
        remove(root / "app" / "plugins" / name)
    return removed


def prune_broker_tests(root: Path) -> None:
    picked = ANSWERS["task_broker"]
    for broker, relative in BROKER_TESTS.items():
        if broker != picked:
            remove(root / relative)
    if picked not in BROKER_TESTS:
        remove(root / WORKER_TESTS_BASE)


def write_env(root: Path) -> None:
    """`.env` = `.env.example` with every `change-me` replaced by its own fresh secret."""
    lines = []
    for line in (root / ".env.example").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and value.strip() == SECRET_PLACEHOLDER:
            line = f"{key}={secrets.token_urlsafe(48)}"
        lines.append(line)
    env_file = root / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)


def find_uv() -> tuple[str | None, str]:
    """The uv to lock with, and where it came from (or why there is none).

    Named by PLUGKIT_UV or UV (as `make` passes its own), else the one on PATH.
    """
    for variable in ("PLUGKIT_UV", "UV"):
        named = os.environ.get(variable, "")
        if named:
            found = shutil.which(named)
            if found is None:
                return None, f"{variable}={named} is not an executable uv"
            return found, variable
    found = shutil.which("uv")
    if found is None:
        return None, "uv is not installed (none on PATH, PLUGKIT_UV or UV)"
    return found, "PATH"


def write_python_version(root: Path) -> None:
    """Pin the interpreter: uv, pyenv and the Dockerfile's users all read this file."""
    (root / ".python-version").write_text(f"{PYTHON_VERSION}\n")


def not_written(root: Path, why: str, command: str) -> str:
    return f"uv.lock not written because {why}: run `{command}` in {root.name}/ to write it."


def run_uv(uv: str, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Never a Python download while baking: a missing interpreter is reported, not fetched.
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    return subprocess.run(  # noqa: S603 - uv found above, fixed arguments
        [uv, *args, "--no-python-downloads"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=LOCK_TIMEOUT,
        check=False,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


def write_lock(root: Path) -> str:
    """Pin every dependency in uv.lock; without uv, its Python or a network the project
    still works, and the note says why there is no lock and the command that writes it."""
    uv, found_by = find_uv()
    if uv is None:
        return not_written(root, found_by, "pip install uv && uv lock")
    try:
        # The bake's own Python first (from .python-version, or UV_PYTHON when given): a lock
        # for it needs it, and without it uv's own error would be about downloads.
        python = run_uv(uv, root, "python", "find")
        if python.returncode != 0:
            return not_written(
                root,
                f"uv finds no Python {PYTHON_VERSION} on this machine and downloads none "
                "while baking",
                f"uv python install {PYTHON_VERSION} && uv lock",
            )
        lock = run_uv(uv, root, "lock", "--quiet")
    except (OSError, subprocess.SubprocessError) as exc:
        return not_written(root, f"uv could not run ({exc})", "uv lock")
    if lock.returncode != 0:
        return not_written(
            root,
            f"`uv lock` failed ({last_line(lock)}), most likely as the package index is "
            "unreachable",
            "uv lock",
        )
    return f"uv.lock written for Python {PYTHON_VERSION}: dependencies are pinned."


# What `cruft update` leaves alone: this bake's own secrets, the lock (re-run `uv lock` after an
# update, as the dependencies may have changed) and cruft's own state, which it rewrites itself.
CRUFT_SKIP = [".cruft.json", ".env", "uv.lock"]
# cookiecutter's built-in abbreviations, spelled out: cruft clones the template with plain git.
ABBREVIATIONS = {
    "gh": "https://github.com/{0}.git",
    "gl": "https://gitlab.com/{0}.git",
    "bb": "https://bitbucket.org/{0}",
}


def git_output(folder: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(  # noqa: S603 - git with fixed arguments
            ["git", "-C", str(folder), *args],  # noqa: S607 - git from PATH, as cruft uses it
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def template_source(template: str) -> str:
    """Where `cruft update` clones the template from: abbreviations expanded, a local
    folder made absolute (the generator may have been started in another folder)."""
    prefix, sep, rest = template.partition(":")
    if sep and prefix in ABBREVIATIONS:
        return ABBREVIATIONS[prefix].format(rest)
    if "://" in template or "@" in template:
        return template.removeprefix("git+")
    local = Path(template).expanduser()
    if not local.is_absolute():
        local = Path(os.environ.get("PWD", ".")) / local
    return str(local.resolve())


def template_commit(answers: dict[str, str]) -> tuple[str | None, str | None]:
    """The template's commit and, when the template sits below its repository's top, the
    folder it sits in. cruft passes `_commit`; a plain run is asked of the clone's git."""
    if answers.get("_commit"):
        return answers["_commit"], None
    repo_dir = Path(answers.get("_repo_dir", ""))
    if not answers.get("_repo_dir") or not repo_dir.is_dir():
        return None, None
    commit = git_output(repo_dir, "rev-parse", "HEAD")
    top = git_output(repo_dir, "rev-parse", "--show-toplevel")
    if commit is None or top is None:
        return None, None
    inner = repo_dir.resolve().relative_to(Path(top).resolve()).as_posix()
    return commit, (None if inner == "." else inner)


def write_cruft_state(root: Path) -> str:
    """`.cruft.json`, as `cruft create` writes it: `cruft update` then pulls template changes."""
    commit, directory = template_commit(ANSWERS)
    if commit is None:
        return (
            ".cruft.json not written: the template is not a git checkout, so there is no "
            "commit to update from (`cruft link <template-url>` links the project later)."
        )
    source = template_source(str(ANSWERS.get("_template", "")))
    answers = {
        key: value
        for key, value in ANSWERS.items()
        if not key.startswith("_") or key == "_template"
    }
    answers.update({"_template": source, "_commit": commit})
    state = {
        "template": source,
        "commit": commit,
        "checkout": None,
        "context": {"cookiecutter": answers},
        "directory": directory,
        "skip": CRUFT_SKIP,
    }
    (root / ".cruft.json").write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n")
    return f".cruft.json written: `cruft update` pulls template changes ({commit[:12]})."


def main() -> None:
    root = Path.cwd()
    removed = prune_plugins(root)
    prune_broker_tests(root)
    write_env(root)
    write_python_version(root)
    lock_note = write_lock(root)
    cruft_note = write_cruft_state(root)
    picked = [name for name, on in PICKED.items() if on]
    print(f"\n{ANSWERS['project_name']} is ready in {root}")
    print(
        f"Plugins: {', '.join(['console', *picked])}"
        + (f" (left out: {', '.join(removed)})" if removed else "")
    )
    print(lock_note)
    print(cruft_note)
    print("Next steps:")
    print(f"  cd {root.name}")
    print("  make install   # or: uv sync --extra dev")
    print("  make dev       # the API on http://127.0.0.1:8000, SQLite, mail to the log")
    print("  open http://127.0.0.1:8000/docs")
    print("Settings live in .env (fresh secrets were written there; keep it out of git).")


if __name__ == "__main__":
    main()
