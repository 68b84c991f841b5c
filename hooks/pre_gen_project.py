"""Refuse answers that would bake a broken service, each with one clear sentence."""

import json
import keyword
import re
import sys

# Rendered by the generator before the hook runs; the raw string keeps JSON escapes intact.
ANSWERS: dict[str, str] = json.loads(r"""{{ cookiecutter | tojson }}""")
YES_NO = ("y", "n")


def problems(answers: dict[str, str]) -> list[str]:
    found = []
    slug = answers["project_slug"]
    if not slug.isidentifier() or keyword.iskeyword(slug) or not slug.islower():
        found.append(
            f"project_slug {slug!r} must be a lower-case Python identifier "
            "(letters, digits and underscores, not starting with a digit), e.g. 'my_service'."
        )
    if slug in {"app", "tests", "test", "migrations"}:
        found.append(f"project_slug {slug!r} clashes with a folder of the project; pick another.")
    if re.search(r'["\\\n]', answers["project_name"]):
        found.append("project_name must not contain quotes, backslashes or line breaks.")
    if not re.fullmatch(r"[^@\s]+@[^@\s]+", answers["author_email"]):
        found.append(f"author_email {answers['author_email']!r} is not an email address.")
    for name, value in answers.items():
        if name.startswith("use_") and value not in YES_NO:
            found.append(f"{name} must be 'y' or 'n', not {value!r}.")
    if answers["use_kakaotalk"] == "y" and answers["use_kakao"] != "y":
        found.append(
            "use_kakaotalk needs use_kakao: KakaoTalk messages are sent with the recipient's "
            "Kakao sign-in token, so answer use_kakao=y or use_kakaotalk=n."
        )
    return found


if __name__ == "__main__":
    errors = problems(ANSWERS)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)
