"""Every table, imported here so that `Base.metadata` knows them all."""

from app.models.oauth_account import OAuthAccount
from app.models.user import User

__all__ = ["OAuthAccount", "User"]
