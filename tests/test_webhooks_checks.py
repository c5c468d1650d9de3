"""SignatureCheck, the ready check, on real loopback servers: the aiohttp middleware and
decorator, the Starlette dependency's body limits, its configuration and its secrets."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import pytest
from aiohttp import web
from fastapi import Depends, FastAPI

from tests.web_support import base_url_of, served
from twilio_conf_insights.webhooks import (
    SIGNATURE_HEADER,
    SignatureCheck,
    VerifiedRequest,
    compute_signature,
)

TOKEN = "ready-check-token-0123456789abcd"
#: FastAPI resolves annotations in the module's namespace: the dependency lives here.
SMALL_BODIES = SignatureCheck(auth_token=TOKEN, max_body_bytes=1000)
Hook = Annotated[VerifiedRequest, Depends(SMALL_BODIES.starlette)]


async def echo_form(hook: Hook) -> dict[str, str]:
    """A FastAPI endpoint answering the verified form parameters."""
    return dict(hook.params)


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def test_the_aiohttp_middleware_guards_every_route() -> None:
    """With the middleware, any route answers 403 unless the request is signed (GET too)."""
    check = SignatureCheck(auth_token=TOKEN)
    app = web.Application(middlewares=[check.aiohttp_middleware])
    app.router.add_get("/status", ok)
    async with served(app) as session:
        async with session.get("/status?x=1") as response:
            assert response.status == 403
        url = base_url_of(session) + "/status?x=1"
        headers = {SIGNATURE_HEADER: compute_signature(url, key=TOKEN)}
        async with session.get("/status?x=1", headers=headers) as response:
            assert response.status == 200
    assert check.rejected == 1


async def test_the_aiohttp_decorator_refuses_an_oversized_body_before_reading_it() -> None:
    """A body over max_body_bytes is answered 413 and never checked or handled."""
    check = SignatureCheck(auth_token=TOKEN, max_body_bytes=1000)
    app = web.Application()
    app.router.add_post("/cb", check.aiohttp(ok))
    async with served(app) as session, session.post("/cb", data=b"x" * 1001) as response:
        assert response.status == 413


async def test_the_starlette_dependency_limits_bodies_and_returns_the_form() -> None:
    """413 over the limit, 411 without Content-Length, else the verified form parameters."""
    app = FastAPI()
    app.post("/cb")(echo_form)

    async def chunks() -> object:
        yield b"a=1"

    async with served(app) as session:
        async with session.post("/cb", data=b"x" * 1001) as response:
            assert response.status == 413
        async with session.post("/cb", data=chunks()) as response:
            assert response.status == 411
        form = {"CallSid": "CA1", "Empty": ""}
        url = base_url_of(session) + "/cb"
        headers = {SIGNATURE_HEADER: compute_signature(url, key=TOKEN, params=form)}
        async with session.post("/cb", data=form, headers=headers) as response:
            assert response.status == 200
            assert await response.json() == form


def test_keys_never_show_in_a_repr() -> None:
    """The auth token and SharedKey secrets stay out of the check's repr."""
    check = SignatureCheck(auth_token=TOKEN, shared_keys={"webhooks_sharedkey_1": "s3cret"})
    assert TOKEN not in repr(check)
    assert "s3cret" not in repr(check)


@pytest.mark.parametrize(
    "public_url",
    ["hooks.example.com", "ftp://hooks.example.com", "https://h.example.com/?a=1", "https:///x"],
)
def test_a_public_url_must_be_an_absolute_http_url_without_query(public_url: str) -> None:
    """A public URL that cannot be where Twilio calls is refused when the check is made."""
    with pytest.raises(ValueError, match="public_url"):
        SignatureCheck(auth_token=TOKEN, public_url=public_url)


def test_a_check_needs_a_key() -> None:
    """Neither an auth token nor shared keys: a configuration error, not an open door."""
    with pytest.raises(ValueError, match="auth_token"):
        SignatureCheck(auth_token=None)


def test_the_package_does_not_import_starlette_or_fastapi() -> None:
    """Importing the webhooks and eventstreams modules pulls in neither framework."""
    code = (
        "import sys, twilio_conf_insights.webhooks, twilio_conf_insights.eventstreams;"
        "print(sorted(m for m in ('starlette', 'fastapi') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
