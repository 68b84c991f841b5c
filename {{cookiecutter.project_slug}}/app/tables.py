"""Every table, imported here so that `Base.metadata` knows them all."""

from app.accounts.models import OAuthAccount, OAuthState, User
from app.notifications.models import Notification, SuppressedRecipient
from app.signed_api.models import ApiKey, ApiWhitelist, SignatureNonce

__all__ = [
    "ApiKey",
    "ApiWhitelist",
    "Notification",
    "OAuthAccount",
    "OAuthState",
    "SignatureNonce",
    "SuppressedRecipient",
    "User",
]
