"""Fixtures for the tests that travel inside each plugin's folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from app.core.config import Settings
from tests.conftest import SettingsFactory, build_test_settings


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Test settings on TEST_DATABASE_URL's lane (SQLite in a temp folder when unset)."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_path / 'plugin.db'}"

    def build(**overrides: Any) -> Settings:
        return build_test_settings(url, **overrides)

    return build
