"""The system's chromium under Playwright, and what the page tests measure in it.

Never a downloaded browser: Debian's chromium (CHROMIUM_PATH for another system browser).
axe-core's script comes inside the axe-playwright-python package (no network at test time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, Playwright

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A phone and a desktop.
WIDTHS = (375, 1280)
HEIGHT = 800
# axe-core findings that fail a page (minor and moderate ones are reported, not failed).
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


def require_chromium() -> None:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: the page tests drive the system's chromium. Install "
            "Debian's chromium package (apt-get install chromium) and run the tests again.",
            pytrace=False,
        )


async def launch(playwright: Playwright) -> Browser:
    require_chromium()
    return await playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )


# Every control a person can point at or tab to (and whatever looks like one, such as a
# disabled provider line), with its box and, for buttons, whether its content fits in it.
_CONTROLS_JS = """
() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, .button, [data-provider]')]
  .filter((element) => element.offsetParent !== null)
  .map((element) => {
    const box = element.getBoundingClientRect();
    const label = (element.innerText || element.value || element.getAttribute('aria-label')
      || '').trim();
    return {
      label: element.tagName.toLowerCase() + ': ' + label,
      box: [box.left, box.top, box.right, box.bottom],
      isButton: element.matches('button, .button'),
      fits: element.scrollWidth <= element.clientWidth
        && element.scrollHeight <= element.clientHeight,
    };
  })
"""
_PAGE_WIDTH_JS = "() => [document.documentElement.scrollWidth, window.innerWidth]"


@dataclass(frozen=True)
class Control:
    label: str
    box: tuple[float, float, float, float]
    is_button: bool
    fits: bool

    def overlaps(self, other: Control, tolerance: float = 0.5) -> bool:
        left, top, right, bottom = self.box
        o_left, o_top, o_right, o_bottom = other.box
        return (
            min(right, o_right) - max(left, o_left) > tolerance
            and min(bottom, o_bottom) - max(top, o_top) > tolerance
        )


async def layout_problems(page: Page) -> list[str]:
    """What is wrong with how the page is laid out: overlapping controls, a page wider than
    the window, button text spilling out of its button."""
    problems = []
    scroll_width, window_width = await page.evaluate(_PAGE_WIDTH_JS)
    if scroll_width > window_width:
        problems.append(f"scrolls sideways: {scroll_width}px wide in a {window_width}px window")
    raw: list[dict[str, Any]] = await page.evaluate(_CONTROLS_JS)
    controls = [Control(c["label"], tuple(c["box"]), c["isButton"], c["fits"]) for c in raw]
    for index, control in enumerate(controls):
        if control.is_button and not control.fits:
            problems.append(f"text does not fit its button: {control.label!r}")
        for other in controls[index + 1 :]:
            if control.overlaps(other):
                problems.append(f"{control.label!r} overlaps {other.label!r}")
    return problems


@cache
def axe_script() -> str:
    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


async def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page (WCAG 2.x A and AA rules).

    Evaluated through the browser's devtools channel, which the page's CSP does not govern.
    """
    await page.evaluate(axe_script())
    results: dict[str, Any] = await page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(str(node["target"]) for node in violation["nodes"])
        for violation in results["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


async def check_page(page: Page) -> None:
    """The page lays out cleanly and has no serious accessibility finding."""
    problems = await layout_problems(page) + await accessibility_problems(page)
    width = page.viewport_size["width"] if page.viewport_size else "?"
    assert problems == [], f"{page.url} at {width}px:\n" + "\n".join(problems)
