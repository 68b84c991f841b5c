"""Remove the plugins that were not picked, write `.env` with fresh secrets, say what's next."""

import json
import secrets
import shutil
import subprocess
from pathlib import Path

# Rendered by the generator before the hook runs; the raw string keeps JSON escapes intact.
ANSWERS: dict[str, str] = json.loads(r"""{{ cookiecutter | tojson }}""")
PLUGINS = ("google", "kakao", "ses", "smtp", "kakaotalk")
PICKED = {name: ANSWERS[f"use_{name}"] == "y" for name in PLUGINS}
OAUTH_PROVIDERS = ("google", "kakao")

# Files outside a plugin's own folder that belong to it, and go when it goes.
PLUGIN_FILES = {
    "google": ["tests/fakes/google.py", "tests/test_oauth_google.py"],
    "kakao": ["tests/fakes/kakao.py", "tests/test_oauth_kakao.py"],
    "ses": [],
    "smtp": [],
    "kakaotalk": [],
}
# Files that need every one of these plugins.
NEEDS_ALL = {
    "tests/test_oauth_linking.py": ["google", "kakao"],
}
# Files that need at least one of these plugins.
NEEDS_ANY = {
    "tests/test_browser_signin.py": list(OAUTH_PROVIDERS),
    "tests/test_oauth_flow_common.py": list(OAUTH_PROVIDERS),
}

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
    removed = []
    for name, picked in PICKED.items():
        if not picked:
            remove(root / "app" / "plugins" / name)
            for relative in PLUGIN_FILES[name]:
                remove(root / relative)
            removed.append(name)
    for relative, needed in NEEDS_ALL.items():
        if not all(PICKED[name] for name in needed):
            remove(root / relative)
    for relative, needed in NEEDS_ANY.items():
        if not any(PICKED[name] for name in needed):
            remove(root / relative)
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


def write_lock(root: Path) -> str:
    """Pin every dependency in uv.lock; without uv or a network the project still works."""
    uv = shutil.which("uv")
    if uv is None:
        return "uv.lock not written (uv is not installed): run `uv lock` once you have uv."
    try:
        subprocess.run(  # noqa: S603 - uv from PATH with fixed arguments
            [uv, "lock", "--quiet"], cwd=root, check=True, capture_output=True, timeout=180
        )
    except (OSError, subprocess.SubprocessError) as exc:
        reason = getattr(exc, "stderr", b"") or str(exc)
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        lines = reason.strip().splitlines()
        return (
            f"uv.lock not written ({lines[-1] if lines else 'uv lock failed'}): "
            "run `uv lock` when the package index is reachable."
        )
    return "uv.lock written: dependencies are pinned."


def main() -> None:
    root = Path.cwd()
    removed = prune_plugins(root)
    prune_broker_tests(root)
    write_env(root)
    lock_note = write_lock(root)
    picked = [name for name, on in PICKED.items() if on]
    print(f"\n{ANSWERS['project_name']} is ready in {root}")
    print(
        f"Plugins: {', '.join(['console', *picked])}"
        + (f" (left out: {', '.join(removed)})" if removed else "")
    )
    print(lock_note)
    print("Next steps:")
    print(f"  cd {root.name}")
    print("  make install   # or: uv sync --extra dev")
    print("  make dev       # the API on http://127.0.0.1:8000, SQLite, mail to the log")
    print("  open http://127.0.0.1:8000/docs")
    print("Settings live in .env (fresh secrets were written there; keep it out of git).")


if __name__ == "__main__":
    main()
