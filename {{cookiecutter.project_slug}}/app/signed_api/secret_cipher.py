"""Encryption at rest for API secret keys.

The service must read a secret back to check an HMAC, so it cannot store a hash. Secrets
are Fernet tokens (AES-128-CBC + HMAC-SHA256) under keys derived from
API_KEY_ENCRYPTION_KEY: any long random text works there, the KDF turns it into the
32 bytes Fernet needs. Several comma-separated keys allow rotation: the first encrypts,
every one decrypts.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.config import Settings

# Binds derived keys to this one use, so the same setting value keys nothing else.
KDF_INFO = b"api-key-secret-encryption"
FERNET_KEY_BYTES = 32


class SecretUnreadableError(RuntimeError):
    """A stored secret does not decrypt with any configured key (the key was changed)."""


def derive_fernet_key(material: str) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=FERNET_KEY_BYTES, salt=None, info=KDF_INFO)
    return base64.urlsafe_b64encode(kdf.derive(material.encode()))


class SecretCipher:
    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(derive_fernet_key(key)) for key in keys])

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretUnreadableError(
                "an API secret key does not decrypt with API_KEY_ENCRYPTION_KEY "
                "(was the key changed without keeping the old one after a comma?)"
            ) from None


@lru_cache(maxsize=8)
def _cipher_for_keys(keys: tuple[str, ...]) -> SecretCipher:
    return SecretCipher(keys)


def cipher_for(settings: Settings) -> SecretCipher:
    """One cipher per key set: the KDF runs once, not on every request."""
    return _cipher_for_keys(tuple(settings.api_key_encryption_keys))
