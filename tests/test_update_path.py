"""A bake pulls later template changes with cruft: `.cruft.json` names the template, its
commit and the answers, and `cruft update` brings an older bake to the current template."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

from tests.bakes import TEMPLATE_DIR, BakeCache, environ

# Never copied over by an update: the bake's own secrets, its lock (re-run `uv lock`) and
# cruft's own state, which cruft rewrites.
SKIPPED = (".cruft.json", ".env", "uv.lock")
USER_NOTE = "Our team's own note, kept across template updates."
# What the older template commit had otherwise (see `template_repo`).
OLDER_CHANGED = "{{cookiecutter.project_slug}}/README.md"
OLDER_MISSING = "{{cookiecutter.project_slug}}/README.ko.md"


def git(folder: Path, *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - git with fixed arguments
        ["git", "-C", str(folder), *args],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=git_env(),
    )
    assert result.returncode == 0, f"git {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def git_env() -> dict[str, str]:
    """A known committer; no uv for the hook, so no bake resolves a lock over the network
    (the lock is not part of an update)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Template Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Template Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
        "PLUGKIT_UV": "no-uv-while-testing-updates",
        "UV": "no-uv-while-testing-updates",
    }
    paths = os.environ.get("PATH", "").split(os.pathsep)
    env["PATH"] = os.pathsep.join(
        p for p in paths if not (Path(p) / "uv").exists() or (Path(p) / "git").exists()
    )
    return env


def cruft(project_or_cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - cruft from this environment, fixed arguments
        [str(Path(sys.executable).parent / "cruft"), *args],
        cwd=project_or_cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=git_env(),
    )


def template_repo(folder: Path) -> tuple[Path, str, str]:
    """A repository of the template as the tests bake it (the working tree), in two commits:
    (repository, the older commit, the current commit).

    The older commit is the same template before a change (its bake README said something
    else and it had no Korean README), so the update has real work to do whatever the
    history of the checkout the tests run in (a shallow clone has none).
    """
    repo = folder / "plugkit"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    listed = git(TEMPLATE_DIR, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
    for relative in filter(None, listed):
        source = TEMPLATE_DIR / relative
        if source.is_file():
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / relative)
    readme = repo / OLDER_CHANGED
    current_readme = readme.read_text()
    korean = (repo / OLDER_MISSING).read_bytes()
    readme.write_text(current_readme.replace("\n", "\n\nAn older template said this.\n", 1))
    (repo / OLDER_MISSING).unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "The template before a change")
    older = git(repo, "rev-parse", "HEAD")
    readme.write_text(current_readme)
    (repo / OLDER_MISSING).write_bytes(korean)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "The template as the tests bake it")
    return repo, older, git(repo, "rev-parse", "HEAD")


def files_of(project: Path) -> set[str]:
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def test_a_bake_carries_what_cruft_needs(bakes: BakeCache) -> None:
    project = bakes.project("defaults")
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(TEMPLATE_DIR)
    # The template tests bake the working tree: the commit recorded is the checkout's HEAD
    # (HEAD's history, should a commit land while the tests run).
    git(TEMPLATE_DIR, "merge-base", "--is-ancestor", state["commit"], "HEAD")
    assert set(SKIPPED) <= set(state["skip"])
    answers = state["context"]["cookiecutter"]
    assert answers["project_slug"] == project.name
    assert answers["_commit"] == state["commit"]
    assert not {"_output_dir", "_repo_dir"} & set(answers), "machine-specific paths recorded"
    readme = (project / "README.md").read_text()
    assert "cruft update" in readme


def test_an_older_bake_updates_to_the_current_template(tmp_path: Path) -> None:
    clone, older, current = template_repo(tmp_path)
    assert older != current

    # A team bakes at the older commit, commits, and edits its README.
    made = cruft(
        tmp_path,
        "create",
        str(clone),
        "--checkout",
        older,
        "--no-input",
        "--default-config",
        "--output-dir",
        str(tmp_path / "team"),
        *[arg for name in SKIPPED for arg in ("--skip", name)],
    )
    assert made.returncode == 0, made.stderr + made.stdout
    (project,) = (tmp_path / "team").iterdir()
    git(project, "init", "--quiet")
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Baked")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + f"\n{USER_NOTE}\n")
    own_module = project / "app" / "team_report.py"
    own_module.write_text('"""The team\'s own module."""\n')
    git(project, "add", "-A")
    git(project, "commit", "--quiet", "-m", "Our note and module")
    secrets_before = (project / ".env").read_text()

    assert cruft(project, "check").returncode == 1, "cruft check misses the newer template"
    updated = cruft(project, "update", "--skip-apply-ask")
    assert updated.returncode == 0, updated.stderr + updated.stdout
    git(project, "commit", "--quiet", "-am", "Template update")
    assert cruft(project, "check").returncode == 0, "still out of date after the update"
    assert json.loads((project / ".cruft.json").read_text())["commit"] == current

    config = tmp_path / "cookiecutter.yaml"
    config.write_text(f"replay_dir: {tmp_path / 'replay'}\n")
    with environ(PLUGKIT_UV=git_env()["PLUGKIT_UV"]):
        fresh = Path(
            cookiecutter(
                str(clone),
                no_input=True,
                output_dir=str(tmp_path / "fresh"),
                config_file=str(config),
            )
        )
    assert json.loads((fresh / ".cruft.json").read_text())["commit"] == current
    # Untouched files are now exactly those of a fresh bake of the current template.
    ours = {"README.md", "README.md.rej", "app/team_report.py"}
    compared = (files_of(fresh) | files_of(project)) - {*SKIPPED, *ours}
    _, mismatched, missing = filecmp.cmpfiles(fresh, project, sorted(compared), shallow=False)
    assert not mismatched, f"differ from a fresh bake after the update: {mismatched}"
    assert not missing, f"only in one of the fresh bake and the updated one: {missing}"
    # The edited file keeps the edit, merged or beside a conflict cruft left for the team.
    text = readme.read_text()
    assert USER_NOTE in text
    assert (
        "<<<<<<<" in text
        or (project / "README.md.rej").exists()
        or text.replace(f"\n{USER_NOTE}\n", "") == (fresh / "README.md").read_text()
    )
    assert own_module.read_text() == '"""The team\'s own module."""\n'
    # The bake's own secrets stay its own.
    assert (project / ".env").read_text() == secrets_before


def test_a_bake_from_a_repository_address_links_back_to_it(tmp_path: Path) -> None:
    """As `cookiecutter gh:<owner>/plugkit` does: the template is cloned, then baked."""
    clone, _, current = template_repo(tmp_path)
    config = tmp_path / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {tmp_path / 'cookiecutters'}\nreplay_dir: {tmp_path / 'replay'}\n"
    )
    address = clone.as_uri()  # cookiecutter's spelling of a git address: git+<address>
    with environ(PLUGKIT_UV=git_env()["PLUGKIT_UV"]):
        project = Path(
            cookiecutter(
                f"git+{address}",
                checkout=current,
                no_input=True,
                output_dir=str(tmp_path / "baked"),
                config_file=str(config),
            )
        )
    state = json.loads((project / ".cruft.json").read_text())
    assert (state["template"], state["commit"]) == (address, current)
    checked = cruft(project, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
