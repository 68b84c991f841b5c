"""`docker compose up`, for real: each lane bakes the template, builds its image, starts the
stack and uses the service through it the way a new user would.

Run by `make test-docker` only (the file name keeps it out of `make test`). Each lane:
build → `up --wait` (every service healthy or done) → the API runs as non-root, ports only
on 127.0.0.1, one network → migrations at head through the `migrate` service → mail goes to
the catcher until a mail server is configured → register,
verify the email from the mail catcher, log in, create an API key, send a signed notification
→ `delivered` and in the catcher → `down` and `up` again: the data is still there → `down -v`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
import pytest

from tests.bakes import TEMPLATE_DIR
from tests.docker.stack import Stack, engine_problem, provide_images, run
from tests.lanes import lanes_required

T = TypeVar("T")


@dataclass(frozen=True)
class DockerLane:
    id: str
    answers: dict[str, str]


LANES = (
    DockerLane("sqlite-inprocess", {"database": "sqlite", "task_broker": "inprocess"}),
    DockerLane("mysql-redis", {"database": "mysql", "task_broker": "redis"}),
    DockerLane("postgresql-rabbitmq", {"database": "postgresql", "task_broker": "rabbitmq"}),
    # The python_version answer picks the image's Python; the newest one, on the smallest stack.
    DockerLane("sqlite-python-3.13", {"database": "sqlite", "python_version": "3.13"}),
)
SELECTED = [lane for lane in LANES if lane.id in os.environ.get("DOCKER_LANES", lane.id).split()]


@pytest.fixture(scope="session")
def engine() -> None:
    problem = engine_problem()
    if problem is None:
        return
    if lanes_required():
        pytest.fail(f"docker lanes cannot run: {problem}")
    pytest.skip(problem)


def bake(lane: DockerLane, root: Path) -> Path:
    from cookiecutter.main import cookiecutter  # type: ignore[import-untyped]

    config = root / "cookiecutter.yaml"
    config.write_text(f"cookiecutters_dir: {root / 'cc'}\nreplay_dir: {root / 'replay'}\n")
    # The lane's own image name and compose project (a slug has no dots).
    answers = {"project_name": f"Stack {lane.id.replace('.', '')}", **lane.answers}
    # The post-generation hook locks the dependencies with uv (the Makefile puts it on PATH).
    project = cookiecutter(
        str(TEMPLATE_DIR),
        no_input=True,
        extra_context=answers,
        output_dir=str(root),
        config_file=str(config),
    )
    path = Path(project)
    assert (path / "uv.lock").is_file(), "the bake has no uv.lock; its Dockerfile needs one"
    return path


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90) -> T:
    """Poll until probe() gives a value; fail with `what` when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.5)


def signed_headers(
    key: dict[str, str], method: str, path: str, body: bytes = b""
) -> dict[str, str]:
    """The signature headers of CONTRACT.md (no query string in these requests)."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_urlsafe(24)
    canonical = "\n".join([method, path, "", timestamp, nonce, hashlib.sha256(body).hexdigest()])
    digest = hmac.new(key["secret_key"].encode(), canonical.encode(), hashlib.sha256).digest()
    return {
        "X-Api-Key": key["access_key"],
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": base64.b64encode(digest).decode(),
    }


class Client:
    """The service and its mail catcher, reached on the ports the stack published."""

    def __init__(self, stack: Stack) -> None:
        self.api = httpx.Client(base_url=stack.base_url, timeout=30)
        self.mail = httpx.Client(base_url=stack.mail_url, timeout=10)

    def close(self) -> None:
        self.api.close()
        self.mail.close()

    def mail_to(self, address: str, subject_part: str) -> dict[str, Any] | None:
        listed = self.mail.get("/api/v1/messages").json()["messages"]
        for summary in listed:
            recipients = [item["Address"] for item in summary["To"]]
            if address in recipients and subject_part in summary["Subject"]:
                return self.mail.get(f"/api/v1/message/{summary['ID']}").json()  # type: ignore[no-any-return]
        return None

    def register_and_verify(self, email: str, password: str) -> None:
        created = self.api.post(
            "/api/v1/auth/register", json={"email": email, "password": password}
        )
        assert created.status_code == 201, created.text
        mail = wait_for(
            "the verification mail in the mail catcher",
            lambda: self.mail_to(email, "Confirm your email address"),
        )
        link = re.search(r"[?&]token=([^\s&]+)", mail["Text"])
        assert link, mail["Text"]
        verified = self.api.post("/api/v1/auth/verify", json={"token": unquote(link[1])})
        assert verified.status_code == 200, verified.text
        assert verified.json()["is_verified"] is True

    def login(self, email: str, password: str) -> dict[str, str]:
        answer = self.api.post(
            "/api/v1/auth/jwt/login", data={"username": email, "password": password}
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def signed(
        self, key: dict[str, str], method: str, path: str, payload: Any = None
    ) -> httpx.Response:
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = signed_headers(key, method, path, body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        return self.api.request(method, path, content=body, headers=headers)

    def notify_and_see_delivered(self, key: dict[str, str], to: str, subject: str) -> str:
        message = {
            "channel": "email",
            "to": [to],
            "subject": subject,
            "text": "sent through docker",
        }
        accepted = self.signed(key, "POST", "/api/v1/notifications", message)
        assert accepted.status_code == 202, accepted.text
        notification_id = str(accepted.json()["id"])

        def delivered() -> dict[str, Any] | None:
            status = self.signed(key, "GET", f"/api/v1/notifications/{notification_id}")
            assert status.status_code == 200, status.text
            body: dict[str, Any] = status.json()
            assert body["status"] != "failed", body
            return body if body["status"] == "delivered" else None

        wait_for(f"notification {notification_id} to be delivered", delivered)
        mail = wait_for("the notification in the mail catcher", lambda: self.mail_to(to, subject))
        assert "sent through docker" in mail["Text"]
        return notification_id


@pytest.fixture
def stack(lane: DockerLane, engine: None, tmp_path: Path) -> Iterator[Stack]:
    project = bake(lane, tmp_path)
    stack = Stack(project, name=f"plugkit-{lane.id.replace('.', '')}-{os.getpid()}")
    print(f"[{lane.id}] images: " + "; ".join(provide_images(stack.images())))
    try:
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=300)
        run("docker", "image", "rm", "--force", stack.app_image(), timeout=120)


def check_services(stack: Stack, lane: DockerLane) -> None:
    containers = stack.containers()
    for name in ("api", "worker"):
        if name not in containers:
            continue
        state = containers[name]["State"]
        assert state["Running"] and state["Health"]["Status"] == "healthy", (name, state)
        uid = stack.must("exec", "-T", name, "id", "-u").strip()
        assert uid != "0", f"{name} runs as root"
    migrate = containers["migrate"]["State"]
    assert (migrate["Status"], migrate["ExitCode"]) == ("exited", 0), migrate
    assert ("worker" in containers) == (lane.answers.get("task_broker", "inprocess") != "inprocess")
    networks = {name: set(item["NetworkSettings"]["Networks"]) for name, item in containers.items()}
    assert all(found == {f"{stack.name}_default"} for found in networks.values()), networks
    for name, item in containers.items():
        for bindings in (item["HostConfig"]["PortBindings"] or {}).values():
            assert all(binding["HostIp"] == "127.0.0.1" for binding in bindings), (name, bindings)


def check_mail_server_choice(stack: Stack) -> None:
    """Mail goes to the stack's catcher until .env names a server; then .env's settings hold."""
    show = ["sh", "-c", 'echo "$SMTP_HOST:$SMTP_PORT:$SMTP_SECURITY"']
    default = stack.must("run", "--rm", "--no-deps", "migrate", *show)
    assert default.splitlines()[-1] == "mailpit:1025:none", default
    own = ["-e", "SMTP_HOST=smtp.example.com", "-e", "SMTP_PORT=", "-e", "SMTP_SECURITY=ssl"]
    configured = stack.must("run", "--rm", "--no-deps", *own, "migrate", *show)
    assert configured.splitlines()[-1] == "smtp.example.com::ssl", configured


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("lane", SELECTED, ids=lambda lane: lane.id)
def test_stack_serves_users_and_keeps_their_data(stack: Stack, lane: DockerLane) -> None:
    stack.must("build", timeout=900)
    stack.must("up", "--wait", "--wait-timeout", "300", timeout=420)
    check_services(stack, lane)
    current = stack.must("run", "--rm", "--no-deps", "migrate", "alembic", "current")
    assert "(head)" in current, current
    check_mail_server_choice(stack)

    client = Client(stack)
    email, password = f"docker-{lane.id}@example.com", secrets.token_urlsafe(18)
    try:
        client.register_and_verify(email, password)
        auth = client.login(email, password)
        created = client.api.post(
            "/api/v1/users/me/api-keys", json={"memo": "docker"}, headers=auth
        )
        assert created.status_code == 201, created.text
        key = created.json()
        first = client.notify_and_see_delivered(key, "reader@example.com", f"First from {lane.id}")
    finally:
        client.close()

    # A full stop and start: containers are made anew, the named volumes carry the data.
    stack.must("down", "--timeout", "20")
    stack.must("up", "--wait", "--wait-timeout", "300", timeout=420)
    check_services(stack, lane)
    client = Client(stack)
    try:
        auth = client.login(email, password)
        keys = client.api.get("/api/v1/users/me/api-keys", headers=auth)
        assert [item["access_key"] for item in keys.json()] == [key["access_key"]], keys.text
        kept = client.signed(key, "GET", f"/api/v1/notifications/{first}")
        assert kept.status_code == 200 and kept.json()["status"] == "delivered", kept.text
        client.notify_and_see_delivered(key, "reader@example.com", f"Second from {lane.id}")
    finally:
        client.close()

    stack.must("down", "--volumes", "--timeout", "20")
    assert stack.volumes() == [], "down -v left volumes behind"
