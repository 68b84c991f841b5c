"""The "<slug>.api" and "<slug>.db" loggers: plain text in development, JSON lines in production."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from app import PROJECT_SLUG
from app.core.context import current_request_id

API_LOGGER = f"{PROJECT_SLUG}.api"
DB_LOGGER = f"{PROJECT_SLUG}.db"
PLUGINS_LOGGER = f"{PROJECT_SLUG}.plugins"

# LogRecord's own attributes; everything else on a record came from `extra=`.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


def get_api_logger() -> logging.Logger:
    return logging.getLogger(API_LOGGER)


def get_db_logger() -> logging.Logger:
    return logging.getLogger(DB_LOGGER)


def get_plugins_logger() -> logging.Logger:
    return logging.getLogger(PLUGINS_LOGGER)


def mask_email(email: str | None) -> str | None:
    """`jane.doe@example.com` → `j***@example.com`: enough to follow a user, not to harvest."""
    if not email:
        return email
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(
            {key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS}
        )
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"


def configure_logging(level: str = "INFO", *, as_json: bool = False) -> None:
    """Give the service's loggers one handler on stderr; safe to call more than once."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger(PROJECT_SLUG)
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
