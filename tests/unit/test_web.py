"""Page or fragment (portal/web.py): a fragment only for an htmx request that is neither
boosted nor a history restore; both answers vary on HX-Request."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime, timedelta

import pytest
from jinja2 import DictLoader, Environment
from litestar import Request, get
from litestar.plugins.htmx import ClientRedirect, HTMXPlugin, HTMXRequest, HTMXTemplate
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template import TemplateConfig
from litestar.testing import RequestFactory, create_test_client

from portal import web
from portal.web import redirect, render, seconds_until, wants_fragment

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HTMX = {"HX-Request": "true"}


def request(headers: dict[str, str] | None = None) -> HTMXRequest:
    """A GET request as the portal sees it (htmx details attached), with ``headers``."""
    return web.PortalRequest(RequestFactory().get("/registration/contact", headers=headers or {}).scope)


def test_a_request_goes_with_its_last_reference_not_with_the_garbage_collector():
    """No reference cycle between the request and its htmx details (litestar-htmx's own
    request has one): what the request holds is freed when it ends."""
    gc.disable()
    try:
        r = request(HTMX)
        assert r.htmx and wants_fragment(r)
        gone = weakref.ref(r)
        del r
        assert gone() is None
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, False),  # a plain request: the page
        (HTMX, True),  # htmx swapping part of the page: the fragment
        ({"hx-request": "true"}, True),
        ({"HX-Request": "false"}, False),
        ({**HTMX, "HX-Boosted": "true"}, False),  # a boosted link or form replaces the whole body
        ({**HTMX, "HX-Boosted": "false"}, True),
        ({**HTMX, "HX-History-Restore-Request": "true"}, False),  # back button after a cache miss
        ({**HTMX, "HX-History-Restore-Request": "false"}, True),
        ({"HX-Boosted": "true"}, False),
        ({"HX-History-Restore-Request": "true"}, False),
        ({**HTMX, "HX-Target": "main", "HX-Trigger": "role"}, True),
    ],
)
def test_page_or_fragment(headers, fragment):
    assert wants_fragment(request(headers)) is fragment


def test_a_request_without_htmx_details_gets_the_page():
    plain = RequestFactory().get("/", headers=HTMX)
    assert type(plain) is Request
    assert wants_fragment(plain) is False


@pytest.mark.parametrize(
    "headers", [{}, {**HTMX, "HX-Boosted": "true"}, {**HTMX, "HX-History-Restore-Request": "true"}]
)
def test_the_page_is_rendered_for_anything_but_a_fragment_request(headers):
    response = render(request(headers), "page.html", {"title": "Contact"}, fragment="_form.html", status_code=422)
    assert type(response) is Template
    assert response.template_name == "page.html"
    assert response.context == {"title": "Contact", "swapped": False, "signed_in": None}  # signed out
    assert response.status_code == 422
    assert response.headers == {"Vary": "HX-Request"}


def test_the_fragment_is_rendered_for_a_fragment_request():
    response = render(request(HTMX), "page.html", {"title": "Contact"}, fragment="_form.html", status_code=422)
    assert isinstance(response, HTMXTemplate)
    assert response.template_name == "_form.html"
    assert response.context == {"title": "Contact", "swapped": True}
    assert response.status_code == 422
    assert response.headers == {"Vary": "HX-Request", "HX-Push-Url": "false"}  # the address stays


def test_a_fragment_may_push_a_new_address():
    response = render(request(HTMX), "page.html", fragment="_form.html", push_url="/registration/questions")
    assert response.headers == {"Vary": "HX-Request", "HX-Push-Url": "/registration/questions"}
    assert response.status_code == 200


def test_the_page_never_pushes_an_address():
    response = render(request(), "page.html", fragment="_form.html", push_url="/registration/questions")
    assert response.headers == {"Vary": "HX-Request"}


def test_without_a_fragment_even_an_htmx_request_gets_the_page():
    response = render(request(HTMX), "page.html")
    assert type(response) is Template
    assert (response.template_name, response.context, response.status_code) == (
        "page.html",
        {"swapped": False, "signed_in": None},
        200,
    )


def test_a_page_keeps_a_swapped_flag_it_was_given():
    assert render(request(), "page.html", {"swapped": True}).context == {"swapped": True, "signed_in": None}


def test_a_page_is_told_who_is_signed_in():
    signed_in = request()
    signed_in.state.signed_in = "the session"  # what the session middleware leaves on the request
    assert render(signed_in, "page.html").context == {"swapped": False, "signed_in": "the session"}
    # a context that names it already keeps its own
    assert render(signed_in, "page.html", {"signed_in": None}).context == {"swapped": False, "signed_in": None}


def test_one_answer_does_not_leak_headers_into_the_next():
    render(request(HTMX), "page.html", fragment="_form.html", push_url="/elsewhere")
    assert web.VARY == {"Vary": "HX-Request"}
    assert render(request(), "page.html", fragment="_form.html").headers == {"Vary": "HX-Request"}


TEMPLATES = {
    "page.html": "<main>{% include '_form.html' %}</main>",
    "_form.html": "<form>{{ title }} swapped={{ swapped }}</form>",
}


@get("/step", request_class=HTMXRequest)
async def step(request: HTMXRequest) -> Template:
    return render(request, "page.html", {"title": "Contact"}, fragment="_form.html", status_code=422, push_url="/next")


@pytest.mark.parametrize(
    ("headers", "body", "push"),
    [
        ({}, "<main><form>Contact swapped=False</form></main>", None),
        (HTMX, "<form>Contact swapped=True</form>", "/next"),
        ({**HTMX, "HX-Boosted": "true"}, "<main><form>Contact swapped=False</form></main>", None),
    ],
)
def test_what_the_browser_receives(headers, body, push):
    engine = JinjaTemplateEngine.from_environment(Environment(loader=DictLoader(TEMPLATES), autoescape=True))
    config = TemplateConfig(instance=engine)
    with create_test_client([step], template_config=config, plugins=[HTMXPlugin()]) as client:
        response = client.get("/step", headers=headers)
    assert response.status_code == 422
    assert response.text == body
    assert response.headers["vary"] == "HX-Request"
    assert response.headers.get("hx-push-url") == push


def test_after_a_plain_form_the_browser_is_sent_on_with_see_other():
    response = redirect(request(), "/registration/verify")
    assert type(response) is Redirect
    assert (response.url, response.status_code) == ("/registration/verify", 303)


def test_after_an_htmx_form_htmx_is_told_where_to_go():
    response = redirect(request(HTMX), "/registration/verify")
    assert isinstance(response, ClientRedirect)
    assert response.headers["HX-Redirect"] == "/registration/verify"


def test_after_a_boosted_form_the_browser_is_sent_on_with_see_other():
    response = redirect(request({**HTMX, "HX-Boosted": "true"}), "/registration/verify")
    assert (type(response), response.status_code) == (Redirect, 303)


@pytest.mark.parametrize(
    ("moment", "seconds"),
    [
        (AT + timedelta(minutes=30), 1800),
        (AT + timedelta(seconds=59, microseconds=999_999), 59),  # whole seconds, rounded down
        (AT, 0),
        (AT - timedelta(minutes=5), 0),  # once past: 0, never negative
    ],
)
def test_seconds_until(monkeypatch, moment, seconds):
    monkeypatch.setattr(web, "now", lambda: AT)
    assert seconds_until(moment) == seconds


def test_the_brotli_compressor_is_let_go_once_the_body_is_written():
    """Its native buffers must not wait for the request to be freed (portal.app.ReleasingBrotli)."""
    from io import BytesIO

    import brotli

    from portal.app import ReleasingBrotli, compression

    config = compression()
    assert config.compression_facade is ReleasingBrotli
    buffer = BytesIO()
    facade = ReleasingBrotli(buffer=buffer, compression_encoding="br", config=config)
    facade.write(b"<p>Registration</p>" * 100)
    facade.close()
    facade.close()  # a disconnect after the body: nothing left to close
    assert not hasattr(facade, "compressor")
    assert brotli.decompress(buffer.getvalue()) == b"<p>Registration</p>" * 100
