"""Per-request values that logs and error responses need, without passing them around."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestState:
    # Mutable on purpose: code running in a copied context (a task group, a thread) can
    # still name the user for the access log that the middleware writes at the end.
    request_id: str
    user_id: str | None = None
    user_email: str | None = None


request_state_var: ContextVar[RequestState | None] = ContextVar("request_state", default=None)


def current_request_id() -> str | None:
    state = request_state_var.get()
    return state.request_id if state else None


def set_current_user(user_id: object, email: str | None) -> None:
    """Called once a request is authenticated, so the access log can name the user."""
    state = request_state_var.get()
    if state is not None:
        state.user_id = str(user_id)
        state.user_email = email
