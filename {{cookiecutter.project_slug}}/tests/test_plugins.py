"""Finding, loading and asking plugins: built-in folders and installed packages' entry points."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from app.core.config import Settings
from app.core.interfaces import (
    DeliveryResult,
    LinkedAccounts,
    Notifier,
    OutgoingMessage,
    PluginPorts,
)
from app.core.plugins import (
    ENTRY_POINT_GROUP,
    PluginLoadError,
    PluginRegistry,
    builtin_plugin_names,
    create_plugin_manager,
)
from app.main import create_app
from tests.support import PRODUCTION, ServeApp, SettingsFactory

PAGER_PLUGIN = """
from fastapi import APIRouter

from app.core.hookspecs import hookimpl
from app.core.interfaces import DeliveryResult, OutgoingMessage, PluginPorts


class PagerNotifier:
    name = "pager"
    channel = "email"
    is_stand_in = False
    is_configured = __CONFIGURED__

    def __init__(self) -> None:
        self.events = []
        self.ports = None

    async def start(self, ports: PluginPorts) -> None:
        self.ports = ports
        self.events.append("started")

    async def close(self) -> None:
        self.events.append("closed")

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        return DeliveryResult.delivered("pager-1")


@hookimpl
def register_notifiers(settings):
    return [PagerNotifier()]


@hookimpl
def register_routers(settings):
    router = APIRouter(prefix="/pager")

    @router.get("/status")
    async def status() -> dict[str, str]:
        return dict(pager="up")

    return [router]
"""


class PluginFolder:
    """A folder on sys.path holding plugin modules and, if asked, a distribution's metadata."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def module(self, name: str, source: str) -> str:
        (self.root / f"{name}.py").write_text(textwrap.dedent(source))
        self.modules.append(name)
        importlib.invalidate_caches()
        return name

    def pager(self, name: str = "pager_plugin", *, configured: bool = True) -> str:
        return self.module(name, PAGER_PLUGIN.replace("__CONFIGURED__", str(configured)))

    def entry_point(self, name: str, module: str) -> importlib.metadata.EntryPoint:
        return importlib.metadata.EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP)

    def install(self, distribution: str, entry_points: dict[str, str]) -> None:
        """Write what `pip install` would leave behind: a dist-info folder with entry points."""
        dist_info = self.root / f"{distribution}-1.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n"
        )
        lines = [f"[{ENTRY_POINT_GROUP}]"] + [f"{k} = {v}" for k, v in entry_points.items()]
        (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        importlib.invalidate_caches()


@pytest.fixture
def plugin_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginFolder]:
    monkeypatch.syspath_prepend(str(tmp_path))
    folder = PluginFolder(tmp_path)
    yield folder
    for name in folder.modules:
        sys.modules.pop(name, None)


# Other built-in plugins come and go with the project's answers; these tests need only console.
ONLY_CONSOLE = ["console"]


def load_with_console(settings: Settings, *extra: importlib.metadata.EntryPoint) -> None:
    create_plugin_manager(settings, builtin_names=ONLY_CONSOLE, entry_points=extra)


def email_notifier(settings: Settings, *extra: importlib.metadata.EntryPoint) -> Notifier | None:
    manager = create_plugin_manager(settings, builtin_names=ONLY_CONSOLE, entry_points=extra)
    return PluginRegistry.collect(manager, settings).notifier_for("email")


def test_builtin_console_plugin_is_found_and_registered(settings: Settings) -> None:
    assert "console" in builtin_plugin_names()
    manager = create_plugin_manager(settings, entry_points=[])
    registry = PluginRegistry.collect(manager, settings)
    assert "console" in registry.plugin_names
    [console] = [n for n in registry.notifiers["email"] if n.name == "console"]
    assert console.is_stand_in and console.is_configured


def test_entry_point_plugin_is_loaded(settings: Settings, plugin_folder: PluginFolder) -> None:
    pager = plugin_folder.entry_point("pager", plugin_folder.pager())
    manager = create_plugin_manager(settings, builtin_names=ONLY_CONSOLE, entry_points=[pager])
    registry = PluginRegistry.collect(manager, settings)
    assert registry.plugin_names == ["console", "pager"]
    assert sorted(n.name for n in registry.notifiers["email"]) == ["console", "pager"]
    assert [router.prefix for router in registry.routers] == ["/pager"]


def test_installed_package_is_found_through_its_entry_points(
    settings: Settings, plugin_folder: PluginFolder
) -> None:
    module = plugin_folder.pager("pager_from_dist")
    plugin_folder.install("pager_notifier", {"pager": module})
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    assert ("pager", module) in [(ep.name, ep.value) for ep in found]

    registry = PluginRegistry.collect(create_plugin_manager(settings), settings)
    assert "pager" in registry.plugin_names


def test_a_plugin_that_fails_to_import_is_named_with_the_cause(
    settings: Settings, plugin_folder: PluginFolder
) -> None:
    module = plugin_folder.module("pager_broken", "import pager_sdk_not_installed\n")
    with pytest.raises(PluginLoadError) as caught:
        load_with_console(settings, plugin_folder.entry_point("pager", module))
    message = str(caught.value)
    assert "'pager'" in message
    assert "No module named 'pager_sdk_not_installed'" in message


def test_an_entry_point_to_a_missing_module_is_named(
    settings: Settings, plugin_folder: PluginFolder
) -> None:
    entry_point = plugin_folder.entry_point("pager", "pager_module_that_is_gone")
    with pytest.raises(PluginLoadError, match=r"'pager'.*pager_module_that_is_gone"):
        load_with_console(settings, entry_point)


def test_a_broken_builtin_plugin_is_named(settings: Settings) -> None:
    with pytest.raises(PluginLoadError, match=r"'no_such_builtin'.*ModuleNotFoundError"):
        create_plugin_manager(settings, builtin_names=["no_such_builtin"], entry_points=[])


def test_a_misspelled_hook_is_named_with_the_plugin(
    settings: Settings, plugin_folder: PluginFolder
) -> None:
    module = plugin_folder.module(
        "pager_typo",
        """
        from app.core.hookspecs import hookimpl

        @hookimpl
        def register_notifer(settings):
            return []
        """,
    )
    with pytest.raises(PluginLoadError) as caught:
        load_with_console(settings, plugin_folder.entry_point("pager", module))
    message = str(caught.value)
    assert "'pager'" in message
    assert "register_notifer" in message


def test_a_hook_with_arguments_the_spec_lacks_is_named(
    settings: Settings, plugin_folder: PluginFolder
) -> None:
    module = plugin_folder.module(
        "pager_bad_args",
        """
        from app.core.hookspecs import hookimpl

        @hookimpl
        def register_notifiers(config):
            return []
        """,
    )
    with pytest.raises(PluginLoadError) as caught:
        load_with_console(settings, plugin_folder.entry_point("pager", module))
    message = str(caught.value)
    assert "'pager'" in message
    assert "config" in message


def test_disabled_plugins_stay_unloaded(
    make_settings: SettingsFactory, plugin_folder: PluginFolder
) -> None:
    settings = make_settings(disabled_plugins=["console", "pager"])
    pager = plugin_folder.entry_point("pager", plugin_folder.pager())
    manager = create_plugin_manager(settings, builtin_names=ONLY_CONSOLE, entry_points=[pager])
    registry = PluginRegistry.collect(manager, settings)
    assert "console" not in registry.plugin_names
    assert "pager" not in registry.plugin_names
    assert registry.notifier_for("email") is None
    assert registry.routers == []


def test_a_configured_real_notifier_wins_over_the_stand_in(
    settings: Settings, plugin_folder: PluginFolder
) -> None:
    pager = plugin_folder.entry_point("pager", plugin_folder.pager(configured=True))
    notifier = email_notifier(settings, pager)
    assert notifier is not None and notifier.name == "pager"


def test_the_stand_in_delivers_while_the_real_notifier_is_not_configured(
    settings: Settings, plugin_folder: PluginFolder
) -> None:
    pager = plugin_folder.entry_point("pager", plugin_folder.pager(configured=False))
    notifier = email_notifier(settings, pager)
    assert notifier is not None and notifier.name == "console"


def test_with_nothing_configured_the_real_notifier_is_asked_so_it_can_say_why(
    make_settings: SettingsFactory,
    plugin_folder: PluginFolder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSOLE_ENABLED_IN_PRODUCTION", "false")
    production = make_settings(**PRODUCTION)
    pager = plugin_folder.entry_point("pager", plugin_folder.pager(configured=False))
    notifier = email_notifier(production, pager)
    assert notifier is not None and notifier.name == "pager"


async def test_a_notifier_is_started_with_the_ports_and_closed_and_its_router_is_mounted(
    make_settings: SettingsFactory, plugin_folder: PluginFolder, serve_lean: ServeApp
) -> None:
    plugin_folder.install("pager_notifier", {"pager": plugin_folder.pager("pager_lifecycle")})
    application = create_app(make_settings())
    registry: PluginRegistry = application.state.runtime.plugins
    assert "pager" in registry.plugin_names
    [pager] = [notifier for notifier in registry.notifiers["email"] if notifier.name == "pager"]
    events: list[str] = getattr(pager, "events")  # noqa: B009 - the plugin's own attribute

    async with serve_lean(application) as client:
        assert events == ["started"]
        assert isinstance(getattr(pager, "ports").linked_accounts, LinkedAccounts)  # noqa: B009
        response = await client.get("/pager/status")
        assert response.status_code == 200
        assert response.json() == {"pager": "up"}
    assert events == ["started", "closed"]


class Plain:
    """A notifier without start() or close(): the registry leaves it alone."""

    channel = "email"
    is_stand_in = False

    def __init__(self, name: str, log: list[str], *, configured: bool = True) -> None:
        self.name, self.log, self.is_configured = name, log, configured

    def check_recipient(self, address: str) -> str | None:
        return None

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        return DeliveryResult.delivered()


class Recorder(Plain):
    """A notifier with a lifecycle, noting what was called; "broken" fails to close."""

    async def start(self, ports: PluginPorts) -> None:
        self.log.append(f"start {self.name}")

    async def close(self) -> None:
        self.log.append(f"close {self.name}")
        if self.name == "broken":
            raise RuntimeError("the client would not close")


async def test_the_registry_starts_configured_notifiers_and_closes_them_all(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[str] = []
    registry = PluginRegistry.collect(create_plugin_manager(settings, entry_points=[]), settings)
    registry.notifiers = {
        "email": [
            Recorder("first", log),
            Recorder("idle", log, configured=False),
            Recorder("broken", log),
            Plain("plain", log),
            Recorder("last", log),
        ]
    }
    ports = PluginPorts(linked_accounts=cast(LinkedAccounts, object()))

    await registry.start(ports)
    assert log == ["start first", "start broken", "start last"]

    log.clear()
    with caplog.at_level(logging.ERROR):
        await registry.close()
    # The broken one's failure is logged, and the one after it is still closed.
    assert log == ["close first", "close idle", "close broken", "close last"]
    assert "'broken' failed to close" in caplog.text
    assert "the client would not close" in caplog.text
