"""The plugins' own tests stand on the same fixtures as the service's (`tests/fixtures.py`):
settings on TEST_DATABASE_URL's lane (SQLite in a temp folder when unset), the module's app,
an HTTP client."""

pytest_plugins = ["tests.fixtures"]
