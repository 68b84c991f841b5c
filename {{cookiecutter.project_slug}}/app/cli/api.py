"""`send`, `status`, `list`: the signed API of a running service, from a shell.

    export API_BASE_URL=http://127.0.0.1:8000 API_ACCESS_KEY=... API_SECRET_KEY=...
    python -m app.cli send --channel email --to a@example.com --subject Hi --text "Hello"

Each prints the service's JSON answer; a refusal prints its code and message on stderr.
"""

from __future__ import annotations

import json
from typing import Any

import click
import httpx

from app.cli.terminal import EXIT_OK, EXIT_USAGE, Job, Terminal, pass_terminal
from app.client.signing import SignedAuth
from app.notifications.models import NotificationStatus

NOTIFICATIONS_PATH = "api/v1/notifications"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
ACCESS_KEY_VARIABLE = "API_ACCESS_KEY"
SECRET_KEY_VARIABLE = "API_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
BASE_URL_VARIABLE = "API_BASE_URL"
TIMEOUT_SECONDS = 30.0
KEY_HELP = (
    f"Signs with the API key in {ACCESS_KEY_VARIABLE} / {SECRET_KEY_VARIABLE}, calling "
    f"{BASE_URL_VARIABLE} (default {DEFAULT_BASE_URL})."
)


def json_object(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """The option's value read as a JSON object (click's callback)."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object, e.g. '{\"order\": 42}'")
    return parsed


def describe_failure(response: httpx.Response) -> str:
    try:
        error = response.json()
    except ValueError:
        error = None
    if isinstance(error, dict) and "code" in error:
        return f"{response.status_code} {error['code']}: {error.get('message', '')}".rstrip()
    text = " ".join(response.text.split())[:300]
    return f"{response.status_code} {response.reason_phrase}: {text}".rstrip(": ")


async def call_api(
    terminal: Terminal,
    method: str,
    path: str,
    *,
    json_body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    """One signed request; its JSON answer on stdout, or the refusal on stderr."""
    environ = terminal.environ
    access_key = environ.get(ACCESS_KEY_VARIABLE, "").strip()
    secret_key = environ.get(SECRET_KEY_VARIABLE, "").strip()
    missing = [
        name
        for name, value in ((ACCESS_KEY_VARIABLE, access_key), (SECRET_KEY_VARIABLE, secret_key))
        if not value
    ]
    if missing:
        return terminal.fail(f"set {' and '.join(missing)} (from creating an API key)", EXIT_USAGE)
    # A trailing slash makes the base URL's own path (if any) a prefix of the API path.
    base_url = environ.get(BASE_URL_VARIABLE, "").strip() or DEFAULT_BASE_URL
    base_url = base_url.rstrip("/") + "/"
    try:
        async with httpx.AsyncClient(
            base_url=base_url,
            auth=SignedAuth(access_key, secret_key),
            transport=terminal.transport,
            timeout=TIMEOUT_SECONDS,
        ) as client:
            response = await client.request(
                method, path, json=json_body, params=params, headers=headers
            )
    except httpx.HTTPError as exc:
        return terminal.fail(f"cannot reach {base_url}: {type(exc).__name__}: {exc}")
    if not response.is_success:
        return terminal.fail(describe_failure(response))
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text
    terminal.print_json(answer)
    return EXIT_OK


@click.command(epilog=KEY_HELP)
@click.option("--channel", required=True, help='A channel of the service, e.g. "email".')
@click.option(
    "--to", "recipients", required=True, multiple=True, help="A recipient; repeat for several."
)
@click.option("--subject", help="The subject line.")
@click.option("--text", required=True, help="The plain-text body.")
@click.option("--html", help="An HTML body, for channels that show one.")
@click.option(
    "--metadata", metavar="JSON", callback=json_object, help="A JSON object kept with it."
)
@click.option(
    "--idempotency-key", help="The same key again returns the first notification instead."
)
@pass_terminal
def send(
    terminal: Terminal,
    channel: str,
    recipients: tuple[str, ...],
    subject: str | None,
    text: str,
    html: str | None,
    metadata: dict[str, Any] | None,
    idempotency_key: str | None,
) -> Job:
    """Send a notification (POST /api/v1/notifications)."""
    body: dict[str, Any] = {"channel": channel, "to": list(recipients), "text": text}
    optional = {"subject": subject, "html": html, "metadata": metadata}
    body.update({name: value for name, value in optional.items() if value is not None})
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    return call_api(terminal, "POST", NOTIFICATIONS_PATH, json_body=body, headers=headers)


@click.command(epilog=KEY_HELP)
@click.argument("notification_id", metavar="ID", type=click.IntRange(min=1))
@pass_terminal
def status(terminal: Terminal, notification_id: int) -> Job:
    """Show one notification and how its delivery went."""
    return call_api(terminal, "GET", f"{NOTIFICATIONS_PATH}/{notification_id}")


@click.command("list", epilog=KEY_HELP)
@click.option(
    "--status",
    "wanted_status",
    type=click.Choice([item.value for item in NotificationStatus]),
    help="Only notifications in this state.",
)
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--size", type=click.IntRange(1, 100), default=20, show_default=True)
@pass_terminal
def list_notifications(terminal: Terminal, wanted_status: str | None, page: int, size: int) -> Job:
    """List your notifications, newest first."""
    params: dict[str, Any] = {"page": page, "size": size}
    if wanted_status is not None:
        params["status"] = wanted_status
    return call_api(terminal, "GET", NOTIFICATIONS_PATH, params=params)
