"""Finding and loading plugins, and asking them what they add.

Built-in plugins are the folders of `app/plugins/` that hold a `plugin.py`; installed
packages add plugins through the entry point group `<slug>.plugins`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import pluggy
from fastapi import APIRouter

from app import PROJECT_SLUG
from app.core import hookspecs
from app.core.config import Settings
from app.core.interfaces import Closable, Notifier, OAuthProvider, PluginPorts, Startable
from app.core.logging import get_plugins_logger

ENTRY_POINT_GROUP = f"{PROJECT_SLUG}.plugins"
BUILTIN_PLUGINS_PACKAGE = "app.plugins"
BUILTIN_PLUGINS_DIR = Path(__file__).resolve().parents[1] / "plugins"

logger = get_plugins_logger()


class PluginLoadError(RuntimeError):
    """A plugin could not be imported or does not fit the hookspecs."""


def builtin_plugin_names(directory: Path = BUILTIN_PLUGINS_DIR) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if (path / "plugin.py").is_file())


def _import_builtin(name: str) -> ModuleType:
    module_name = f"{BUILTIN_PLUGINS_PACKAGE}.{name}.plugin"
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise PluginLoadError(
            f"built-in plugin {name!r} failed to load ({module_name}): {type(exc).__name__}: {exc}"
        ) from exc


def _load_entry_point(entry_point: importlib.metadata.EntryPoint) -> object:
    try:
        return entry_point.load()
    except Exception as exc:
        raise PluginLoadError(
            f"installed plugin {entry_point.name!r} failed to load ({entry_point.value}, "
            f"entry point group {ENTRY_POINT_GROUP!r}): {type(exc).__name__}: {exc}"
        ) from exc


@lru_cache(maxsize=4)
def installed_entry_points(
    search_path: tuple[str, ...],
) -> tuple[importlib.metadata.EntryPoint, ...]:
    """The plugins installed packages declare, looked up once per import path.

    Finding them reads the metadata of every installed distribution (~10 ms); each app and
    each worker process asks again, and what is installed does not change under a running
    process. A changed `sys.path` (a package added to it) is looked up afresh.
    """
    del search_path  # only the cache key: importlib.metadata reads sys.path itself
    return tuple(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def create_plugin_manager(
    settings: Settings,
    *,
    builtin_names: Iterable[str] | None = None,
    entry_points: Iterable[importlib.metadata.EntryPoint] | None = None,
) -> pluggy.PluginManager:
    """Register every plugin not disabled in settings; raise `PluginLoadError` on a broken one."""
    manager = pluggy.PluginManager(PROJECT_SLUG)
    manager.add_hookspecs(hookspecs)
    disabled = set(settings.disabled_plugins)

    for name in builtin_plugin_names() if builtin_names is None else builtin_names:
        if name not in disabled:
            _register(manager, _import_builtin(name), name)

    if entry_points is None:
        entry_points = installed_entry_points(tuple(sys.path))
    for entry_point in entry_points:
        if entry_point.name not in disabled and manager.get_plugin(entry_point.name) is None:
            _register(manager, _load_entry_point(entry_point), entry_point.name)

    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        name = manager.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginLoadError(f"plugin {name!r} implements an unknown hook: {exc}") from exc
    return manager


def _register(manager: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        manager.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginLoadError(f"plugin {name!r} could not be registered: {exc}") from exc


T = TypeVar("T")


def _flatten(results: list[Iterable[T]]) -> list[T]:
    return [item for result in results for item in result]


@dataclass
class PluginRegistry:
    """What the loaded plugins add, asked for once at startup."""

    manager: pluggy.PluginManager
    oauth_providers: dict[str, OAuthProvider] = field(default_factory=dict)
    notifiers: dict[str, list[Notifier]] = field(default_factory=dict)
    routers: list[APIRouter] = field(default_factory=list)

    @classmethod
    def collect(cls, manager: pluggy.PluginManager, settings: Settings) -> PluginRegistry:
        hook = manager.hook
        registry = cls(manager=manager)
        for provider in _flatten(hook.register_oauth_providers(settings=settings)):
            if provider.name in registry.oauth_providers:
                raise PluginLoadError(f"two plugins add an OAuth provider named {provider.name!r}")
            registry.oauth_providers[provider.name] = provider
        for notifier in _flatten(hook.register_notifiers(settings=settings)):
            registry.notifiers.setdefault(notifier.channel, []).append(notifier)
        registry.routers = _flatten(hook.register_routers(settings=settings))
        return registry

    @property
    def plugin_names(self) -> list[str]:
        return sorted(name for name, _ in self.manager.list_name_plugin() if name)

    @property
    def channels(self) -> list[str]:
        return sorted(self.notifiers)

    def notifier_for(self, channel: str) -> Notifier | None:
        """The notifier that delivers a channel: a configured real one before a stand-in.

        When none is configured the first is returned anyway, so that delivery fails with
        that notifier's own "not configured" reason instead of silently going nowhere.
        """
        candidates = self.notifiers.get(channel, [])
        ranked = sorted(candidates, key=lambda n: (not n.is_configured, n.is_stand_in))
        return ranked[0] if ranked else None

    def _items(self) -> list[OAuthProvider | Notifier]:
        items: list[OAuthProvider | Notifier] = [*self.oauth_providers.values()]
        return items + _flatten(list(self.notifiers.values()))

    def log_unconfigured(self) -> None:
        for item in self._items():
            if not item.is_configured:
                logger.warning(
                    "plugin %r is loaded but not configured: set its settings", item.name
                )

    async def start(self, ports: PluginPorts) -> None:
        """Start every configured notifier and provider that has a `start(ports)`."""
        for item in self._items():
            if item.is_configured and isinstance(item, Startable):
                await item.start(ports)

    async def close(self) -> None:
        """Close every notifier and provider that has a `close()`; one that fails is logged
        and the others are still closed."""
        for item in self._items():
            if not isinstance(item, Closable):
                continue
            try:
                await item.close()
            except Exception:
                logger.exception("plugin %r failed to close", item.name)
