"""Outbound HTTP for plugins: clients that share one TLS setup per process."""

from __future__ import annotations

import ssl
from functools import lru_cache

import httpx


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """Certificate checks as httpx does them by default, set up once.

    Loading the CA bundle takes tens of milliseconds: paid once per process, not once per
    client (the OAuth clients open one per sign-in step).
    """
    return httpx.create_ssl_context()


def outbound_client(timeout: float) -> httpx.AsyncClient:
    """An HTTP client for calls to a provider's API."""
    return httpx.AsyncClient(timeout=timeout, verify=tls_context())
