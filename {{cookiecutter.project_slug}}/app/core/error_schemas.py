"""The error body every error response has (CONTRACT.md, "Errors"), for the API docs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict


class ErrorBody(BaseModel):
    # Only the API docs use this model, and every route documents it for several statuses:
    # its validators are built when the docs are, not once per route of every app.
    model_config = ConfigDict(defer_build=True)

    code: str
    message: str
    detail: Any = None
    request_id: str | None


# Answers any operation may give before its own code runs, documented on every route.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "The body cannot be read: BODY_INVALID, BODY_NOT_UTF8, JSON_TOO_DEEP",
    },
    413: {
        "model": ErrorBody,
        "description": "The body is over MAX_REQUEST_BODY_BYTES (REQUEST_TOO_LARGE)",
    },
    422: {"model": ErrorBody, "description": "The request is not valid (VALIDATION_ERROR)"},
}

# The largest id a row can have: ids are INTEGER columns, 32-bit signed on MySQL and
# PostgreSQL. A larger one in a path can name nothing, and the driver would refuse it.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The row's id")]
