"""Every error answers in one shape: {code, message, detail, request_id} (CONTRACT.md "Errors")."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from pydantic import BaseModel

from app.core.errors import AppError, ConflictError, NotFoundError, ServiceUnavailableError
from app.core.logging import API_LOGGER

ERROR_FIELDS = {"code", "message", "detail", "request_id"}
CRASH_TEXT = "card number 4111-1111-1111-1111 leaked by a crash"


class Gadget(BaseModel):
    name: str
    size: int


probe_router = APIRouter(prefix="/probe")


@probe_router.post("/gadgets", status_code=201)
async def create_gadget(gadget: Gadget) -> Gadget:
    return gadget


@probe_router.get("/quota")
async def exceed_quota() -> None:
    raise AppError(
        "You have used all 10 requests of this hour.",
        code="QUOTA_EXCEEDED",
        status_code=429,
        detail={"limit": 10, "window": "1h"},
        headers={"Retry-After": "3600"},
    )


@probe_router.get("/missing")
async def missing_thing() -> None:
    raise NotFoundError("No gadget 7.", detail={"gadget_id": 7})


@probe_router.get("/taken")
async def taken_name() -> None:
    raise ConflictError("The name is taken.")


@probe_router.get("/upstream")
async def upstream_down() -> None:
    raise ServiceUnavailableError("The mail provider does not answer.")


@probe_router.post("/register")
async def register_again() -> None:
    raise HTTPException(status_code=400, detail="REGISTER_USER_ALREADY_EXISTS")


@probe_router.post("/register-weak")
async def register_weak_password() -> None:
    raise HTTPException(
        status_code=400,
        detail={"code": "REGISTER_INVALID_PASSWORD", "reason": "Password is too short"},
    )


@probe_router.get("/private")
async def not_yours() -> None:
    raise HTTPException(status_code=403, detail="This gadget belongs to someone else.")


@probe_router.get("/crash")
async def crash() -> None:
    raise RuntimeError(CRASH_TEXT)


@pytest.fixture(scope="module", autouse=True)
def probe_routes(lean_app: FastAPI) -> None:
    lean_app.include_router(probe_router)


def assert_error_shape(response: httpx.Response, status_code: int, code: str) -> dict[str, Any]:
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_FIELDS
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


async def test_unknown_path_is_404(lean_client: httpx.AsyncClient) -> None:
    response = await lean_client.get("/no/such/page")
    body = assert_error_shape(response, 404, "NOT_FOUND")
    assert body["detail"] == "Not Found"


async def test_wrong_method_is_405_and_names_the_allowed_ones(
    lean_client: httpx.AsyncClient,
) -> None:
    response = await lean_client.delete("/health")
    assert_error_shape(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["Allow"] == "GET"


async def test_invalid_body_is_422_with_fastapis_list_of_errors(
    lean_client: httpx.AsyncClient,
) -> None:
    response = await lean_client.post("/probe/gadgets", json={"name": "lamp", "size": "huge"})
    body = assert_error_shape(response, 422, "VALIDATION_ERROR")
    assert "body.size" in body["message"]
    assert isinstance(body["detail"], list)
    [error] = body["detail"]
    assert error["loc"] == ["body", "size"]
    assert error["type"] == "int_parsing"
    assert error["input"] == "huge"
    assert error["msg"]


async def test_missing_fields_are_all_listed(lean_client: httpx.AsyncClient) -> None:
    response = await lean_client.post("/probe/gadgets", json={})
    body = assert_error_shape(response, 422, "VALIDATION_ERROR")
    assert sorted(tuple(error["loc"]) for error in body["detail"]) == [
        ("body", "name"),
        ("body", "size"),
    ]


async def test_valid_body_passes(lean_client: httpx.AsyncClient) -> None:
    response = await lean_client.post("/probe/gadgets", json={"name": "lamp", "size": 3})
    assert response.status_code == 201
    assert response.json() == {"name": "lamp", "size": 3}


async def test_app_error_keeps_its_code_status_message_detail_and_headers(
    lean_client: httpx.AsyncClient,
) -> None:
    response = await lean_client.get("/probe/quota")
    body = assert_error_shape(response, 429, "QUOTA_EXCEEDED")
    assert body["message"] == "You have used all 10 requests of this hour."
    assert body["detail"] == {"limit": 10, "window": "1h"}
    assert response.headers["Retry-After"] == "3600"


@pytest.mark.parametrize(
    ("path", "status_code", "code", "detail"),
    [
        ("/probe/missing", 404, "NOT_FOUND", {"gadget_id": 7}),
        ("/probe/taken", 409, "CONFLICT", None),
        ("/probe/upstream", 503, "SERVICE_UNAVAILABLE", None),
    ],
)
async def test_app_error_subclasses_bring_their_status_and_code(
    lean_client: httpx.AsyncClient, path: str, status_code: int, code: str, detail: object
) -> None:
    body = assert_error_shape(await lean_client.get(path), status_code, code)
    assert body["detail"] == detail


async def test_http_exception_with_a_code_string_answers_with_that_code(
    lean_client: httpx.AsyncClient,
) -> None:
    response = await lean_client.post("/probe/register")
    body = assert_error_shape(response, 400, "REGISTER_USER_ALREADY_EXISTS")
    # fastapi-users' clients read `detail`: it stays what fastapi-users put there.
    assert body["detail"] == "REGISTER_USER_ALREADY_EXISTS"


async def test_http_exception_with_a_code_in_a_dict_answers_with_that_code(
    lean_client: httpx.AsyncClient,
) -> None:
    response = await lean_client.post("/probe/register-weak")
    body = assert_error_shape(response, 400, "REGISTER_INVALID_PASSWORD")
    assert body["detail"] == {
        "code": "REGISTER_INVALID_PASSWORD",
        "reason": "Password is too short",
    }


async def test_http_exception_with_a_sentence_keeps_it_as_the_message(
    lean_client: httpx.AsyncClient,
) -> None:
    response = await lean_client.get("/probe/private")
    body = assert_error_shape(response, 403, "FORBIDDEN")
    assert body["message"] == "This gadget belongs to someone else."


async def test_crash_answers_a_clean_500_and_logs_the_traceback(
    lean_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=API_LOGGER):
        response = await lean_client.get("/probe/crash")

    body = assert_error_shape(response, 500, "INTERNAL_ERROR")
    assert body["detail"] is None
    assert CRASH_TEXT not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text

    [crash_record] = [record for record in caplog.records if record.exc_info]
    assert crash_record.name == API_LOGGER
    assert crash_record.levelno == logging.ERROR
    assert "/probe/crash" in crash_record.getMessage()
    logged = caplog.text
    assert "Traceback (most recent call last)" in logged
    assert f"RuntimeError: {CRASH_TEXT}" in logged
    assert "in crash" in logged  # the frame of the route that raised


async def test_service_keeps_answering_after_a_crash(lean_client: httpx.AsyncClient) -> None:
    assert (await lean_client.get("/probe/crash")).status_code == 500
    assert (await lean_client.get("/health")).status_code == 200
