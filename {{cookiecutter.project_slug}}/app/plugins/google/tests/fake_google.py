"""A local Google: consent page, token endpoint and the People API's `people/me`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from tests.fakes.base import FakeOAuthProvider, Grant, json_response

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
PROFILE_SCOPE = f"{SCOPE_PREFIX}userinfo.profile"
EMAIL_SCOPE = f"{SCOPE_PREFIX}userinfo.email"
BIRTHDAY_SCOPE = f"{SCOPE_PREFIX}user.birthday.read"
GENDER_SCOPE = f"{SCOPE_PREFIX}user.gender.read"
PHONE_SCOPE = f"{SCOPE_PREFIX}user.phonenumbers.read"


@dataclass(frozen=True)
class GoogleUser:
    account_id: str = "110248495921238986420"
    email: str = "jane.doe@gmail.com"
    email_verified: bool = True
    name: str = "Jane Doe"
    given_name: str = "Jane"
    family_name: str = "Doe"
    # None: the person never chose a photo, Google shows its letter avatar.
    photo_url: str | None = "https://lh3.googleusercontent.com/a/ACg8ocJaneDoe=s100"
    gender: str | None = "female"
    birth_year: int | None = 1990
    birth_month: int | None = 3
    birth_day: int | None = 14
    phone_value: str | None = "010-1234-5678"
    phone_canonical: str | None = "+821012345678"


def _source(user: GoogleUser, kind: str = "PROFILE") -> dict[str, Any]:
    return {"type": kind, "id": user.account_id}


def people_me(user: GoogleUser, scopes: frozenset[str], fields: set[str]) -> dict[str, Any]:
    """`people/me` as the People API answers it: only asked-for fields the token may see."""
    person: dict[str, Any] = {
        "resourceName": f"people/{user.account_id}",
        "etag": "%EgoBAj0DBgk+NxAFGgQBAgUHIgxIZjNJSWp1Y3BzUT0=",
    }
    primary = {"primary": True, "source": _source(user)}
    if "names" in fields and PROFILE_SCOPE in scopes:
        person["names"] = [
            {
                "metadata": {**primary, "sourcePrimary": True},
                "displayName": user.name,
                "familyName": user.family_name,
                "givenName": user.given_name,
                "displayNameLastFirst": f"{user.family_name}, {user.given_name}",
                "unstructuredName": user.name,
            }
        ]
    if "photos" in fields and PROFILE_SCOPE in scopes:
        photo: dict[str, Any] = {"metadata": primary}
        if user.photo_url is None:
            photo.update(url="https://lh3.googleusercontent.com/a/default-user=s100", default=True)
        else:
            photo["url"] = user.photo_url
        person["photos"] = [photo]
    if "emailAddresses" in fields and EMAIL_SCOPE in scopes:
        person["emailAddresses"] = [
            {
                "metadata": {
                    "primary": True,
                    "verified": user.email_verified,
                    "source": _source(user, "ACCOUNT"),
                    "sourcePrimary": True,
                },
                "value": user.email,
            }
        ]
    if "genders" in fields and GENDER_SCOPE in scopes and user.gender:
        person["genders"] = [
            {"metadata": primary, "value": user.gender, "formattedValue": user.gender.title()}
        ]
    if "birthdays" in fields and BIRTHDAY_SCOPE in scopes and user.birth_month:
        date: dict[str, int] = {"month": user.birth_month, "day": user.birth_day or 1}
        if user.birth_year:
            date = {"year": user.birth_year, **date}
        person["birthdays"] = [{"metadata": primary, "date": date}]
    if "phoneNumbers" in fields and PHONE_SCOPE in scopes and user.phone_value:
        phone: dict[str, Any] = {
            "metadata": {**primary, "verified": True},
            "value": user.phone_value,
            "type": "mobile",
            "formattedType": "Mobile",
        }
        if user.phone_canonical:
            phone["canonicalForm"] = user.phone_canonical
        person["phoneNumbers"] = [phone]
    return person


class FakeGoogle(FakeOAuthProvider):
    name = "google"
    display_name = "Google"
    authorize_path = "/o/oauth2/v2/auth"
    token_path = "/token"
    profile_path = "/v1/people/me"
    required_scopes = frozenset({PROFILE_SCOPE, EMAIL_SCOPE})

    def __init__(self) -> None:
        super().__init__(
            client_id="fake-client.apps.googleusercontent.com",
            client_secret="GOCSPX-fake-secret",
            user=GoogleUser(),
        )

    def scope_labels(self) -> Mapping[str, str]:
        return {
            PROFILE_SCOPE: "Your name and profile picture",
            EMAIL_SCOPE: "Your email address",
            BIRTHDAY_SCOPE: "Your birthday",
            GENDER_SCOPE: "Your gender",
            PHONE_SCOPE: "Your phone numbers",
        }

    def env(self) -> dict[str, str]:
        return {
            "GOOGLE_CLIENT_ID": self.client_id,
            "GOOGLE_CLIENT_SECRET": self.client_secret,
            "GOOGLE_AUTHORIZE_URL": f"{self.base_url}{self.authorize_path}",
            "GOOGLE_TOKEN_URL": f"{self.base_url}{self.token_path}",
            "GOOGLE_REVOKE_URL": f"{self.base_url}/revoke",
            "GOOGLE_PEOPLE_API_URL": f"{self.base_url}/v1",
            "GOOGLE_TIMEOUT_SECONDS": "2.5",
        }

    def token_body(self, access_token: str, grant: Grant) -> dict[str, Any]:
        return {
            "access_token": access_token,
            "expires_in": 3599,
            "scope": " ".join(sorted(grant.scopes)),
            "token_type": "Bearer",
        }

    def token_error(self, status: int, error: str, description: str) -> Response:
        return json_response({"error": error, "error_description": description}, status)

    def profile_error(self, status: int) -> Response:
        statuses = {
            401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
            403: ("PERMISSION_DENIED", "Request had insufficient authentication scopes."),
        }
        code, message = statuses.get(status, ("INTERNAL", "Internal error encountered."))
        return json_response(
            {"error": {"code": status, "message": message, "status": code}}, status
        )

    def profile_body(self, request: Request, grant: Grant) -> Response:
        fields = {f for f in request.query_params.get("personFields", "").split(",") if f}
        if not fields:
            body = {
                "error": {
                    "code": 400,
                    "message": "personFields mask is required. Please specify one or more "
                    "valid paths.",
                    "status": "INVALID_ARGUMENT",
                }
            }
            return json_response(body, 400)
        return json_response(people_me(grant.user, grant.scopes, fields))
