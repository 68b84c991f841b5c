"""A mail catcher that answers like Mailpit, for a machine that cannot pull Mailpit's image.

SMTP on :1025 keeps every message in memory; HTTP on :8025 serves GET /api/v1/messages,
GET /api/v1/message/<ID>, DELETE /api/v1/messages and GET /livez with Mailpit's field names.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

LOCK = threading.Lock()
MESSAGES: list[dict[str, Any]] = []


def _addresses(values: list[str]) -> list[dict[str, str]]:
    return [{"Name": name, "Address": address} for name, address in getaddresses(values)]


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""


class Handler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        entry = {
            "ID": uuid.uuid4().hex,
            "MessageID": str(message.get("Message-ID", "")),
            "From": (_addresses([str(message.get("From", ""))]) or [{}])[0],
            "To": _addresses([str(value) for value in message.get_all("To", [])]),
            "Subject": str(message.get("Subject", "")),
            "Created": datetime.now(UTC).isoformat(),
            "Text": _body(message, "plain"),
            "HTML": _body(message, "html"),
            "Envelope": {"From": envelope.mail_from, "To": list(envelope.rcpt_tos)},
        }
        with LOCK:
            MESSAGES.insert(0, entry)  # newest first, as Mailpit lists them
        return "250 Message accepted"


SUMMARY_FIELDS = ("ID", "MessageID", "From", "To", "Subject", "Created")


class Api(BaseHTTPRequestHandler):
    def _send(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with LOCK:
            messages = list(MESSAGES)
        if path in ("/livez", "/readyz"):
            self._send(200, "ok")
        elif path == "/api/v1/messages":
            summaries = [{key: entry[key] for key in SUMMARY_FIELDS} for entry in messages]
            self._send(200, {"total": len(messages), "count": len(messages), "messages": summaries})
        elif path.startswith("/api/v1/message/"):
            wanted = path.rsplit("/", 1)[1]
            found = [entry for entry in messages if entry["ID"] == wanted]
            self._send(200, found[0]) if found else self._send(404, "not found")
        else:
            self._send(404, "not found")

    def do_DELETE(self) -> None:
        if self.path.split("?", 1)[0] == "/api/v1/messages":
            with LOCK:
                MESSAGES.clear()
            self._send(200, "ok")
        else:
            self._send(404, "not found")

    def log_message(self, format: str, *args: object) -> None:
        pass  # the SMTP side is what matters; keep the log quiet


def main() -> None:
    # Every address of its own container: the stack's other services reach it by name.
    controller = Controller(Handler(), hostname="0.0.0.0", port=1025)  # noqa: S104  # nosec B104
    controller.start()
    print("mail catcher: SMTP on :1025, HTTP on :8025", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8025), Api).serve_forever()  # noqa: S104  # nosec B104


if __name__ == "__main__":
    main()
