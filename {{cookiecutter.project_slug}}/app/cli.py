"""Send a notification through the signed API from a shell.

    export API_BASE_URL=http://127.0.0.1:8000 API_ACCESS_KEY=... API_SECRET_KEY=...
    python -m app.cli send --channel email --to a@example.com --subject Hi --text "Hello"

Prints the service's JSON answer. On failure it prints the error's code and message to
stderr and exits with 1 (2 for a usage or configuration mistake).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import httpx

from app.client.signing import SignedAuth

NOTIFICATIONS_PATH = "/api/v1/notifications"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
ACCESS_KEY_VARIABLE = "API_ACCESS_KEY"
SECRET_KEY_VARIABLE = "API_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
BASE_URL_VARIABLE = "API_BASE_URL"
TIMEOUT_SECONDS = 30.0

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, e.g. '{\"order\": 42}'")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.cli",
        description=(
            f"Call the signed API with the key in {ACCESS_KEY_VARIABLE} / "
            f"{SECRET_KEY_VARIABLE}, at {BASE_URL_VARIABLE} (default {DEFAULT_BASE_URL})."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="send a notification (POST /api/v1/notifications)")
    send.add_argument("--channel", required=True, help='a channel of the service, e.g. "email"')
    send.add_argument(
        "--to", required=True, action="append", help="a recipient; repeat for several"
    )
    send.add_argument("--subject", help="the subject line")
    send.add_argument("--text", required=True, help="the plain-text body")
    send.add_argument("--html", help="an HTML body, for channels that show one")
    send.add_argument("--metadata", type=_json_object, help="a JSON object kept with it")
    send.add_argument("--idempotency-key", help="the same key again returns the first notification")
    return parser


def notification_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": args.channel, "to": args.to, "text": args.text}
    for name in ("subject", "html", "metadata"):
        value = getattr(args, name)
        if value is not None:
            body[name] = value
    return body


def describe_failure(response: httpx.Response) -> str:
    try:
        error = response.json()
    except ValueError:
        error = None
    if isinstance(error, dict) and "code" in error:
        return f"{response.status_code} {error['code']}: {error.get('message', '')}".rstrip()
    text = " ".join(response.text.split())[:300]
    return f"{response.status_code} {response.reason_phrase}: {text}".rstrip(": ")


async def send(
    args: argparse.Namespace,
    *,
    base_url: str,
    auth: SignedAuth,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.Response:
    headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
    async with httpx.AsyncClient(
        base_url=base_url, auth=auth, transport=transport, timeout=TIMEOUT_SECONDS
    ) as client:
        return await client.post(
            NOTIFICATIONS_PATH.lstrip("/"), json=notification_body(args), headers=headers
        )


async def run(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """The command, as a coroutine (tests run it against an app in process)."""
    environ = os.environ if environ is None else environ
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    args = build_parser().parse_args(argv)

    access_key = environ.get(ACCESS_KEY_VARIABLE, "").strip()
    secret_key = environ.get(SECRET_KEY_VARIABLE, "").strip()
    missing = [
        name
        for name, value in ((ACCESS_KEY_VARIABLE, access_key), (SECRET_KEY_VARIABLE, secret_key))
        if not value
    ]
    if missing:
        print(f"error: set {' and '.join(missing)} (from creating an API key)", file=err)
        return EXIT_USAGE
    # A trailing slash makes the base URL's own path (if any) a prefix of the API path.
    base_url = environ.get(BASE_URL_VARIABLE, "").strip() or DEFAULT_BASE_URL
    base_url = base_url.rstrip("/") + "/"

    auth = SignedAuth(access_key, secret_key)
    try:
        response = await send(args, base_url=base_url, auth=auth, transport=transport)
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {base_url}: {type(exc).__name__}: {exc}", file=err)
        return EXIT_FAILED
    if response.is_success:
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        print(json.dumps(answer, indent=2, ensure_ascii=False), file=out)
        return EXIT_OK
    print(f"error: {describe_failure(response)}", file=err)
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(argv))


if __name__ == "__main__":
    sys.exit(main())
