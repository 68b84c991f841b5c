"""Every table, imported here so that `Base.metadata` knows them all."""

from app.models.api_key import ApiKey
from app.models.api_whitelist import ApiWhitelist
from app.models.notification import Notification
from app.models.oauth_account import OAuthAccount
from app.models.oauth_state import OAuthState
from app.models.signature_nonce import SignatureNonce
from app.models.user import User

__all__ = [
    "ApiKey",
    "ApiWhitelist",
    "Notification",
    "OAuthAccount",
    "OAuthState",
    "SignatureNonce",
    "User",
]
