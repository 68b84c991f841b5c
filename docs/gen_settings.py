"""Write docs/settings.md: every setting of the core and of each plugin, from the code.

    python docs/gen_settings.py           # rewrite docs/settings.md
    python docs/gen_settings.py --check   # exit 1 when docs/settings.md is out of date

The template is baked with every plugin on into a temporary folder; a subprocess with
that bake on sys.path imports `app.core.config.Settings` and each
`app/plugins/*/settings.py` `PluginSettings` subclass and reports their fields (env name,
type, default). Meanings come from the comments above each variable in the bake's
`.env.example`, the file users copy: a field it does not explain fails the run, so the
page can never list a setting without saying what it does.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SETTINGS_PAGE = REPO_ROOT / "docs" / "settings.md"
PLUGINS = ("google", "kakao", "ses", "smtp", "kakaotalk")
ALL_PLUGINS_ON = {f"use_{name}": "y" for name in PLUGINS}

# Runs inside the bake: prints one JSON document describing every settings class.
INTROSPECT = r"""
import enum, importlib, json, sys, types, typing
from pathlib import Path

from pydantic import AliasChoices, SecretStr
from pydantic_core import PydanticUndefined

from app.core.config import PROJECT_DIR, PluginSettings, Settings


def type_name(annotation):
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not typing.Annotated]
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is list:
        return "list[" + ", ".join(type_name(a) for a in args) + "]"
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " | ".join(repr(member.value) for member in annotation).replace("'", '"')
    return getattr(annotation, "__name__", str(annotation))


def shown_default(field):
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return None
    else:
        value = field.default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, list):
        value = ",".join(str(item) for item in value)
    if isinstance(value, bool):
        value = "true" if value else "false"
    if value is None:
        return None
    # The bake's temporary path means "wherever the project lives".
    return str(value).replace(str(PROJECT_DIR), "<project folder>")


def env_names(prefix, name, field):
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [(prefix + name).upper()]


def describe(cls, title, module):
    prefix = cls.model_config.get("env_prefix", "")
    fields = [
        {
            "env": env_names(prefix, name, field),
            "type": type_name(field.annotation),
            "default": shown_default(field),
        }
        for name, field in cls.model_fields.items()
    ]
    return {"title": title, "class": cls.__name__, "module": module, "fields": fields}


groups = [describe(Settings, "core", "app.core.config")]
for path in sorted(Path("app/plugins").glob("*/settings.py")):
    module_name = f"app.plugins.{path.parent.name}.settings"
    module = importlib.import_module(module_name)
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, PluginSettings)
            and value is not PluginSettings
            and value.__module__ == module_name
        ):
            groups.append(describe(value, path.parent.name, module_name))
json.dump(groups, sys.stdout)
"""

VARIABLE_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=")
SECTION_LINE = re.compile(r"^#\s*---")


def bake(output_dir: Path) -> Path:
    from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

    # Hooks skipped: with every plugin on they would prune nothing, and the settings do not
    # depend on the `.env` or lock file they write.
    project = cookiecutter(
        str(REPO_ROOT),
        no_input=True,
        extra_context=ALL_PLUGINS_ON,
        output_dir=str(output_dir),
        accept_hooks=False,
    )
    return Path(project)


def introspect(project: Path) -> list[dict[str, Any]]:
    result = subprocess.run(  # noqa: S603 - this interpreter with a fixed script
        [sys.executable, "-c", INTROSPECT],
        cwd=project,
        env={"PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise SystemExit(f"reading the settings classes failed:\n{result.stderr}")
    groups: list[dict[str, Any]] = json.loads(result.stdout)
    return groups


def env_example_comments(env_example: str) -> tuple[dict[str, str], dict[str, str]]:
    """Read `.env.example`: `NAME` → the comment block above it, and section notes.

    A comment block above several variable lines explains them all. In a block that opens
    a `# --- section ---`, the lines before the last are about the whole section (where to
    register redirect URIs, say): they are returned as a note keyed by the section's first
    variable, and the last line alone explains that variable.
    """
    meanings: dict[str, str] = {}
    notes: dict[str, str] = {}
    block: list[str] = []
    opens_section = False
    last_was_variable = False
    for raw in env_example.splitlines():
        line = raw.strip()
        if not line or SECTION_LINE.match(line):
            block, last_was_variable = [], False
            opens_section = bool(line)
        elif line.startswith("#"):
            if last_was_variable:
                block, opens_section = [], False
            block.append(line.lstrip("#").strip())
            last_was_variable = False
        elif match := VARIABLE_LINE.match(line):
            name = match.group(1)
            if opens_section and len(block) > 1 and not last_was_variable:
                notes[name] = " ".join(block[:-1])
                meanings[name] = block[-1]
            else:
                meanings[name] = " ".join(block)
            last_was_variable = True
    return meanings, notes


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def prose(text: str) -> str:
    # `<id>` or `<no-reply@example.com>` in a comment would be read as HTML or a link.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    # A backtick inside inline code would end it early: fall back to a double-backtick span.
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def render(groups: list[dict[str, Any]], meanings: dict[str, str], notes: dict[str, str]) -> str:
    lines = [
        "# Settings",
        "",
        "<!-- Generated by docs/gen_settings.py from the settings classes and .env.example;"
        " do not edit by hand. -->",
        "",
        "Every setting is read from the environment or from the project's `.env` file (an",
        "environment variable wins). An empty value counts as unset, so the default applies.",
        "The defaults shown are those of a service generated with the default answers",
        "(project slug `my_service`). A plugin's settings exist only when the plugin was",
        "picked; each plugin reads its own variables, with its own prefix.",
        "",
    ]
    missing: list[str] = []
    for group in groups:
        heading = "Core" if group["title"] == "core" else f"Plugin `{group['title']}`"
        lines += [
            f"## {heading}",
            "",
            f"`{group['module']}.{group['class']}`",
            "",
            *[
                line
                for field in group["fields"]
                if field["env"][0] in notes
                for line in (prose(notes[field["env"][0]]), "")
            ],
            "| variable | type | default | meaning |",
            "|---|---|---|---|",
        ]
        for field in group["fields"]:
            names: list[str] = field["env"]
            meaning = next((meanings[name] for name in names if meanings.get(name)), None)
            if meaning is None:
                missing.append(names[0])
                meaning = ""
            shown_names = code(names[0]) + "".join(f" (or {code(n)})" for n in names[1:])
            default = field["default"]
            shown_default = "unset" if default is None else (code(default) if default else "empty")
            lines.append(
                f"| {shown_names} | {cell(code(field['type']))} | {cell(shown_default)} "
                f"| {cell(prose(meaning))} |"
            )
        lines.append("")
    if missing:
        raise SystemExit(
            "no comment in .env.example explains: "
            + ", ".join(missing)
            + " (add one above each variable)"
        )
    return "\n".join(lines)


def generate() -> str:
    with tempfile.TemporaryDirectory(prefix="plugkit-settings-") as temp:
        project = bake(Path(temp))
        groups = introspect(project)
        meanings, notes = env_example_comments((project / ".env.example").read_text())
    return render(groups, meanings, notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if docs/settings.md is out of date"
    )
    args = parser.parse_args(argv)
    page = generate()
    if args.check:
        current = SETTINGS_PAGE.read_text() if SETTINGS_PAGE.exists() else ""
        if current != page:
            print(
                f"{SETTINGS_PAGE.relative_to(REPO_ROOT)} is out of date: "
                "run `python docs/gen_settings.py`",
                file=sys.stderr,
            )
            return 1
        print(f"{SETTINGS_PAGE.relative_to(REPO_ROOT)} is up to date")
        return 0
    SETTINGS_PAGE.write_text(page)
    print(f"wrote {SETTINGS_PAGE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
