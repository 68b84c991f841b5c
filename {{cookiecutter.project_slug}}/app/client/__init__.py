"""Client side of the signed API: `SignedAuth` for httpx."""

from app.client.signing import SignedAuth

__all__ = ["SignedAuth"]
