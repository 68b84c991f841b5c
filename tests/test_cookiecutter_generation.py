"""Baking: the defaults, each answer changed alone, and every combination the kit refuses."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.bakes import BAKES, PLUGINS, TEMPLATE_DIR, BakeCache, run_in

LEFTOVER = re.compile(r"{{\s*cookiecutter|{%|%}")
# The service's own page templates are Jinja at run time: only the generator's variables
# must be gone from them.
RUNTIME_TEMPLATES = "app/templates/"
GENERATOR_LEFTOVER = re.compile(r"{{\s*cookiecutter|cookiecutter\.")
TEXT_SUFFIXES = {
    ".py",
    ".toml",
    ".md",
    ".txt",
    ".yml",
    ".yaml",
    ".cfg",
    ".ini",
    ".html",
    ".example",
    ".json",
    ".env",
    ".sh",
    "",
}


def baked_text_files(project: Path) -> list[Path]:
    return [
        path
        for path in project.rglob("*")
        if path.is_file() and path.suffix in TEXT_SUFFIXES and ".venv" not in path.parts
    ]


def test_template_py_files_are_plain_python() -> None:
    template = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
    offenders = [str(p) for p in template.rglob("*.py") if "{%" in p.read_text()]
    assert offenders == []


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_bake_renders_every_file(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    assert (project / "app" / "main.py").is_file()
    leftovers = []
    for path in baked_text_files(project):
        relative = str(path.relative_to(project))
        pattern = GENERATOR_LEFTOVER if relative.startswith(RUNTIME_TEMPLATES) else LEFTOVER
        if pattern.search(path.read_text(errors="replace")):
            leftovers.append(relative)
    assert leftovers == []


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_bake_keeps_only_picked_plugins(bakes: BakeCache, bake: Any) -> None:
    project = bakes.project(bake.id)
    plugins_dir = project / "app" / "plugins"
    present = {path.name for path in plugins_dir.iterdir() if (path / "plugin.py").exists()}
    template_plugins = {
        path.name
        for path in (TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "app" / "plugins").iterdir()
        if (path / "plugin.py").exists()
    }
    expected = {"console"} | {
        name for name in PLUGINS if bake.picked(name) and name in template_plugins
    }
    assert present == expected


# The sign-in's security tests run against the tests' own provider-neutral OAuth server,
# so every bake keeps them, whichever provider plugins it has.
SIGN_IN_SECURITY_TESTS = {
    "test_account_takeover.py",
    "test_oauth_linking.py",
    "test_oauth_callback_state.py",
    "test_oauth_flow_common.py",
    "test_browser_signin.py",
}


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_a_left_out_plugin_is_its_folder_and_the_security_tests_stay(
    bakes: BakeCache, bake: Any
) -> None:
    project = bakes.project(bake.id)
    left_out = [name for name in PLUGINS if not bake.picked(name)]
    # The plugin's fakes and tests went with its folder: nothing left imports it.
    naming = re.compile(rf"\bapp\.plugins\.({'|'.join(left_out)})\b") if left_out else None
    offenders = [
        str(path.relative_to(project))
        for path in project.rglob("*.py")
        if ".venv" not in path.parts and naming and naming.search(path.read_text())
    ]
    assert offenders == []
    assert {path.name for path in (project / "tests").glob("*.py")} >= SIGN_IN_SECURITY_TESTS


def test_default_bake_answers(bakes: BakeCache) -> None:
    project = bakes.project("defaults")
    assert project.name == "my_service"
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "my_service"' in pyproject
    assert '"aiomysql' in pyproject
    assert 'requires-python = ">=3.11"' in pyproject


def test_database_answer_picks_the_driver(bakes: BakeCache) -> None:
    postgres = (bakes.project("postgresql") / "pyproject.toml").read_text()
    sqlite = (bakes.project("sqlite") / "pyproject.toml").read_text()
    assert '"asyncpg' in postgres and "aiomysql" not in postgres
    assert "asyncpg" not in sqlite and "aiomysql" not in sqlite


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_every_bake_pins_its_python_and_its_dependencies(bakes: BakeCache, bake: Any) -> None:
    """What the Dockerfile (`COPY uv.lock`) and the bake's CI (`uv sync --frozen`) need."""
    project = bakes.project(bake.id)
    assert (project / ".python-version").read_text() == f"{bake.python}\n"
    lock = project / "uv.lock"
    assert lock.is_file(), "the post-generation hook wrote no uv.lock"
    pinned = tomllib.loads(lock.read_text())
    assert pinned["requires-python"] == f">={bake.python}"
    locked = {package["name"] for package in pinned["package"]}
    assert project.name.replace("_", "-") in locked and "fastapi" in locked


def test_python_version_answer_reaches_the_tools(bakes: BakeCache) -> None:
    pyproject = (bakes.project("python-3.13") / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.13"' in pyproject
    assert 'python_version = "3.13"' in pyproject
    assert 'target-version = "py313"' in pyproject


@pytest.mark.parametrize(
    ("bake_id", "worker_tests"),
    [
        ("defaults", set()),
        ("redis-broker", {"test_worker_redis.py", "worker_delivery.py"}),
        ("rabbitmq-broker", {"test_worker_rabbitmq.py", "worker_delivery.py"}),
    ],
)
def test_task_broker_answer_keeps_its_worker_tests_and_services(
    bakes: BakeCache, bake_id: str, worker_tests: set[str]
) -> None:
    project = bakes.project(bake_id)
    present = {path.name for path in (project / "tests").glob("*worker_*.py")}
    assert present == worker_tests
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text()
    assert ("rabbitmq:" in workflow) == (bake_id == "rabbitmq-broker")
    assert "redis:" in workflow  # the nonce store's tests use Redis in every bake


def test_env_gets_fresh_secrets_every_bake(cookies: Any) -> None:
    first = cookies.bake(template=str(TEMPLATE_DIR)).project_path
    second = cookies.bake(template=str(TEMPLATE_DIR), extra_context={"project_name": "Other"})
    env_a = dict(_env_pairs(Path(first) / ".env"))
    env_b = dict(_env_pairs(Path(second.project_path) / ".env"))
    example = dict(_env_pairs(Path(first) / ".env.example"))
    secret_keys = [key for key, value in example.items() if value == "change-me"]
    assert "SECRET_KEY" in secret_keys
    for key in secret_keys:
        assert len(env_a[key]) >= 48
        assert env_a[key] != env_b[key]
    assert (Path(first) / ".env").stat().st_mode & 0o077 == 0


def _env_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            pairs.append((key.strip(), value.strip()))
    return pairs


UNSUPPORTED = [
    pytest.param(
        {"use_kakao": "n", "use_kakaotalk": "y"},
        "use_kakaotalk needs use_kakao",
        id="kakaotalk-without-kakao",
    ),
    pytest.param({"project_slug": "my-service"}, "lower-case Python identifier", id="slug-dash"),
    pytest.param({"project_slug": "1service"}, "lower-case Python identifier", id="slug-digit"),
    pytest.param({"project_slug": "class"}, "lower-case Python identifier", id="slug-keyword"),
    pytest.param({"project_slug": "app"}, "clashes with a folder", id="slug-app"),
    pytest.param(
        {"project_name": 'My "Quoted" Service'}, "must not contain quotes", id="name-quotes"
    ),
    pytest.param({"use_ses": "maybe"}, "must be 'y' or 'n'", id="yes-no"),
    pytest.param({"author_email": "nobody"}, "is not an email address", id="email"),
]


@pytest.mark.parametrize(("answers", "sentence"), UNSUPPORTED)
def test_unsupported_answers_fail_before_generation(
    cookies: Any, capfd: pytest.CaptureFixture[str], answers: dict[str, str], sentence: str
) -> None:
    result = cookies.bake(template=str(TEMPLATE_DIR), extra_context=answers)
    assert result.exit_code != 0
    assert "Pre-Prompt" not in str(result.exception)
    assert "pre_gen_project" in str(result.exception) or result.exception is not None
    assert result.project_path is None or not Path(result.project_path).exists()
    assert sentence in capfd.readouterr().err


def _requirement_names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[\[<>=!~; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for line in requirements
        if line.strip() and not line.strip().startswith("#")
    }


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_template_test_environment_holds_every_bake_dependency(bakes: BakeCache, bake: Any) -> None:
    """The shared environment the bake suites run in must hold what each bake declares."""
    project = tomllib.loads((bakes.project(bake.id) / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(
        project["dependencies"] + project.get("optional-dependencies", {}).get("dev", [])
    )
    available = _requirement_names((TEMPLATE_DIR / "requirements-dev.in").read_text().splitlines())
    assert declared - available == set()


@pytest.mark.parametrize("bake", BAKES, ids=lambda bake: bake.id)
def test_readme_names_only_the_picked_plugins(bakes: BakeCache, bake: Any) -> None:
    readme = (bakes.project(bake.id) / "README.md").read_text().lower()
    for plugin in PLUGINS:
        mentioned = re.search(rf"\b{plugin}\b", readme) is not None
        assert mentioned == bake.picked(plugin), f"README and use_{plugin} disagree"


# Run inside a bake: the paths of the OAuth routes the service mounts.
OAUTH_ROUTES = """
import json
from app.core.config import Settings
from app.main import create_app
app = create_app(Settings(_env_file=None, database_url="sqlite+aiosqlite://"))
print(json.dumps(sorted(path for path in app.openapi()["paths"] if path.endswith("/authorize"))))
"""


@pytest.mark.parametrize(
    ("bake_id", "providers"),
    [
        ("defaults", {"google", "kakao"}),
        ("google-only", {"google"}),
        ("kakao-only", {"kakao"}),
        ("no-oauth", set()),
    ],
)
def test_oauth_routes_and_dependency_follow_the_providers_picked(
    bakes: BakeCache, bake_id: str, providers: set[str]
) -> None:
    project = bakes.project(bake_id)
    result = run_in(project, sys.executable, "-c", OAUTH_ROUTES)
    assert result.returncode == 0, result.stderr
    expected = sorted(
        f"/api/v1/auth/{name}/{transport}/authorize"
        for name in providers
        for transport in ("cookie", "jwt")
    )
    assert json.loads(result.stdout) == expected
    dependencies = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert any("httpx-oauth" in dep for dep in dependencies["dependencies"]) == bool(providers)
