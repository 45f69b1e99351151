from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from tests.htmlcheck import check_html

CHECKED_PAGES: list[str] = []


async def _check_html_response(response) -> None:
    """Every HTML page or fragment the app renders passes the HTML check."""
    if "text/html" not in response.headers.get("content-type", ""):
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


@pytest.fixture
async def client(app):
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        client.event_hooks["response"].append(_check_html_response)
        yield client


async def csrf_headers(client: AsyncTestClient, path: str = "/") -> dict[str, str]:
    """GET a page to receive the CSRF cookie; return the header htmx would send."""
    await client.get(path)
    return {"x-csrftoken": client.cookies["csrftoken"]}
