"""The Korean documents follow the English ones: the same headings at the same levels, and per
section the same number of code blocks (with the same code) and of table rows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.bakes import BAKES, TEMPLATE_DIR, BakeCache

PAIRS = {
    "template README": (TEMPLATE_DIR / "README.md", TEMPLATE_DIR / "README.ko.md"),
    "docs tour": (TEMPLATE_DIR / "docs" / "index.md", TEMPLATE_DIR / "docs" / "ko" / "index.md"),
}
BAKED_README = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "README.md"
HEADING = re.compile(r"^(#{1,6}) ")
FENCE = re.compile(r"^\s*```")
JINJA_STATEMENT = re.compile(r"{%-?\s*(.*?)\s*-?%}", re.DOTALL)
HANGUL = re.compile(r"[\uac00-\ud7a3]")


@dataclass
class Section:
    level: int  # 0: the text before the first heading
    code_blocks: list[str] = field(default_factory=list)
    table_rows: int = 0


def sections(text: str) -> list[Section]:
    found = [Section(level=0)]
    block: list[str] | None = None
    for line in text.splitlines():
        if FENCE.match(line):
            if block is None:
                block = [line.strip()]
            else:
                found[-1].code_blocks.append("\n".join([*block, line.strip()]))
                block = None
        elif block is not None:
            block.append(line)
        elif heading := HEADING.match(line):
            found.append(Section(level=len(heading.group(1))))
        elif line.lstrip().startswith("|"):
            found[-1].table_rows += 1
    assert block is None, "a code block is not closed"
    return found


def differences(english: str, korean: str) -> list[str]:
    """Where the Korean text's structure departs from the English one's, section by section."""
    ours, theirs = sections(english), sections(korean)
    levels = ([s.level for s in ours], [s.level for s in theirs])
    if levels[0] != levels[1]:
        return [f"heading levels: English {levels[0]}, Korean {levels[1]}"]
    found = []
    for number, (en, ko) in enumerate(zip(ours, theirs, strict=True)):
        if en.table_rows != ko.table_rows:
            found.append(f"section {number}: {en.table_rows} table rows, Korean {ko.table_rows}")
        if en.code_blocks != ko.code_blocks:
            found.append(f"section {number}: the code blocks differ from the English ones")
    return found


def check_pair(english: Path, korean: Path) -> None:
    assert korean.is_file(), f"{korean} is missing"
    text = korean.read_text()
    assert len(HANGUL.findall(text)) > 200, f"{korean.name} is hardly Korean"
    if english.name == "README.md":  # each README links to the other language's
        assert "(README.ko.md)" in english.read_text(), f"{english} has no link to Korean"
        assert "(README.md)" in text, f"{korean} has no link to English"
    found = differences(english.read_text(), text)
    assert not found, f"{korean} is out of step with {english.name}:\n" + "\n".join(found)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_korean_document_follows_the_english(name: str) -> None:
    check_pair(*PAIRS[name])


def test_baked_korean_readme_has_the_same_conditionals() -> None:
    """Sections come and go with the answers in both languages alike."""
    korean = BAKED_README.with_name("README.ko.md")
    statements = [JINJA_STATEMENT.findall(path.read_text()) for path in (BAKED_README, korean)]
    assert statements[0] == statements[1]


@pytest.mark.parametrize("bake_id", [bake.id for bake in BAKES])
def test_each_bake_has_a_korean_readme_in_step(bakes: BakeCache, bake_id: str) -> None:
    project = bakes.project(bake_id)
    check_pair(project / "README.md", project / "README.ko.md")


def test_the_structure_check_catches_drift() -> None:
    english = "# A\n\n| a |\n|---|\n\n## B\n\n```bash\nmake dev\n```\n"
    assert not differences(english, english.replace("# A", "# 가"))
    assert differences(english, english.replace("## B", "### B"))
    assert differences(english, english.replace("make dev", "make 개발"))
    assert differences(english, english.replace("|---|\n", ""))
    assert differences(english + "\n## C\n", english)
