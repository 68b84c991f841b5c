"""The documentation: the settings page is current, the site builds, links between pages hold."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.bakes import BakeCache

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
# [text](target) outside code; a target with a scheme or starting with # is not a page link.
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")


def test_settings_page_matches_the_settings_classes() -> None:
    result = subprocess.run(  # noqa: S603 - this interpreter with the repo's own script
        [sys.executable, str(DOCS / "gen_settings.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(  # noqa: S603 - mkdocs from this environment, fixed arguments
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "settings" / "index.html").is_file()


def heading_anchors(page: Path) -> set[str]:
    anchors = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            title = re.sub(r"[^\w\s-]", "", title)
            anchors.add(re.sub(r"[\s]+", "-", title))
    return anchors


def test_relative_links_between_pages_resolve() -> None:
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "no documentation pages found"
    broken = []
    for page in pages:
        text = INLINE_CODE.sub("", FENCE.sub("", page.read_text()))
        for target in MARKDOWN_LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve()
            if not linked.is_file():
                broken.append(f"{page.name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_links_into_the_docs() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    targets = [t for t in MARKDOWN_LINK.findall(readme) if t.startswith("docs/")]
    assert targets, "the README links to no documentation page"
    missing = [t for t in targets if not (REPO_ROOT / t.partition("#")[0]).is_file()]
    assert not missing, f"README links to missing pages: {missing}"


def test_api_docs_point_at_documents_the_bake_has(bakes: BakeCache) -> None:
    """/docs names the README section on request signing, not a file the bake lacks."""
    project = bakes.project("defaults")
    result = subprocess.run(  # noqa: S603 - this interpreter, the bake's own app
        [sys.executable, "-c", OPENAPI_DUMP],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    named_files = set(re.findall(r"[\w./-]+\.md\b", described))
    assert all((project / name).is_file() for name in named_files), named_files
    sections = re.findall(r"README says in its section '([^']+)'", described)
    assert sections, "the signed API's 401 names no README section on signing"
    headings = {
        line.lstrip("#").strip() for line in (project / "README.md").read_text().splitlines()
    }
    assert set(sections) <= headings, f"no such README section: {set(sections) - headings}"


# Every description text of the bake's OpenAPI document, joined (no server, no database).
OPENAPI_DUMP = """
import json
from app.main import create_app

def texts(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                yield value
            else:
                yield from texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from texts(item)

print(json.dumps("\\n".join(texts(create_app().openapi()))))
"""
