"""Every fixture of the tests is in `tests/fixtures.py` (shared with the plugins' own tests)
and `tests/fakes/fixtures.py` (the provider-neutral OAuth servers)."""

pytest_plugins = ["tests.fixtures", "tests.fakes.fixtures"]
