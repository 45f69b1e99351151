from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from litestar.testing import AsyncTestClient

from tests.htmlcheck import check_html

CHECKED_PAGES: list[str] = []


async def _check_html_response(response) -> None:
    """Every HTML page or fragment the app renders passes the HTML check."""
    if "text/html" not in response.headers.get("content-type", "") or response.request.method == "HEAD":
        return
    await response.aread()
    fragment = response.request.headers.get("HX-Request") == "true" and not response.text.lstrip().startswith(
        "<!doctype"
    )
    check_html(response.text, fragment=fragment)
    CHECKED_PAGES.append(f"{response.request.method} {response.request.url.path}")


@pytest.fixture(scope="session")
async def app(database):
    from portal.app import create_app

    return create_app(database)


@asynccontextmanager
async def checked_client(app):
    """A browser of its own (cookies apart) on ``app``: redirects not followed, and every HTML
    response HTML-checked. Tests that need a second person use it rather than a bare client."""
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        client.follow_redirects = False
        client.event_hooks["response"].append(_check_html_response)
        yield client


@asynccontextmanager
async def client_of(settings):
    """A checked client of a fresh app made with ``settings`` (production, a broken database, a
    small rate limit...). Making an app binds the tables to its engine: the shared binding is
    put back afterwards."""
    from portal.app import create_app
    from portal.models.db import bind, current_engine

    engine = current_engine()
    try:
        async with checked_client(create_app(settings)) as client:
            yield client
    finally:
        bind(engine)


@pytest.fixture
async def client(app):
    async with checked_client(app) as client:
        yield client


@pytest.fixture
async def concurrent_client(app):
    """An httpx client that calls the app in this event loop, so requests really overlap
    (Litestar's test client runs each request to completion on another thread, one at a time)."""
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        client.event_hooks["response"].append(_check_html_response)
        yield client


async def csrf_headers(client: AsyncTestClient, path: str | None = None) -> dict[str, str]:
    """GET a page (the Getting Ready page unless told) to receive the CSRF cookie; return the
    header htmx would send."""
    from tests.support import url

    await client.get(path or url(client, "home:getting-ready"))
    return {"x-csrftoken": client.cookies["csrftoken"]}


@pytest.fixture(scope="session")
def smtp(database):
    from tests.support import Mailbox

    mailbox = Mailbox(database)
    yield mailbox
    mailbox.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_root):
    """A real Redis server of the tests' own (Debian's redis-server, which `make test` installs),
    on a free port, keeping nothing on disk."""
    from tests.support import free_port, start_redis

    port = free_port()
    proc = start_redis(port, tmp_root)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)
